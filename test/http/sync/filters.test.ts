// The filter API (POST/GET /user/{userId}/filter), filters by ID and inline in /sync, and every
// RoomEventFilter field applied the same way in /sync, /messages and /context.
// spec: client-server-api "Filtering"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send, sync, type ClientEvent } from './helpers.js';

describe.each(ENGINES)('filters (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let bobId: string;
  let room: string;
  /** The room's events after setup, oldest first, by body. */
  const filterPath = (userId: string) => `/_matrix/client/v3/user/${enc(userId)}/filter`;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    room = await createRoom(alice);
    await join(bob, room);
    await send(alice, room, { msgtype: 'm.text', body: 'a-text' });
    await send(bob, room, { msgtype: 'm.image', body: 'b-image', url: 'mxc://test.local/img' });
    await send(alice, room, { body: 'a-custom' }, 'org.example.custom');
    await send(bob, room, { msgtype: 'm.file', body: 'b-file', url: 'mxc://test.local/file' });
    await send(alice, room, { body: 'a-other' }, 'com.other.thing');
    await send(bob, room, { msgtype: 'm.text', body: 'b-text' });
  });
  afterAll(() => server.close());

  it('stores a filter and gives it back as uploaded; the same filter gets the same ID', async () => {
    const filter = { room: { timeline: { limit: 5, types: ['m.room.message'] }, state: { lazy_load_members: true } }, event_fields: ['type', 'content'], 'org.example.extra': 1 };
    const created = await alice.post<{ filter_id: string }>(filterPath(aliceId), filter);
    expect(created.status).toBe(200);
    expect(created.body.filter_id).not.toMatch(/^\{/);
    const got = await alice.get(`${filterPath(aliceId)}/${enc(created.body.filter_id)}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(filter);
    expect((await alice.post<{ filter_id: string }>(filterPath(aliceId), filter)).body.filter_id).toBe(created.body.filter_id);
    expect((await alice.post<{ filter_id: string }>(filterPath(aliceId), {})).body.filter_id).not.toBe(created.body.filter_id);
  });

  it('keeps filters to their owner', async () => {
    const { filter_id } = (await alice.post<{ filter_id: string }>(filterPath(aliceId), { room: { timeline: { limit: 1 } } })).body;
    const other = await bob.get(`${filterPath(aliceId)}/${enc(filter_id)}`);
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe('M_FORBIDDEN');
    expect((await bob.post(filterPath(aliceId), {})).status).toBe(403);
    // Bob's own filter namespace does not have it, and /sync does not take it.
    expect((await bob.get(`${filterPath(bobId)}/${enc(filter_id)}`)).status).toBe(404);
    const r = await bob.get(`/_matrix/client/v3/sync?filter=${enc(filter_id)}`);
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_INVALID_PARAM');
  });

  it('answers unknown filters with 404 M_NOT_FOUND', async () => {
    for (const id of ['999999', 'abc', '1.5']) {
      const r = await alice.get(`${filterPath(aliceId)}/${enc(id)}`);
      expect(r.status, id).toBe(404);
      expect(r.body.errcode).toBe('M_NOT_FOUND');
    }
  });

  it('refuses filters that do not match the spec\'s schema with M_BAD_JSON, and stores nothing', async () => {
    const bad: unknown[] = [
      { room: { timeline: { limit: 0 } } }, { room: { timeline: { limit: 1.5 } } }, { room: { timeline: { limit: '10' } } },
      { room: { timeline: { types: 'm.room.message' } } }, { room: { timeline: { types: [1] } } },
      { room: { rooms: ['#alias:test.local'] } }, { room: { state: { senders: ['bob'] } } }, { presence: { not_senders: [5] } },
      { room: { include_leave: 'yes' } }, { room: { timeline: { lazy_load_members: 1 } } }, { room: { state: { contains_url: 'true' } } },
      { event_format: 'xml' }, { event_fields: 'content' }, { room: { timeline: [] } }, { account_data: 'all' },
    ];
    for (const body of bad) {
      const r = await alice.post(filterPath(aliceId), body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode, JSON.stringify(body)).toBe('M_BAD_JSON');
    }
    const notObject = await alice.request('POST', filterPath(aliceId), undefined, { raw: '[1]', headers: { 'content-type': 'application/json' } });
    expect(notObject.status).toBe(400);
    const huge = await alice.post(filterPath(aliceId), { room: { not_rooms: Array.from({ length: 5000 }, (_, i) => `!room${i}:test.local`) } });
    expect(huge.status).toBe(413);
    expect(huge.body.errcode).toBe('M_TOO_LARGE');
  });

  /** The same RoomEventFilter through /sync's timeline, /messages and /context. */
  async function everywhere(filter: Record<string, unknown>): Promise<{ sync: string[]; messages: string[]; context: string[] }> {
    const s = await sync(alice, { filter: { room: { timeline: { limit: 50, ...filter } } } });
    const timeline = s.rooms.join[room]?.timeline.events ?? [];
    const m = await alice.get<{ chunk: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=f&limit=50&filter=${enc(JSON.stringify(filter))}`);
    expect(m.status, JSON.stringify(m.body)).toBe(200);
    // Context around the room's first event, with the filter on the events after it.
    const createId = (await alice.get<{ chunk: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=f&limit=1`)).body.chunk[0].event_id;
    const c = await alice.get<{ events_after: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/context/${enc(createId)}?limit=100&filter=${enc(JSON.stringify(filter))}`);
    expect(c.status, JSON.stringify(c.body)).toBe(200);
    const body = (e: ClientEvent) => String(e.content.body ?? e.type);
    return { sync: timeline.map(body), messages: m.body.chunk.map(body), context: c.body.events_after.map(body) };
  }

  it.each([
    ['types with a wildcard', { types: ['org.example.*', 'com.*'] }, ['a-custom', 'a-other']],
    ['not_types beats types', { types: ['m.room.message', 'org.*'], not_types: ['org.example.custom'] }, ['a-text', 'b-image', 'b-file', 'b-text']],
    ['senders', { types: ['m.room.message'], senders: ['@bob:test.local'] }, ['b-image', 'b-file', 'b-text']],
    ['not_senders beats senders', { types: ['m.room.message'], senders: ['@bob:test.local', '@alice:test.local'], not_senders: ['@bob:test.local'] }, ['a-text']],
    ['contains_url: true', { contains_url: true }, ['b-image', 'b-file']],
    ['contains_url: false', { types: ['m.room.message'], contains_url: false }, ['a-text', 'b-text']],
    ['a `*` matches any sequence', { types: ['*.room.mess*'] }, ['a-text', 'b-image', 'b-file', 'b-text']],
  ])('applies %s the same in /sync, /messages and /context', async (_name, filter, expected) => {
    const got = await everywhere(filter);
    expect(got.sync.filter((b) => b.includes('-'))).toEqual(expected);
    expect(got.messages.filter((b) => b.includes('-'))).toEqual(expected);
    expect(got.context.filter((b) => b.includes('-'))).toEqual(expected);
  });

  it('applies rooms and not_rooms the same everywhere', async () => {
    const out = await everywhere({ not_rooms: [room] });
    expect(out).toEqual({ sync: [], messages: [], context: [] });
    const kept = await everywhere({ rooms: [room], types: ['m.room.message'], senders: [aliceId] });
    expect(kept).toEqual({ sync: ['a-text'], messages: ['a-text'], context: ['a-text'] });
  });

  it('applies limit in /sync, /messages and /context', async () => {
    const s = await sync(alice, { filter: { room: { timeline: { limit: 2 } } } });
    expect(s.rooms.join[room].timeline.events.map((e) => e.content.body)).toEqual(['a-other', 'b-text']);
    const m = await alice.get<{ chunk: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=50&filter=${enc(JSON.stringify({ limit: 2 }))}`);
    expect(m.body.chunk.map((e) => e.content.body)).toEqual(['b-text', 'a-other']);
  });

  it('takes a filter by ID in /sync', async () => {
    const { filter_id } = (await alice.post<{ filter_id: string }>(filterPath(aliceId), { room: { timeline: { limit: 1 } } })).body;
    const s = await sync(alice, { filter: filter_id });
    expect(s.rooms.join[room].timeline.events.map((e) => e.content.body)).toEqual(['b-text']);
    expect(s.rooms.join[room].timeline.limited).toBe(true);
  });

  it('refuses a malformed filter in /messages and /context with M_INVALID_PARAM', async () => {
    for (const f of ['{', '[]', '{"limit":0}', '{"types":"m.room.message"}', '{"senders":["nobody"]}', '{"contains_url":"yes"}']) {
      const m = await alice.get(`/_matrix/client/v3/rooms/${enc(room)}/messages?filter=${enc(f)}`);
      expect(m.status, f).toBe(400);
      expect(m.body.errcode, f).toBe('M_INVALID_PARAM');
    }
  });

  it('filters state events in /sync and /context', async () => {
    const s = await sync(alice, { filter: { room: { rooms: [room], timeline: { limit: 1 }, state: { types: ['m.room.join_rules', 'm.room.create'] } } } });
    expect(s.rooms.join[room].state?.events.map((e) => e.type).sort()).toEqual(['m.room.create', 'm.room.join_rules']);
    const notState = await sync(alice, { filter: { room: { rooms: [room], timeline: { limit: 1 }, state: { not_types: ['*'] } } } });
    expect(notState.rooms.join[room].state?.events).toEqual([]);
    const last = s.rooms.join[room].timeline.events[0].event_id;
    const c = await alice.get<{ state: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/context/${enc(last)}?limit=0&filter=${enc(JSON.stringify({ types: ['m.room.member'], senders: [bobId] }))}`);
    expect(c.body.state.map((e) => [e.type, e.state_key])).toEqual([['m.room.member', bobId]]);
  });
});
