// Room previews ("peeking"): GET /rooms/{roomId}/initialSync and GET /events?room_id=.
// spec: client-server-api modules/room_previews, room_initial_sync.yaml, peeking_events.yaml
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; event_id: string; state_key?: string; content: Record<string, unknown>; sender: string; room_id: string };
interface InitialSync {
  room_id: string;
  membership?: string;
  messages: { start?: string; end: string; chunk: Ev[] };
  state: Ev[];
  visibility: string;
  account_data: Array<{ type: string; content: Record<string, unknown> }>;
}
interface EventsPage { start: string; end: string; chunk: Ev[] }
const enc = encodeURIComponent;

describe.each(ENGINES)('peeking (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let eve: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob, eve] = [new Client(server.baseUrl), new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
    await eve.register('eve');
  });
  afterAll(() => server.close());

  let txn = 0;
  const say = async (c: Client, roomId: string, body: string) => {
    const r = await c.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/p${++txn}`, { msgtype: 'm.text', body });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.event_id;
  };
  const room = async (body: Record<string, unknown>) => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const worldReadable = (extra: Record<string, unknown> = {}) =>
    room({ preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }], ...extra });
  const initialSync = (c: Client, roomId: string, query = '') => c.get<InitialSync>(`/_matrix/client/v3/rooms/${enc(roomId)}/initialSync${query}`);
  const events = (c: Client, roomId: string, query: string) => c.get<EventsPage>(`/_matrix/client/v3/events?room_id=${enc(roomId)}&${query}`);
  const bodies = (evs: Ev[]) => evs.filter((e) => e.type === 'm.room.message').map((e) => e.content.body);

  describe('initialSync', () => {
    it('gives a member the current state, the latest messages in order, and room account data', async () => {
      const roomId = await room({ preset: 'public_chat', name: 'Peek', visibility: 'public' });
      for (const b of ['one', 'two', 'three']) await say(alice, roomId, b);
      await alice.put(`/_matrix/client/v3/user/${enc('@alice:test.local')}/rooms/${enc(roomId)}/tags/u.work`, { order: 0.5 });
      const r = await initialSync(alice, roomId, '?limit=2');
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ room_id: roomId, membership: 'join', visibility: 'public' });
      expect(bodies(r.body.messages.chunk)).toEqual(['two', 'three']);
      expect(r.body.state.find((e) => e.type === 'm.room.name')?.content).toEqual({ name: 'Peek' });
      expect(r.body.state.some((e) => e.type === 'm.room.create')).toBe(true);
      expect(r.body.account_data).toEqual([{ type: 'm.tag', content: { tags: { 'u.work': { order: 0.5 } } } }]);
      // `start` pages back to earlier messages, `end` forward to later ones.
      const earlier = await alice.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1&from=${enc(r.body.messages.start as string)}`);
      expect(bodies(earlier.body.chunk)).toEqual(['one']);
      await say(alice, roomId, 'four');
      const later = await alice.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&from=${enc(r.body.messages.end)}`);
      expect(bodies(later.body.chunk)).toEqual(['four']);
    });

    it('lets anyone peek into a world_readable room, and nobody into others', async () => {
      const roomId = await worldReadable();
      await say(alice, roomId, 'hello lurkers');
      const r = await initialSync(bob, roomId);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.membership).toBeUndefined();
      expect(r.body.visibility).toBe('private');
      expect(bodies(r.body.messages.chunk)).toEqual(['hello lurkers']);
      expect(r.body.state.find((e) => e.type === 'm.room.history_visibility')?.content).toEqual({ history_visibility: 'world_readable' });
      expect(r.body.account_data).toEqual([]);

      const shared = await room({ preset: 'public_chat' });
      const denied = await initialSync(bob, shared);
      expect(denied.status).toBe(403);
      expect(denied.body).toMatchObject({ errcode: 'M_FORBIDDEN' });
      const unknown = await initialSync(bob, '!nope:test.local');
      expect(unknown.status).toBe(403);
      const bad = await initialSync(bob, 'not-a-room');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
      const badLimit = await initialSync(alice, shared, '?limit=-1');
      expect(badLimit.status).toBe(400);
      expect(badLimit.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    });

    it('gives a user who left the state and messages up to their leaving', async () => {
      const roomId = await room({ preset: 'public_chat' });
      await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
      await say(alice, roomId, 'while bob was here');
      await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
      await say(alice, roomId, 'after bob left');
      await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name/`, { name: 'Renamed later' });
      const r = await initialSync(bob, roomId);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.membership).toBe('leave');
      expect(bodies(r.body.messages.chunk)).toEqual(['while bob was here']);
      expect(r.body.messages.chunk.at(-1)).toMatchObject({ type: 'm.room.member', state_key: '@bob:test.local', content: { membership: 'leave' } });
      expect(r.body.state.some((e) => e.type === 'm.room.name')).toBe(false);
      expect(r.body.state.find((e) => e.type === 'm.room.member' && e.state_key === '@bob:test.local')?.content.membership).toBe('leave');
    });
  });

  describe('GET /events', () => {
    it('streams a world_readable room to a non-member from a token', async () => {
      const roomId = await worldReadable();
      const snapshot = await initialSync(bob, roomId);
      const from = snapshot.body.messages.end;
      // Nothing new: an empty chunk right away with timeout=0, and the same position.
      const idle = await events(bob, roomId, `from=${enc(from)}&timeout=0`);
      expect(idle.status, JSON.stringify(idle.body)).toBe(200);
      expect(idle.body).toEqual({ start: from, end: from, chunk: [] });

      await say(alice, roomId, 'first');
      await say(alice, roomId, 'second');
      const page = await events(bob, roomId, `from=${enc(from)}&timeout=0`);
      expect(bodies(page.body.chunk)).toEqual(['first', 'second']);
      expect(page.body.chunk[0]).toMatchObject({ room_id: roomId, sender: '@alice:test.local' });
      expect(page.body.start).toBe(from);
      // Continuing from `end` gives only what came after.
      await say(alice, roomId, 'third');
      const next = await events(bob, roomId, `from=${enc(page.body.end)}&timeout=0`);
      expect(bodies(next.body.chunk)).toEqual(['third']);
    });

    it('waits for the next event, and gives up after the timeout', async () => {
      const roomId = await worldReadable();
      const from = (await initialSync(bob, roomId)).body.messages.end;
      const t0 = Date.now();
      const waiting = events(bob, roomId, `from=${enc(from)}&timeout=10000`);
      await new Promise((r) => setTimeout(r, 150));
      await say(alice, roomId, 'wake up');
      const woken = await waiting;
      expect(bodies(woken.body.chunk)).toEqual(['wake up']);
      expect(Date.now() - t0).toBeLessThan(5000);

      const t1 = Date.now();
      const timedOut = await events(bob, roomId, `from=${enc(woken.body.end)}&timeout=300`);
      expect(timedOut.body.chunk).toEqual([]);
      expect(Date.now() - t1).toBeGreaterThanOrEqual(250);
      // Without `from`, the stream starts now: earlier events are not repeated.
      const now = await events(bob, roomId, 'timeout=0');
      expect(now.body.chunk).toEqual([]);
    });

    it('serves members of rooms that are not world_readable, and nobody else', async () => {
      const roomId = await room({ preset: 'public_chat' });
      await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
      const from = (await initialSync(bob, roomId)).body.messages.end;
      await say(alice, roomId, 'for members');
      expect(bodies((await events(bob, roomId, `from=${enc(from)}&timeout=0`)).body.chunk)).toEqual(['for members']);
      const outsider = await events(eve, roomId, `from=${enc(from)}&timeout=0`);
      expect(outsider.status).toBe(403);
      expect(outsider.body).toMatchObject({ errcode: 'M_FORBIDDEN' });
      // Once the room stops being world_readable, peekers are refused.
      const readable = await worldReadable();
      expect((await events(eve, readable, 'timeout=0')).status).toBe(200);
      await alice.put(`/_matrix/client/v3/rooms/${enc(readable)}/state/m.room.history_visibility/`, { history_visibility: 'joined' });
      expect((await events(eve, readable, 'timeout=0')).status).toBe(403);
    });

    it('shows a peeker only the events whose history was world_readable', async () => {
      // Members see the events of a `joined` stretch; a peeker does not, even after the room
      // becomes world_readable again.
      const roomId = await worldReadable();
      await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
      const from = (await initialSync(eve, roomId)).body.messages.end;
      await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.history_visibility/`, { history_visibility: 'joined' });
      await say(alice, roomId, 'members only');
      await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.history_visibility/`, { history_visibility: 'world_readable' });
      await say(alice, roomId, 'public again');
      const peek = await events(eve, roomId, `from=${enc(from)}&timeout=0`);
      expect(bodies(peek.body.chunk)).toEqual(['public again']);
      // Both history_visibility changes are visible: each was world_readable before or after.
      expect(peek.body.chunk.filter((e) => e.type === 'm.room.history_visibility').map((e) => e.content.history_visibility)).toEqual(['joined', 'world_readable']);
      expect(bodies((await events(bob, roomId, `from=${enc(from)}&timeout=0`)).body.chunk)).toEqual(['members only', 'public again']);
    });

    it('rejects requests without room_id, with bad tokens, timeouts or room IDs', async () => {
      const roomId = await worldReadable();
      const missing = await bob.get('/_matrix/client/v3/events?timeout=0');
      expect(missing.status).toBe(400);
      expect(missing.body).toMatchObject({ errcode: 'M_MISSING_PARAM' });
      const badFrom = await events(bob, roomId, 'from=nonsense&timeout=0');
      expect(badFrom.status).toBe(400);
      expect(badFrom.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
      const badTimeout = await events(bob, roomId, 'timeout=soon');
      expect(badTimeout.status).toBe(400);
      expect(badTimeout.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
      const badRoom = await bob.get('/_matrix/client/v3/events?room_id=nope&timeout=0');
      expect(badRoom.status).toBe(400);
      expect(badRoom.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
      const noAuth = await bob.get(`/_matrix/client/v3/events?room_id=${enc(roomId)}&timeout=0`, { token: null });
      expect(noAuth.status).toBe(401);
    });
  });
});
