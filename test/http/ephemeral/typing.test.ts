// PUT /rooms/{roomId}/typing/{userId} over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import type { StreamChange } from '../../../src/services/notifier.js';
import { createRoom, enc, eventually, join } from './helpers.js';

describe.each(ENGINES)('typing (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let roomId: string;
  const changes: StreamChange[] = [];
  const typingPath = (room: string, user: string) => `/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(user)}`;

  beforeAll(async () => {
    server = await startTestServer(engine);
    server.hs.notifier.subscribe((c) => { if (c.stream === 'typing') changes.push(c); });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    await carol.register('carol');
    roomId = await createRoom(alice);
    await join(bob, roomId);
  });
  afterAll(() => server.close());

  it('sets and clears typing, each change a new position notified for the room', async () => {
    const before = server.hs.typing.currentPosition();
    const start = changes.length;
    expect((await alice.put(typingPath(roomId, aliceId), { typing: true, timeout: 30_000 })).status).toBe(200);
    expect((await bob.put(typingPath(roomId, bobId), { typing: true, timeout: 30_000 })).status).toBe(200);
    expect(server.hs.typing.typingEvent(roomId)).toEqual({ type: 'm.typing', content: { user_ids: [aliceId, bobId].sort() } });
    const r = await alice.put(typingPath(roomId, aliceId), { typing: false });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({});
    expect(server.hs.typing.typingUsers(roomId)).toEqual([bobId]);
    const mine = changes.slice(start);
    expect(mine).toHaveLength(3);
    expect(mine.every((c) => c.rooms?.length === 1 && c.rooms[0] === roomId)).toBe(true);
    expect(mine[0].position).toBeGreaterThan(before);
    expect(mine[2].position).toBe(server.hs.typing.currentPosition());
    expect(server.hs.typing.changedRooms([roomId], before)).toEqual([roomId]);
    expect(server.hs.typing.changedRooms([roomId], server.hs.typing.currentPosition())).toEqual([]);
    await bob.put(typingPath(roomId, bobId), { typing: false });
  });

  it('expires typing after the timeout', async () => {
    expect((await bob.put(typingPath(roomId, bobId), { typing: true, timeout: 300 })).status).toBe(200);
    expect(server.hs.typing.typingUsers(roomId)).toEqual([bobId]);
    const position = server.hs.typing.currentPosition();
    await eventually(() => expect(server.hs.typing.typingUsers(roomId)).toEqual([]));
    expect(server.hs.typing.currentPosition()).toBeGreaterThan(position);
    expect(changes.at(-1)).toMatchObject({ stream: 'typing', rooms: [roomId] });
  });

  it('uses a 30 second timeout when typing: true comes without one', async () => {
    expect((await bob.put(typingPath(roomId, bobId), { typing: true })).status).toBe(200);
    expect(server.hs.typing.typingUsers(roomId)).toEqual([bobId]);
    await bob.put(typingPath(roomId, bobId), { typing: false });
    expect(server.hs.typing.typingUsers(roomId)).toEqual([]);
  });

  it('a member who leaves stops typing', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    await bob.put(typingPath(room, bobId), { typing: true, timeout: 30_000 });
    expect(server.hs.typing.typingUsers(room)).toEqual([bobId]);
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(room)}/leave`, {})).status).toBe(200);
    expect(server.hs.typing.typingUsers(room)).toEqual([]);
  });

  it('refuses typing for someone else, or in a room the user is not joined to, and changes nothing', async () => {
    const position = server.hs.typing.currentPosition();
    const forBob = await alice.put(typingPath(roomId, bobId), { typing: true, timeout: 30_000 });
    expect(forBob.status).toBe(403);
    expect(forBob.body.errcode).toBe('M_FORBIDDEN');
    const carolId = '@carol:test.local';
    const notJoined = await carol.put(typingPath(roomId, carolId), { typing: true, timeout: 30_000 });
    expect(notJoined.status).toBe(403);
    expect(notJoined.body.errcode).toBe('M_FORBIDDEN');
    const noRoom = await alice.put(typingPath('!nowhere:test.local', aliceId), { typing: true, timeout: 30_000 });
    expect(noRoom.status).toBe(403);
    expect(server.hs.typing.typingUsers(roomId)).toEqual([]);
    expect(server.hs.typing.currentPosition()).toBe(position);
  });

  it('rejects bad input with a Matrix error', async () => {
    const position = server.hs.typing.currentPosition();
    const cases: Array<[string, unknown, number, string]> = [
      [typingPath(roomId, aliceId), {}, 400, 'M_MISSING_PARAM'],
      [typingPath(roomId, aliceId), { typing: 'yes' }, 400, 'M_BAD_JSON'],
      [typingPath(roomId, aliceId), { typing: true, timeout: -1 }, 400, 'M_BAD_JSON'],
      [typingPath(roomId, aliceId), { typing: true, timeout: 1.5 }, 400, 'M_BAD_JSON'],
      [typingPath('not-a-room', aliceId), { typing: true }, 400, 'M_INVALID_PARAM'],
    ];
    for (const [path, body, status, errcode] of cases) {
      const r = await alice.put(path, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.errcode).toBe(errcode);
    }
    expect(server.hs.typing.typingUsers(roomId)).toEqual([]);
    expect(server.hs.typing.currentPosition()).toBe(position);
  });

  it('needs an access token and is not for guests', async () => {
    expect((await alice.put(typingPath(roomId, aliceId), { typing: true }, { token: null })).status).toBe(401);
    const guest = await new Client(server.baseUrl).post<{ user_id: string; access_token: string }>('/_matrix/client/v3/register?kind=guest', {});
    expect(guest.status).toBe(200);
    const r = await alice.put(typingPath(roomId, guest.body.user_id), { typing: true }, { token: guest.body.access_token });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });
});
