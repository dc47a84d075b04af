// EDUs across two servers sharing a room: typing, read receipts, presence, device-list changes
// (and the keys/query and keys/claim they lead to, answered by the user's server), send-to-device;
// and EDUs a server sends for users that are not its own, which change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';
import { newKey, oneTimeKeys, signedDeviceKeys } from '../e2ee/helpers.js';

type User = { client: Client; userId: string; deviceId: string };
type Sync = {
  next_batch: string;
  rooms?: { join?: Record<string, { ephemeral?: { events: Array<{ type: string; content: Record<string, unknown> }> }; timeline?: { events: Array<{ event_id: string; content: Record<string, unknown> }> } }> };
  presence?: { events: Array<{ sender: string; content: Record<string, unknown> }> };
  device_lists?: { changed?: string[] };
};

// One server per engine available (PostgreSQL first when reachable).
const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

/** Syncs repeatedly (from where the last call ended) until `find` returns something. */
function syncer(u: User) {
  let since: string | undefined;
  return async <T>(find: (s: Sync) => T | undefined, what: string): Promise<T> => eventually(async () => {
    const r = await u.client.get<Sync>(`/_matrix/client/v3/sync?timeout=500${since ? `&since=${since}` : ''}`);
    if (r.status !== 200) return undefined;
    since = r.body.next_batch;
    return find(r.body);
  }, 15_000, what);
}

