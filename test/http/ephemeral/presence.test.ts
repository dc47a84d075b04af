// GET/PUT /presence/{userId}/status over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import type { StreamChange } from '../../../src/services/notifier.js';
import { createRoom, enc, eventually, join, send, sleep } from './helpers.js';

const statusPath = (userId: string) => `/_matrix/client/v3/presence/${enc(userId)}/status`;

describe.each(ENGINES)('presence (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let carolId: string;
  const changes: StreamChange[] = [];

  beforeAll(async () => {
    server = await startTestServer(engine);
    server.hs.notifier.subscribe((c) => { if (c.stream === 'presence') changes.push(c); });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    carolId = (await carol.register('carol')).user_id;
    const roomId = await createRoom(alice);
    await join(bob, roomId);
  });
  afterAll(() => server.close());

  it('a user who never set presence is offline', async () => {
    const r = await carol.get(statusPath(carolId));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ presence: 'offline' });
  });

  it('sets presence and a status message; the owner and room-mates read it', async () => {
    const before = await server.hs.presence.currentPosition();
    const put = await alice.put(statusPath(aliceId), { presence: 'online', status_msg: 'In a meeting' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({});
    for (const reader of [alice, bob]) {
      const r = await reader.get<{ presence: string; status_msg?: string; last_active_ago?: number; currently_active?: boolean }>(statusPath(aliceId));
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ presence: 'online', status_msg: 'In a meeting', currently_active: true });
      expect(r.body.last_active_ago).toBeGreaterThanOrEqual(0);
      expect(r.body.last_active_ago).toBeLessThan(5_000);
    }
    const position = await server.hs.presence.currentPosition();
    expect(position).toBeGreaterThan(before);
    expect(changes.at(-1)).toEqual({ stream: 'presence', position, users: [aliceId] });
  });

  it('last_active_ago grows while the user does nothing', async () => {
    await bob.put(statusPath(bobId), { presence: 'online' });
    await sleep(150);
    const r = await alice.get<{ last_active_ago: number }>(statusPath(bobId));
    expect(r.body.last_active_ago).toBeGreaterThanOrEqual(150);
  });

  it('a new state without status_msg clears it; setting the same state again is not a change', async () => {
    expect((await alice.put(statusPath(aliceId), { presence: 'unavailable' })).status).toBe(200);
    const r = await bob.get(statusPath(aliceId));
    expect(r.body.presence).toBe('unavailable');
    expect(r.body).not.toHaveProperty('status_msg');
    expect(r.body).not.toHaveProperty('currently_active');
    expect(r.body).toHaveProperty('last_active_ago');
    const position = await server.hs.presence.currentPosition();
    expect((await alice.put(statusPath(aliceId), { presence: 'unavailable' })).status).toBe(200);
    expect(await server.hs.presence.currentPosition()).toBe(position);
    expect((await alice.put(statusPath(aliceId), { presence: 'offline', status_msg: 'Away' })).status).toBe(200);
    expect((await bob.get(statusPath(aliceId))).body).toMatchObject({ presence: 'offline', status_msg: 'Away' });
  });

  it('is forbidden to read for users who share no room, and to set for someone else', async () => {
    const read = await carol.get(statusPath(aliceId));
    expect(read.status).toBe(403);
    expect(read.body.errcode).toBe('M_FORBIDDEN');
    const unknown = await carol.get(statusPath('@nobody:test.local'));
    expect(unknown.status).toBe(403);
    const position = await server.hs.presence.currentPosition();
    const put = await bob.put(statusPath(aliceId), { presence: 'online' });
    expect(put.status).toBe(403);
    expect(put.body.errcode).toBe('M_FORBIDDEN');
    expect(await server.hs.presence.currentPosition()).toBe(position);
    expect((await alice.get(statusPath(aliceId))).body.presence).toBe('offline');
  });

  it('rejects bad input with a Matrix error and changes nothing', async () => {
    await carol.put(statusPath(carolId), { presence: 'online', status_msg: 'here' });
    const position = await server.hs.presence.currentPosition();
    const cases: Array<[string, unknown, string]> = [
      [statusPath(carolId), {}, 'M_MISSING_PARAM'],
      [statusPath(carolId), { presence: 'busy' }, 'M_BAD_JSON'],
      [statusPath(carolId), { presence: 'online', status_msg: 5 }, 'M_BAD_JSON'],
      [statusPath('not-a-user'), { presence: 'online' }, 'M_INVALID_PARAM'],
    ];
    for (const [path, body, errcode] of cases) {
      const r = await carol.put(path, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode).toBe(errcode);
    }
    const get = await carol.get(statusPath('not-a-user'));
    expect(get.status).toBe(400);
    expect(get.body.errcode).toBe('M_INVALID_PARAM');
    expect(await server.hs.presence.currentPosition()).toBe(position);
    expect((await carol.get(statusPath(carolId))).body).toMatchObject({ presence: 'online', status_msg: 'here' });
  });

  it('needs an access token and is not for guests', async () => {
    expect((await alice.get(statusPath(aliceId), { token: null })).status).toBe(401);
    const guest = await new Client(server.baseUrl).post<{ user_id: string; access_token: string }>('/_matrix/client/v3/register?kind=guest', {});
    const r = await alice.put(statusPath(guest.body.user_id), { presence: 'online' }, { token: guest.body.access_token });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });
});

