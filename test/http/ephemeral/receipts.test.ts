// POST /rooms/{roomId}/receipt/{receiptType}/{eventId} and POST /rooms/{roomId}/read_markers
// over real HTTP, with the receipts stream as /sync will read it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import type { StreamChange } from '../../../src/services/notifier.js';
import { createRoom, enc, join, send } from './helpers.js';

describe.each(ENGINES)('receipts and read markers (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let roomId: string;
  let m1: string;
  let m2: string;
  let m3: string;
  const changes: StreamChange[] = [];
  const receiptPath = (type: string, eventId: string, room = roomId) => `/_matrix/client/v3/rooms/${enc(room)}/receipt/${enc(type)}/${enc(eventId)}`;
  const markersPath = (room = roomId) => `/_matrix/client/v3/rooms/${enc(room)}/read_markers`;
  const receiptsSeenBy = async (viewer: string, since = 0) => (await server.hs.receipts.receiptEvents(viewer, [roomId], since)).get(roomId)?.content ?? {};
  const fullyRead = (client: Client, userId: string, room = roomId) => client.get(`/_matrix/client/v3/user/${enc(userId)}/rooms/${enc(room)}/account_data/m.fully_read`);

  beforeAll(async () => {
    server = await startTestServer(engine);
    server.hs.notifier.subscribe((c) => { if (c.stream === 'receipts' || c.stream === 'account_data') changes.push(c); });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    await carol.register('carol');
    roomId = await createRoom(alice);
    await join(bob, roomId);
    m1 = await send(alice, roomId, { msgtype: 'm.text', body: 'one' });
    m2 = await send(alice, roomId, { msgtype: 'm.text', body: 'two' });
    m3 = await send(alice, roomId, { msgtype: 'm.text', body: 'three' });
  });
  afterAll(() => server.close());

  it('records an m.read receipt, visible to the room, as a new position notified for the room', async () => {
    const before = await server.hs.receipts.currentPosition();
    const r = await bob.post(receiptPath('m.read', m2), {});
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    const position = await server.hs.receipts.currentPosition();
    expect(position).toBeGreaterThan(before);
    expect(changes.at(-1)).toEqual({ stream: 'receipts', position, rooms: [roomId] });
    const seen = await receiptsSeenBy(aliceId);
    expect(Object.keys(seen)).toEqual([m2]);
    const receipt = seen[m2]['m.read'][bobId];
    expect(receipt).not.toHaveProperty('thread_id');
    expect(Math.abs(receipt.ts - Date.now())).toBeLessThan(10_000);
    // The stream answers "what changed after a position".
    expect(await server.hs.receipts.receiptEvents(aliceId, [roomId], position)).toEqual(new Map());
    expect([...(await server.hs.receipts.receiptEvents(aliceId, [roomId], before)).keys()]).toEqual([roomId]);
  });

  it('only moves forward: a receipt for an older event is accepted and ignored', async () => {
    const position = await server.hs.receipts.currentPosition();
    expect((await bob.post(receiptPath('m.read', m1), {})).status).toBe(200);
    expect((await bob.post(receiptPath('m.read', m2), {})).status).toBe(200); // the same event again
    expect(await server.hs.receipts.currentPosition()).toBe(position);
    expect(Object.keys(await receiptsSeenBy(aliceId))).toEqual([m2]);
    expect((await bob.post(receiptPath('m.read', m3), {})).status).toBe(200);
    expect(await server.hs.receipts.currentPosition()).toBeGreaterThan(position);
    expect(Object.keys(await receiptsSeenBy(aliceId))).toEqual([m3]);
  });

  it('shows m.read.private only to its owner', async () => {
    const position = await server.hs.receipts.currentPosition();
    expect((await alice.post(receiptPath('m.read.private', m2), {})).status).toBe(200);
    expect(await server.hs.receipts.currentPosition()).toBeGreaterThan(position);
    expect((await receiptsSeenBy(aliceId, position))[m2]).toEqual({ 'm.read.private': { [aliceId]: expect.objectContaining({ ts: expect.any(Number) }) } });
    expect(await server.hs.receipts.receiptEvents(bobId, [roomId], position)).toEqual(new Map());
    const everythingBobSees = await receiptsSeenBy(bobId);
    expect(JSON.stringify(everythingBobSees)).not.toContain('m.read.private');
    // The private receipt moves independently of the public one.
    expect((await alice.post(receiptPath('m.read', m1), {})).status).toBe(200);
    const seen = await receiptsSeenBy(aliceId);
    expect(seen[m1]['m.read'][aliceId]).toBeDefined();
    expect(seen[m2]['m.read.private'][aliceId]).toBeDefined();
  });

  describe('threaded receipts', () => {
    let root: string;
    let reply: string;
    let reaction: string;
    let rootReaction: string;

    beforeAll(async () => {
      root = await send(alice, roomId, { msgtype: 'm.text', body: 'thread root' });
      reply = await send(alice, roomId, { msgtype: 'm.text', body: 'in thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
      reaction = await send(bob, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: reply, key: '👍' } }, 'm.reaction');
      rootReaction = await send(bob, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: root, key: '👀' } }, 'm.reaction');
    });

    it('accepts a receipt for the thread an event is in, kept apart from the unthreaded one', async () => {
      expect((await bob.post(receiptPath('m.read', reply), { thread_id: root })).status).toBe(200);
      let seen = await receiptsSeenBy(aliceId);
      expect(seen[reply]['m.read'][bobId].thread_id).toBe(root);
      // A reaction to a threaded event is in the thread too (spec: following relations, up to 3 hops).
      expect((await bob.post(receiptPath('m.read', reaction), { thread_id: root })).status).toBe(200);
      // The thread root and what relates to it without m.thread are in the main timeline...
      expect((await bob.post(receiptPath('m.read', root), { thread_id: 'main' })).status).toBe(200);
      expect((await bob.post(receiptPath('m.read', rootReaction), { thread_id: 'main' })).status).toBe(200);
      // ...and also fit a receipt for their own thread, as in Synapse.
      expect((await bob.post(receiptPath('m.read.private', root), { thread_id: root })).status).toBe(200);
      seen = await receiptsSeenBy(aliceId);
      expect(seen[reaction]['m.read'][bobId].thread_id).toBe(root);
      expect(seen[rootReaction]['m.read'][bobId].thread_id).toBe('main');
      // Bob's unthreaded receipt is untouched by the threaded ones.
      expect(seen[m3]['m.read'][bobId]).toEqual({ ts: expect.any(Number) });
    });

    it('rejects a thread_id the event is not in with M_INVALID_PARAM, and records nothing', async () => {
      const position = await server.hs.receipts.currentPosition();
      const cases: Array<[string, unknown]> = [
        [reply, 'main'],
        [reaction, 'main'],
        [m1, root],
        [reply, m1],
        [m3, '$not-a-thread:test.local'],
      ];
      for (const [eventId, threadId] of cases) {
        const r = await bob.post(receiptPath('m.read', eventId), { thread_id: threadId });
        expect(r.status, `${eventId} in ${String(threadId)}`).toBe(400);
        expect(r.body.errcode).toBe('M_INVALID_PARAM');
      }
      expect(await server.hs.receipts.currentPosition()).toBe(position);
    });

    it('rejects malformed thread IDs and thread IDs on m.fully_read', async () => {
      const position = await server.hs.receipts.currentPosition();
      for (const threadId of ['', 5, null, ['main']]) {
        const r = await bob.post(receiptPath('m.read', m3), { thread_id: threadId });
        expect(r.status, JSON.stringify(threadId)).toBe(400);
        expect(r.body).toMatchObject({ errcode: 'M_INVALID_PARAM', error: 'thread_id field must be a non-empty string' });
      }
      const fully = await bob.post(receiptPath('m.fully_read', m3), { thread_id: 'main' });
      expect(fully.status).toBe(400);
      expect(fully.body.errcode).toBe('M_INVALID_PARAM');
      expect(await server.hs.receipts.currentPosition()).toBe(position);
      expect((await fullyRead(bob, bobId)).status).toBe(404);
    });
  });

  it('refuses unknown events, events of other rooms and events the user may not see with 404', async () => {
    const otherRoom = await createRoom(alice);
    const elsewhere = await send(alice, otherRoom, { msgtype: 'm.text', body: 'elsewhere' });
    const hidden = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    const secret = await send(alice, hidden, { msgtype: 'm.text', body: 'before bob joined' });
    await join(bob, hidden);
    const position = await server.hs.receipts.currentPosition();
    const cases: Array<[string, string]> = [
      [roomId, '$unknown:test.local'],
      [roomId, elsewhere],
      [hidden, secret],
    ];
    for (const [room, eventId] of cases) {
      for (const type of ['m.read', 'm.read.private', 'm.fully_read']) {
        const r = await bob.post(receiptPath(type, eventId, room), {});
        expect(r.status, `${type} ${eventId}`).toBe(404);
        expect(r.body.errcode).toBe('M_NOT_FOUND');
      }
    }
    const markers = await bob.post(markersPath(hidden), { 'm.fully_read': secret });
    expect(markers.status).toBe(404);
    expect(await server.hs.receipts.currentPosition()).toBe(position);
    // After joining, new events are fine.
    expect((await bob.post(receiptPath('m.read', await send(alice, hidden, { msgtype: 'm.text', body: 'hi' }), hidden), {})).status).toBe(200);
  });

  it('refuses receipts from users not joined to the room with 403', async () => {
    const position = await server.hs.receipts.currentPosition();
    const r = await carol.post(receiptPath('m.read', m3), {});
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
    const markers = await carol.post(markersPath(), { 'm.read': m3 });
    expect(markers.status).toBe(403);
    expect((await carol.post(receiptPath('m.read', m3, '!nowhere:test.local'), {})).status).toBe(403);
    expect(await server.hs.receipts.currentPosition()).toBe(position);
  });

  it('rejects bad receipt types, event IDs and room IDs with 400', async () => {
    const position = await server.hs.receipts.currentPosition();
    const cases: Array<[string, string]> = [
      [receiptPath('m.unknown', m3), 'M_INVALID_PARAM'],
      [receiptPath('m.read', 'not-an-event'), 'M_INVALID_PARAM'],
      [receiptPath('m.read', m3, 'not-a-room'), 'M_INVALID_PARAM'],
      [markersPath('not-a-room'), 'M_INVALID_PARAM'],
    ];
    for (const [path, errcode] of cases) {
      const r = await bob.post(path, {});
      expect(r.status, path).toBe(400);
      expect(r.body.errcode).toBe(errcode);
    }
    const notJson = await bob.request('POST', receiptPath('m.read', m3), undefined, { raw: '{nope' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.errcode).toBe('M_NOT_JSON');
    expect(await server.hs.receipts.currentPosition()).toBe(position);
  });

  it('sets the fully read marker as m.fully_read room account data, through /receipt too', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const e1 = await send(alice, room, { msgtype: 'm.text', body: 'a' });
    const e2 = await send(alice, room, { msgtype: 'm.text', body: 'b' });
    expect((await bob.post(receiptPath('m.fully_read', e2, room), {})).status).toBe(200);
    expect((await fullyRead(bob, bobId, room)).body).toEqual({ event_id: e2 });
    expect(changes.at(-1)).toMatchObject({ stream: 'account_data', users: [bobId] });
    // Not a receipt: nothing in the receipts stream for it.
    expect(await server.hs.receipts.receiptEvents(aliceId, [room], 0)).toEqual(new Map());
    // The marker may move back (a user may undo "mark as read").
    expect((await bob.post(markersPath(room), { 'm.fully_read': e1 })).status).toBe(200);
    expect((await fullyRead(bob, bobId, room)).body).toEqual({ event_id: e1 });
    // Clients may not set it directly.
    expect((await bob.put(`/_matrix/client/v3/user/${enc(bobId)}/rooms/${enc(room)}/account_data/m.fully_read`, { event_id: e2 })).status).toBe(405);
  });

  it('sets the read marker and both receipts in one /read_markers request', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const e1 = await send(alice, room, { msgtype: 'm.text', body: 'a' });
    const e2 = await send(alice, room, { msgtype: 'm.text', body: 'b' });
    const r = await bob.post(markersPath(room), { 'm.fully_read': e1, 'm.read': e1, 'm.read.private': e2, 'org.example.unknown': e2 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    expect((await fullyRead(bob, bobId, room)).body).toEqual({ event_id: e1 });
    const ownView = (await server.hs.receipts.receiptEvents(bobId, [room], 0)).get(room)?.content;
    expect(ownView?.[e1]['m.read'][bobId]).toBeDefined();
    expect(ownView?.[e2]['m.read.private'][bobId]).toBeDefined();
    const othersView = (await server.hs.receipts.receiptEvents(aliceId, [room], 0)).get(room)?.content;
    expect(Object.keys(othersView ?? {})).toEqual([e1]);
    // An empty body is fine and changes nothing.
    const position = await server.hs.receipts.currentPosition();
    expect((await bob.post(markersPath(room), {})).status).toBe(200);
    expect(await server.hs.receipts.currentPosition()).toBe(position);
  });

  it('checks every event of /read_markers before writing any', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const e1 = await send(alice, room, { msgtype: 'm.text', body: 'a' });
    const position = await server.hs.receipts.currentPosition();
    const r = await bob.post(markersPath(room), { 'm.fully_read': e1, 'm.read': '$missing:test.local' });
    expect(r.status).toBe(404);
    expect((await fullyRead(bob, bobId, room)).status).toBe(404);
    const r2 = await bob.post(markersPath(room), { 'm.read': e1, 'm.read.private': 7 });
    expect(r2.status).toBe(400);
    expect(r2.body.errcode).toBe('M_BAD_JSON');
    const r3 = await bob.post(markersPath(room), { 'm.read': e1, 'm.fully_read': 'no-sigil' });
    expect(r3.status).toBe(400);
    expect(r3.body.errcode).toBe('M_INVALID_PARAM');
    expect(await server.hs.receipts.currentPosition()).toBe(position);
  });

  it('needs an access token and is not for guests', async () => {
    expect((await bob.post(receiptPath('m.read', m3), {}, { token: null })).status).toBe(401);
    expect((await bob.post(markersPath(), {}, { token: null })).status).toBe(401);
    const guest = await new Client(server.baseUrl).post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {});
    const r = await bob.post(receiptPath('m.read', m3), {}, { token: guest.body.access_token });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });
});