describe('EDUs across servers', () => {
  let a: FederatedServer;
  let b: FederatedServer;
  let alice: User;
  let bob: User;
  let roomId: string;
  let aliceSync: ReturnType<typeof syncer>;
  let bobSync: ReturnType<typeof syncer>;

  beforeAll(async () => {
    [a, b] = await startFederation([...engines], 2);
    [alice, bob] = await Promise.all([a.user('alice'), b.user('bob')]);
    roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const joined = await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    await eventually(async () => (await a.hs.storage.rooms.membership(roomId, bob.userId)) === 'join', 15_000, 'bob\'s join on A');
    aliceSync = syncer(alice);
    bobSync = syncer(bob);
    await aliceSync((s) => s, 'first sync');
    await bobSync((s) => s, 'first sync');
  }, 60_000);
  afterAll(async () => { await Promise.all([a?.close(), b?.close()]); });

  const typingIn = (s: Sync) => s.rooms?.join?.[roomId]?.ephemeral?.events.find((e) => e.type === 'm.typing')?.content.user_ids as string[] | undefined;

  it('typing notifications go both ways, start and stop', async () => {
    await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: true, timeout: 20_000 });
    expect(await bobSync((s) => (typingIn(s)?.includes(alice.userId) ? true : undefined), 'alice typing on B')).toBe(true);
    await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(alice.userId)}`, { typing: false });
    await bobSync((s) => (typingIn(s) && !typingIn(s)!.includes(alice.userId) ? true : undefined), 'alice stopping on B');
    await bob.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(bob.userId)}`, { typing: true, timeout: 20_000 });
    await aliceSync((s) => (typingIn(s)?.includes(bob.userId) ? true : undefined), 'bob typing on A');
  });

  it('read receipts go to the other server', async () => {
    const sent = await alice.client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/r1`, { msgtype: 'm.text', body: 'read me' });
    const eventId = sent.body.event_id;
    await eventually(async () => (await bob.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`)).status === 200, 15_000, 'the message on B');
    expect((await bob.client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {})).status).toBe(200);
    const receipt = await aliceSync((s) => {
      const r = s.rooms?.join?.[roomId]?.ephemeral?.events.find((e) => e.type === 'm.receipt');
      return (r?.content[eventId] as Record<string, Record<string, unknown>> | undefined)?.['m.read']?.[bob.userId];
    }, 'bob\'s receipt on A');
    expect(receipt).toMatchObject({ ts: expect.any(Number) });
  });

  it('presence changes reach the servers sharing a room', async () => {
    await alice.client.put(`/_matrix/client/v3/presence/${enc(alice.userId)}/status`, { presence: 'unavailable', status_msg: 'at lunch' });
    const p = await bobSync((s) => s.presence?.events.find((e) => e.sender === alice.userId && e.content.status_msg === 'at lunch'), 'alice\'s presence on B');
    expect(p.content.presence).toBe('unavailable');
    const status = await bob.client.get(`/_matrix/client/v3/presence/${enc(alice.userId)}/status`);
    expect(status.body).toMatchObject({ presence: 'unavailable', status_msg: 'at lunch' });
  });

  it('device keys uploaded on A show in B\'s device lists; keys/query and keys/claim reach A', async () => {
    const key = newKey();
    const deviceKeys = signedDeviceKeys(alice.userId, alice.deviceId, key);
    const otks = oneTimeKeys({ userId: alice.userId, deviceId: alice.deviceId, key }, 1);
    const up = await alice.client.post('/_matrix/client/v3/keys/upload', { device_keys: deviceKeys, one_time_keys: otks });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    await bobSync((s) => (s.device_lists?.changed?.includes(alice.userId) ? true : undefined), 'alice in B\'s changed device lists');

    const q = await bob.client.post<{ device_keys: Record<string, Record<string, Record<string, unknown>>>; failures: Record<string, unknown> }>('/_matrix/client/v3/keys/query', { device_keys: { [alice.userId]: [] } });
    expect(q.status).toBe(200);
    expect(q.body.failures).toEqual({});
    expect(q.body.device_keys[alice.userId]?.[alice.deviceId]).toMatchObject({ keys: deviceKeys.keys, signatures: deviceKeys.signatures });

    const claim = await bob.client.post<{ one_time_keys: Record<string, Record<string, Record<string, unknown>>>; failures: Record<string, unknown> }>('/_matrix/client/v3/keys/claim', {
      one_time_keys: { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } },
    });
    expect(claim.status).toBe(200);
    expect(claim.body.one_time_keys[alice.userId]?.[alice.deviceId]).toEqual(otks);

    // The device list as A serves it to other servers.
    const devices = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/user/devices/${enc(alice.userId)}`);
    expect(devices.status).toBe(200);
    expect(devices.body).toMatchObject({ user_id: alice.userId, stream_id: expect.any(Number) });
    expect(devices.body.devices).toEqual([{ device_id: alice.deviceId, keys: deviceKeys }]);
    expect((await signedFetch(b, a, 'GET', `/_matrix/federation/v1/user/devices/${enc(bob.userId)}`)).status).toBe(404);

    // A server that cannot be reached is a failure, not an error.
    const unreachable = await bob.client.post<{ failures: Record<string, unknown> }>('/_matrix/client/v3/keys/query', { device_keys: { '@x:127.0.0.1:1': [] }, timeout: 2000 });
    expect(unreachable.status).toBe(200);
    expect(unreachable.body.failures).toHaveProperty(['127.0.0.1:1']);
  });

  it('ignores EDUs a server sends for users that are not its own, or for rooms they are not in', async () => {
    const typing = (userId: string, room = roomId) => ({ edu_type: 'm.typing', content: { room_id: room, user_id: userId, typing: true } });
    const r = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/spoof1', {
      origin: b.serverName, origin_server_ts: Date.now(), pdus: [],
      edus: [
        typing(alice.userId), typing(`@nobody:${b.serverName}`), typing(bob.userId, '!elsewhere:x'),
        { edu_type: 'm.presence', content: { push: [{ user_id: alice.userId, presence: 'offline', status_msg: 'spoofed' }] } },
        { edu_type: 'm.receipt', content: { [roomId]: { 'm.read': { [alice.userId]: { event_ids: ['$x'], data: { ts: 1 } } } } } },
        { edu_type: 'made.up', content: {} }, 'not an object',
      ],
    });
    expect(r.status).toBe(200);
    expect(a.hs.typing.typingUsers(roomId)).not.toContain(alice.userId);
    expect(a.hs.typing.typingUsers(roomId)).not.toContain(`@nobody:${b.serverName}`);
    expect((await a.hs.presence.get(alice.userId)).statusMsg).toBe('at lunch');
  });
});