describe.each(ENGINES)('presence idle timeout (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let roomId: string;
  const changes: StreamChange[] = [];

  beforeAll(async () => {
    server = await startTestServer(engine, { presence: { enabled: true, idle_timeout_ms: 300 } });
    server.hs.notifier.subscribe((c) => { if (c.stream === 'presence') changes.push(c); });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    await bob.register('bob');
    roomId = await createRoom(alice);
    await join(bob, roomId);
  });
  afterAll(() => server.close());

  it('an idle online user becomes unavailable by themselves, and activity brings them back', async () => {
    await alice.put(statusPath(aliceId), { presence: 'online', status_msg: 'working' });
    const online = await server.hs.presence.currentPosition();
    // The server notices without anyone asking.
    await eventually(() => expect(changes.at(-1)?.position ?? 0).toBeGreaterThan(online));
    expect(changes.at(-1)?.users).toEqual([aliceId]);
    const idle = await bob.get<{ presence: string; status_msg: string; last_active_ago: number }>(statusPath(aliceId));
    expect(idle.body.presence).toBe('unavailable');
    expect(idle.body.status_msg).toBe('working');
    expect(idle.body.last_active_ago).toBeGreaterThanOrEqual(300);
    // Sending a message is activity.
    await send(alice, roomId, { msgtype: 'm.text', body: 'back' });
    await eventually(async () => expect((await bob.get(statusPath(aliceId))).body).toMatchObject({ presence: 'online', currently_active: true }));
    expect((await bob.get<{ last_active_ago: number }>(statusPath(aliceId))).body.last_active_ago).toBeLessThan(300);
  });

  it('typing is activity too', async () => {
    await eventually(async () => expect((await bob.get(statusPath(aliceId))).body.presence).toBe('unavailable'));
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(aliceId)}`, { typing: true, timeout: 1000 });
    expect(r.status).toBe(200);
    expect((await bob.get(statusPath(aliceId))).body.presence).toBe('online');
  });

  it('an explicitly offline user stays offline when active', async () => {
    await alice.put(statusPath(aliceId), { presence: 'offline' });
    await send(alice, roomId, { msgtype: 'm.text', body: 'still here' });
    await sleep(50);
    expect((await bob.get(statusPath(aliceId))).body.presence).toBe('offline');
  });
});

describe.each(ENGINES)('presence disabled (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;

  beforeAll(async () => {
    server = await startTestServer(engine, { presence: { enabled: false } });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    await bob.register('bob');
  });
  afterAll(() => server.close());

  it('accepts and ignores presence, and reports everyone offline', async () => {
    const put = await alice.put(statusPath(aliceId), { presence: 'online', status_msg: 'hello' });
    expect(put.status).toBe(200);
    expect((await alice.get(statusPath(aliceId))).body).toEqual({ presence: 'offline' });
    // No shared room, yet no 403: there is nothing to hide (as in Synapse).
    expect((await bob.get(statusPath(aliceId))).body).toEqual({ presence: 'offline' });
    expect(await server.hs.presence.currentPosition()).toBe(0);
    expect(await server.hs.presence.presenceSince(aliceId, 0)).toEqual([]);
  });

  it('still refuses to set someone else\'s presence', async () => {
    expect((await bob.put(statusPath(aliceId), { presence: 'online' })).status).toBe(403);
  });
});
