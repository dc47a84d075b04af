// GET /_matrix/client/v1/rooms/{roomId}/threads. spec: modules/threading "Querying threads in a room"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, ids, join, redact, reply, send, text, threads } from './helpers.js';

describe.each(ENGINES)('threads (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
  });
  afterAll(() => server.close());

  async function room(): Promise<string> {
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    await join(carol, roomId);
    return roomId;
  }

  it('lists thread roots by latest activity, all or participated', async () => {
    const roomId = await room();
    const t1 = await send(alice, roomId, text('alice starts t1'));
    const t2 = await send(bob, roomId, text('bob starts t2'));
    const t3 = await send(carol, roomId, text('carol starts t3'));
    await send(alice, roomId, text('not a thread'));
    await reply(bob, roomId, t1, 'bob in t1');
    await reply(carol, roomId, t2, 'carol in t2');
    await reply(alice, roomId, t3, 'alice in t3');
    await reply(bob, roomId, t2, 'bob in t2');

    // Activity order: t2 (latest reply), t3, t1.
    const all = await threads(alice, roomId);
    expect(ids(all)).toEqual([t2, t3, t1]);
    expect(all.next_batch).toBeUndefined();
    expect(ids(await threads(alice, roomId, 'include=all'))).toEqual([t2, t3, t1]);
    // Roots come with their bundled thread summary.
    expect(all.chunk[0].unsigned['m.relations']?.['m.thread']).toMatchObject({ count: 2, current_user_participated: false });
    expect(all.chunk[1].unsigned['m.relations']?.['m.thread']).toMatchObject({ count: 1, current_user_participated: true });

    // Participated: roots the user sent or replied to.
    expect(ids(await threads(alice, roomId, 'include=participated'))).toEqual([t3, t1]);
    expect(ids(await threads(bob, roomId, 'include=participated'))).toEqual([t2, t1]);
    expect(ids(await threads(carol, roomId, 'include=participated'))).toEqual([t2, t3]);

    // New activity moves a thread to the front.
    await reply(carol, roomId, t1, 'carol in t1');
    expect(ids(await threads(bob, roomId))).toEqual([t1, t2, t3]);
    expect(ids(await threads(carol, roomId, 'include=participated'))).toEqual([t1, t2, t3]);
  });

  it('paginates with next_batch', async () => {
    const roomId = await room();
    const roots: string[] = [];
    for (let i = 0; i < 5; i++) roots.push(await send(alice, roomId, text(`root ${i}`)));
    for (const root of roots) await reply(bob, roomId, root, 'reply');
    const newestFirst = [...roots].reverse();

    const seen: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 3; page++) {
      const p = await threads(bob, roomId, `limit=2${from ? `&from=${enc(from)}` : ''}`);
      expect(p.chunk.length).toBeLessThanOrEqual(2);
      seen.push(...ids(p));
      from = p.next_batch;
      if (page < 2) expect(from).toBeDefined();
    }
    expect(from).toBeUndefined();
    expect(seen).toEqual(newestFirst);
    // The same through participated, which bob is in for all of them.
    const first = await threads(bob, roomId, 'include=participated&limit=3');
    expect(ids(first)).toEqual(newestFirst.slice(0, 3));
    expect(ids(await threads(bob, roomId, `include=participated&limit=3&from=${enc(first.next_batch!)}`))).toEqual(newestFirst.slice(3));
  });

  it('reflects redacted replies: counts, latest event, order, and empty threads disappear', async () => {
    const roomId = await room();
    const a = await send(alice, roomId, text('thread a'));
    const b = await send(alice, roomId, text('thread b'));
    const a1 = await reply(bob, roomId, a, 'a1');
    const b1 = await reply(carol, roomId, b, 'b1');
    const a2 = await reply(bob, roomId, a, 'a2');
    expect(ids(await threads(alice, roomId))).toEqual([a, b]);
    expect(ids(await threads(bob, roomId, 'include=participated'))).toEqual([a]);

    // Redacting a's newest reply makes a1 its latest, which is older than b1.
    await redact(bob, roomId, a2);
    const after = await threads(alice, roomId);
    expect(ids(after)).toEqual([b, a]);
    expect(after.chunk[1].unsigned['m.relations']?.['m.thread']).toMatchObject({ count: 1 });
    expect(after.chunk[1].unsigned['m.relations']?.['m.thread']?.latest_event.event_id).toBe(a1);

    // Redacting b's only reply removes thread b, and carol's participation with it.
    await redact(carol, roomId, b1);
    expect(ids(await threads(alice, roomId))).toEqual([a]);
    expect(ids(await threads(carol, roomId, 'include=participated'))).toEqual([]);
    const bRoot = await alice.get<{ unsigned: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(b)}`);
    expect(bRoot.body.unsigned['m.relations']).toBeUndefined();
  });

  it('only lists roots the user may see', async () => {
    const roomId = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    const early = await send(alice, roomId, text('before carol'));
    await reply(alice, roomId, early, 'early reply');
    await join(carol, roomId);
    const later = await send(alice, roomId, text('with carol'));
    await reply(alice, roomId, later, 'later reply');
    expect(ids(await threads(alice, roomId))).toEqual([later, early]);
    expect(ids(await threads(carol, roomId))).toEqual([later]);
    // Paging past hidden roots still ends.
    const p = await threads(carol, roomId, 'limit=1');
    expect(ids(p)).toEqual([later]);
    if (p.next_batch) expect(ids(await threads(carol, roomId, `limit=1&from=${enc(p.next_batch)}`))).toEqual([]);
  });

  it('refuses users who cannot view the room, and bad parameters', async () => {
    const roomId = await createRoom(alice, { preset: 'private_chat' });
    const root = await send(alice, roomId, text('private'));
    await reply(alice, roomId, root, 'reply');
    const path = `/_matrix/client/v1/rooms/${enc(roomId)}/threads`;

    const outsider = await bob.get(path);
    expect(outsider.status).toBe(403);
    expect(outsider.body).toMatchObject({ errcode: 'M_FORBIDDEN' });
    const unknown = await alice.get(`/_matrix/client/v1/rooms/${enc('!nope:test.local')}/threads`);
    expect(unknown.status).toBe(403);

    // Banned users are refused too.
    const pub = await room();
    await reply(alice, pub, await send(alice, pub, text('root')), 'reply');
    const ban = await alice.post(`/_matrix/client/v3/rooms/${enc(pub)}/ban`, { user_id: '@carol:test.local' });
    expect(ban.status, JSON.stringify(ban.body)).toBe(200);
    expect((await carol.get(`/_matrix/client/v1/rooms/${enc(pub)}/threads`)).status).toBe(403);

    for (const query of ['from=bogus', 'from=s', 'include=mine', 'limit=0', 'limit=-2', 'limit=x']) {
      const r = await alice.get(`${path}?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body, query).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    }
    expect((await alice.get(`/_matrix/client/v1/rooms/not-a-room/threads`)).body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    expect((await alice.get(path, { token: null })).status).toBe(401);
  });
});
