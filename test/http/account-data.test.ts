// spec: client-server-api modules/account_data, modules/tags, modules/ignore_users
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';
import type { StreamChange } from '../../src/services/notifier.js';

const enc = encodeURIComponent;

describe.each(ENGINES)('account data (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let bobId: string;
  let roomId: string;
  const globalPath = (user: string, type: string) => `/_matrix/client/v3/user/${enc(user)}/account_data/${enc(type)}`;
  const roomPath = (user: string, room: string, type: string) => `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/account_data/${enc(type)}`;
  const tagsPath = (user: string, room: string) => `/_matrix/client/v3/user/${enc(user)}/rooms/${enc(room)}/tags`;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
  });
  afterAll(() => server.close());

  describe('global and room account data', () => {
    it('stores, returns and replaces global account data', async () => {
      expect((await alice.get(globalPath(aliceId, 'org.example.config'))).body.errcode).toBe('M_NOT_FOUND');
      expect((await alice.get(globalPath(aliceId, 'org.example.config'))).status).toBe(404);
      expect((await alice.put(globalPath(aliceId, 'org.example.config'), { theme: 'dark', n: [1, { x: null }] })).body).toEqual({});
      expect((await alice.get(globalPath(aliceId, 'org.example.config'))).body).toEqual({ theme: 'dark', n: [1, { x: null }] });
      await alice.put(globalPath(aliceId, 'org.example.config'), { theme: 'light' });
      expect((await alice.get(globalPath(aliceId, 'org.example.config'))).body).toEqual({ theme: 'light' });
    });

    it('keeps room account data apart from global data and from other rooms', async () => {
      await alice.put(roomPath(aliceId, roomId, 'org.example.room'), { pinned: true });
      expect((await alice.get(roomPath(aliceId, roomId, 'org.example.room'))).body).toEqual({ pinned: true });
      const global = await alice.get(globalPath(aliceId, 'org.example.room'));
      expect(global.status).toBe(404);
      expect(global.body.errcode).toBe('M_NOT_FOUND');
      // No inheritance: global data of a type does not appear for a room.
      expect((await alice.get(roomPath(aliceId, roomId, 'org.example.config'))).status).toBe(404);
      const otherRoom = await alice.get(roomPath(aliceId, '!other:test.local', 'org.example.room'));
      expect(otherRoom.status).toBe(404);
      expect(otherRoom.body.errcode).toBe('M_NOT_FOUND');
    });

    it('refuses to read or write another user\'s account data', async () => {
      await alice.put(globalPath(aliceId, 'org.example.secret'), { s: 1 });
      for (const r of [
        await bob.get(globalPath(aliceId, 'org.example.secret')),
        await bob.put(globalPath(aliceId, 'org.example.secret'), { s: 2 }),
        await bob.get(roomPath(aliceId, roomId, 'org.example.room')),
        await bob.put(roomPath(aliceId, roomId, 'org.example.room'), { s: 2 }),
      ]) {
        expect(r.status).toBe(403);
        expect(r.body.errcode).toBe('M_FORBIDDEN');
      }
      expect((await alice.get(globalPath(aliceId, 'org.example.secret'))).body).toEqual({ s: 1 });
      expect((await alice.get(roomPath(aliceId, roomId, 'org.example.room'))).body).toEqual({ pinned: true });
      expect((await bob.get(globalPath(bobId, 'org.example.secret'))).status).toBe(404);
    });

    it('needs an access token', async () => {
      const r = await alice.get(globalPath(aliceId, 'org.example.config'), { token: null });
      expect(r.status).toBe(401);
      expect(r.body.errcode).toBe('M_MISSING_TOKEN');
    });

    it.each(['m.fully_read', 'm.push_rules'])('does not let clients set the server-managed %s (405 M_BAD_JSON)', async (type) => {
      for (const r of [
        await alice.put(globalPath(aliceId, type), { event_id: '$x' }),
        await alice.put(roomPath(aliceId, roomId, type), { event_id: '$x' }),
      ]) {
        expect(r.status).toBe(405);
        expect(r.body.errcode).toBe('M_BAD_JSON');
      }
      // Every user has push rules (the server defaults until they change one): nothing was written.
      const global = await alice.get(globalPath(aliceId, type));
      if (type === 'm.push_rules') expect(global.body).toEqual((await alice.get('/_matrix/client/v3/pushrules/')).body);
      else expect(global.status).toBe(404);
      expect((await alice.get(roomPath(aliceId, roomId, type))).status).toBe(404);
    });

    it('lets the server set managed types, and clients read them', async () => {
      await server.hs.accountData.set(aliceId, roomId, 'm.fully_read', { event_id: '$read' });
      expect((await alice.get(roomPath(aliceId, roomId, 'm.fully_read'))).body).toEqual({ event_id: '$read' });
    });

    it('rejects bodies that are not JSON objects, changing nothing', async () => {
      await alice.put(globalPath(aliceId, 'org.example.kept'), { v: 1 });
      const arr = await alice.put(globalPath(aliceId, 'org.example.kept'), [1, 2]);
      expect(arr.status).toBe(400);
      expect(arr.body.errcode).toBe('M_BAD_JSON');
      const str = await alice.put(roomPath(aliceId, roomId, 'org.example.kept'), 'text');
      expect(str.status).toBe(400);
      expect(str.body.errcode).toBe('M_BAD_JSON');
      const notJson = await alice.request('PUT', globalPath(aliceId, 'org.example.kept'), undefined, { raw: '{nope', headers: { 'content-type': 'application/json' } });
      expect(notJson.status).toBe(400);
      expect(notJson.body.errcode).toBe('M_NOT_JSON');
      expect((await alice.get(globalPath(aliceId, 'org.example.kept'))).body).toEqual({ v: 1 });
      expect((await alice.get(roomPath(aliceId, roomId, 'org.example.kept'))).status).toBe(404);
    });

    it('checks room IDs', async () => {
      for (const r of [
        await alice.get(roomPath(aliceId, 'not-a-room', 'org.example.room')),
        await alice.put(roomPath(aliceId, '@alice:test.local', 'org.example.room'), { a: 1 }),
        await alice.get(tagsPath(aliceId, 'nope')),
        await alice.put(`${tagsPath(aliceId, 'nope')}/u.work`, {}),
        await alice.delete(`${tagsPath(aliceId, 'nope')}/u.work`),
      ]) {
        expect(r.status).toBe(400);
        expect(r.body.errcode).toBe('M_INVALID_PARAM');
      }
    });

    it('rejects types with NUL and types longer than 255 characters', async () => {
      const nul = await alice.put(globalPath(aliceId, 'a\u0000b'), { a: 1 });
      expect(nul.status).toBe(400);
      expect(nul.body.errcode).toBe('M_INVALID_PARAM');
      const long = await alice.put(globalPath(aliceId, 'x'.repeat(256)), { a: 1 });
      expect(long.status).toBe(400);
      expect(long.body.errcode).toBe('M_INVALID_PARAM');
      expect((await alice.put(globalPath(aliceId, 'x'.repeat(255)), { a: 1 })).status).toBe(200);
    });

    it('refuses guests', async () => {
      const guest = new Client(server.baseUrl);
      const g = await guest.post<{ access_token: string; user_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      guest.token = g.body.access_token;
      const r = await guest.put(globalPath(g.body.user_id, 'org.example.config'), { a: 1 });
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    });
  });

  describe('the account data stream', () => {
    it('gives each change a new position, reports it to the notifier, and lists changes since a position', async () => {
      const carol = new Client(server.baseUrl);
      const carolId = (await carol.register('carol')).user_id;
      const store = server.hs.storage.accountData;
      const seen: StreamChange[] = [];
      const unsubscribe = server.hs.notifier.subscribe((c) => { if (c.stream === 'account_data') seen.push(c); });
      try {
        const start = await store.currentPosition();
        expect(await store.changesSince(carolId, start)).toEqual({ global: [], rooms: {}, position: start });

        await carol.put(globalPath(carolId, 'org.example.a'), { v: 1 });
        const afterA = await store.currentPosition();
        expect(afterA).toBeGreaterThan(start);
        await carol.put(roomPath(carolId, roomId, 'org.example.b'), { v: 2 });
        await carol.put(`${tagsPath(carolId, roomId)}/m.favourite`, { order: 0.5 });
        await carol.put(globalPath(carolId, 'org.example.a'), { v: 3 });
        const end = await store.currentPosition();

        expect(seen.map((c) => c.users)).toEqual([[carolId], [carolId], [carolId], [carolId]]);
        const positions = seen.map((c) => c.position);
        expect([...positions].sort((a, b) => a - b)).toEqual(positions);
        expect(new Set(positions).size).toBe(4);
        expect(positions[positions.length - 1]).toBe(end);

        // The replaced entry appears once, with its latest content.
        expect(await store.changesSince(carolId, start)).toEqual({
          global: [{ type: 'org.example.a', content: { v: 3 } }],
          rooms: { [roomId]: [{ type: 'org.example.b', content: { v: 2 } }, { type: 'm.tag', content: { tags: { 'm.favourite': { order: 0.5 } } } }] },
          position: end,
        });
        expect(await store.changesSince(carolId, positions[1])).toEqual({
          global: [{ type: 'org.example.a', content: { v: 3 } }],
          rooms: { [roomId]: [{ type: 'm.tag', content: { tags: { 'm.favourite': { order: 0.5 } } } }] },
          position: end,
        });
        expect(await store.changesSince(carolId, start, positions[1])).toEqual({
          global: [],
          rooms: { [roomId]: [{ type: 'org.example.b', content: { v: 2 } }] },
          position: positions[1],
        });
        expect(await store.changesSince(carolId, end)).toEqual({ global: [], rooms: {}, position: end });
        // Other users' changes are not carol's.
        await alice.put(globalPath(aliceId, 'org.example.a'), { v: 9 });
        expect(await store.changesSince(carolId, end)).toEqual({ global: [], rooms: {}, position: end });

        // A rejected write is not a change.
        const before = seen.length;
        await carol.put(globalPath(carolId, 'm.push_rules'), {});
        await carol.put(globalPath(carolId, 'm.ignored_user_list'), { ignored_users: [] });
        await carol.delete(`${tagsPath(carolId, roomId)}/u.absent`);
        expect(seen.length).toBe(before);
        expect((await store.changesSince(carolId, end)).global).toEqual([]);
      } finally {
        unsubscribe();
      }
    });
  });

  describe('tags', () => {
    it('adds, lists, replaces and removes tags', async () => {
      expect((await alice.get(tagsPath(aliceId, roomId))).body).toEqual({ tags: {} });
      expect((await alice.put(`${tagsPath(aliceId, roomId)}/m.favourite`, { order: 0.25 })).body).toEqual({});
      expect((await alice.put(`${tagsPath(aliceId, roomId)}/u.Work`, {})).status).toBe(200);
      expect((await alice.put(`${tagsPath(aliceId, roomId)}/${enc('u.Späße & Co/2')}`, { order: 1 })).status).toBe(200);
      expect((await alice.get(tagsPath(aliceId, roomId))).body).toEqual({ tags: { 'm.favourite': { order: 0.25 }, 'u.Work': {}, 'u.Späße & Co/2': { order: 1 } } });
      await alice.put(`${tagsPath(aliceId, roomId)}/m.favourite`, { order: 0 });
      expect((await alice.delete(`${tagsPath(aliceId, roomId)}/u.Work`)).body).toEqual({});
      expect((await alice.delete(`${tagsPath(aliceId, roomId)}/u.never`)).status).toBe(200);
      expect((await alice.get(tagsPath(aliceId, roomId))).body).toEqual({ tags: { 'm.favourite': { order: 0 }, 'u.Späße & Co/2': { order: 1 } } });
      // Tags are the room account data m.tag.
      expect((await alice.get(roomPath(aliceId, roomId, 'm.tag'))).body).toEqual({ tags: { 'm.favourite': { order: 0 }, 'u.Späße & Co/2': { order: 1 } } });
    });

    it('keeps tags per room and per user', async () => {
      const other = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
      await alice.put(`${tagsPath(aliceId, other)}/m.lowpriority`, {});
      expect((await alice.get(tagsPath(aliceId, other))).body).toEqual({ tags: { 'm.lowpriority': {} } });
      expect((await bob.get(tagsPath(bobId, other))).body).toEqual({ tags: {} });
      expect((await alice.get(tagsPath(aliceId, roomId))).body.tags).not.toHaveProperty('m.lowpriority');
    });

    it('rejects a bad order or tag name, changing nothing', async () => {
      const room = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
      await alice.put(`${tagsPath(aliceId, room)}/u.kept`, { order: 0.5 });
      for (const body of [{ order: 1.5 }, { order: -0.1 }, { order: '0.5' }, [1]]) {
        const r = await alice.put(`${tagsPath(aliceId, room)}/u.kept`, body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.errcode).toBe('M_BAD_JSON');
      }
      const long = await alice.put(`${tagsPath(aliceId, room)}/${enc(`u.${'é'.repeat(127)}`)}`, {});
      expect(long.status).toBe(400);
      expect(long.body.errcode).toBe('M_INVALID_PARAM');
      expect((await alice.put(`${tagsPath(aliceId, room)}/${enc(`u.${'é'.repeat(126)}`)}`, {})).status).toBe(200);
      expect((await alice.delete(`${tagsPath(aliceId, room)}/${enc(`u.${'é'.repeat(126)}`)}`)).status).toBe(200);
      expect((await alice.get(tagsPath(aliceId, room))).body).toEqual({ tags: { 'u.kept': { order: 0.5 } } });
    });

    it('validates m.tag set through the account data API', async () => {
      const room = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
      for (const content of [{ tags: [] }, { tags: { 'u.a': 1 } }, { tags: { 'u.a': { order: 2 } } }]) {
        const r = await alice.put(roomPath(aliceId, room, 'm.tag'), content);
        expect(r.status, JSON.stringify(content)).toBe(400);
        expect(r.body.errcode).toBe('M_BAD_JSON');
      }
      expect((await alice.put(roomPath(aliceId, room, 'm.tag'), { tags: { 'u.a': { order: 0.1 } } })).status).toBe(200);
      expect((await alice.get(tagsPath(aliceId, room))).body).toEqual({ tags: { 'u.a': { order: 0.1 } } });
    });

    it('is for yourself only', async () => {
      for (const r of [
        await bob.get(tagsPath(aliceId, roomId)),
        await bob.put(`${tagsPath(aliceId, roomId)}/u.x`, {}),
        await bob.delete(`${tagsPath(aliceId, roomId)}/m.favourite`),
      ]) {
        expect(r.status).toBe(403);
        expect(r.body.errcode).toBe('M_FORBIDDEN');
      }
      expect((await alice.get(tagsPath(aliceId, roomId))).body.tags).toHaveProperty('m.favourite');
      expect((await alice.get(tagsPath(aliceId, roomId))).body.tags).not.toHaveProperty('u.x');
    });

    it('loses no tag when several are set at once', async () => {
      const room = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
      const names = Array.from({ length: 12 }, (_, i) => `u.t${i}`);
      await Promise.all(names.map((n) => alice.put(`${tagsPath(aliceId, room)}/${n}`, {})));
      expect(Object.keys((await alice.get<{ tags: Record<string, unknown> }>(tagsPath(aliceId, room))).body.tags).sort()).toEqual([...names].sort());
    });
  });

  describe('ignoring users', () => {
    it('validates m.ignored_user_list, changing nothing on bad input', async () => {
      await alice.put(globalPath(aliceId, 'm.ignored_user_list'), { ignored_users: { '@someone:test.local': {} } });
      for (const content of [{}, { ignored_users: [] }, { ignored_users: { 'not-a-user': {} } }, { ignored_users: { '@x:test.local': true } }]) {
        const r = await alice.put(globalPath(aliceId, 'm.ignored_user_list'), content);
        expect(r.status, JSON.stringify(content)).toBe(400);
        expect(r.body.errcode).toBe('M_BAD_JSON');
      }
      expect((await alice.get(globalPath(aliceId, 'm.ignored_user_list'))).body).toEqual({ ignored_users: { '@someone:test.local': {} } });
      expect([...(await server.hs.storage.accountData.ignoredUsers(aliceId))]).toEqual(['@someone:test.local']);
      await alice.put(globalPath(aliceId, 'm.ignored_user_list'), { ignored_users: {} });
      expect(await server.hs.storage.accountData.ignoredUsers(aliceId)).toEqual(new Set());
    });

    it('hides the messages of ignored users from /messages, but not their state events, until unignored', async () => {
      const dave = new Client(server.baseUrl);
      const erin = new Client(server.baseUrl);
      const daveId = (await dave.register('dave')).user_id;
      const erinId = (await erin.register('erin')).user_id;
      const room = (await dave.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', power_level_content_override: { state_default: 0 } })).body.room_id;
      await erin.post(`/_matrix/client/v3/join/${enc(room)}`, {});
      await erin.put(`/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/e1`, { msgtype: 'm.text', body: 'from erin' });
      expect((await erin.put(`/_matrix/client/v3/rooms/${enc(room)}/state/org.example.state/`, { v: 1 })).status).toBe(200);
      await dave.put(`/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/d1`, { msgtype: 'm.text', body: 'from dave' });
      type Chunk = { chunk: Array<{ sender: string; type: string; content: { body?: string } }> };
      const read = async () => (await dave.get<Chunk>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=3`)).body.chunk;

      expect((await read()).map((e) => e.content.body ?? e.type)).toEqual(['from dave', 'org.example.state', 'from erin']);
      await dave.put(globalPath(daveId, 'm.ignored_user_list'), { ignored_users: { [erinId]: {} } });
      // The page is still filled: with the ignored message gone, an older event takes its place.
      const hidden = await read();
      expect(hidden.map((e) => e.content.body ?? e.type)).toEqual(['from dave', 'org.example.state', 'm.room.member']);
      expect(hidden.filter((e) => e.sender === erinId).map((e) => e.type)).toEqual(['org.example.state', 'm.room.member']);
      // Ignoring is per viewer: erin still sees everything.
      expect((await erin.get<Chunk>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=3`)).body.chunk.map((e) => e.content.body ?? e.type))
        .toEqual(['from dave', 'org.example.state', 'from erin']);
      await dave.put(globalPath(daveId, 'm.ignored_user_list'), { ignored_users: {} });
      expect((await read()).map((e) => e.content.body ?? e.type)).toEqual(['from dave', 'org.example.state', 'from erin']);
    });

    it('never hides your own events, even if you ignore yourself', async () => {
      await bob.put(globalPath(bobId, 'm.ignored_user_list'), { ignored_users: { [bobId]: {} } });
      expect((await server.hs.storage.accountData.ignoredUsers(bobId)).has(bobId)).toBe(false);
    });
  });
});
