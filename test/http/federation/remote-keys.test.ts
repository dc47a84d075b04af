// The cache of other servers' users' keys (services/federation/remote-keys.ts), across real
// servers: keys/query for a user we share a room with is answered once by their server and then
// from the cache; their first device update (m.device_list_update without a prev_id) makes the
// next query ask again, while the updates that follow on from it (a new device, a deleted one) are
// applied to the cache without asking, and one naming an unknown prev_id makes the next query ask;
// users we share no room with are always asked live; a stale entry answers while their server is down;
// updates for another server's users are ignored; a leave drops the entry.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import { PASSWORD_AUTH, enc, leave, loginAgain, newCrossSigning, newDevice, query, type Device } from '../e2ee/helpers.js';

// A on PostgreSQL when it is reachable, B and C on SQLite.
const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite', 'sqlite'] as const : ['sqlite'] as const;
const KEYS_QUERY = '/_matrix/federation/v1/user/keys/query';

describe('cached keys of remote users', () => {
  let a: FederatedServer;
  let b: FederatedServer;
  let c: FederatedServer;
  let alice: Device;
  let bob: Device;
  let carol: Device;
  let roomId: string;
  let bob2Id: string;
  let bob3Id: string;
  /** keys/query requests A has sent. */
  let asked = 0;

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob, carol] = await Promise.all([newDevice(a), newDevice(b), newDevice(b)]);
    const cs = await bob.client.post('/_matrix/client/v3/keys/device_signing/upload', newCrossSigning(bob.userId).body);
    expect(cs.status, JSON.stringify(cs.body)).toBe(200);
    roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const joined = await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    await eventually(async () => (await a.hs.storage.rooms.membership(roomId, bob.userId)) === 'join', 15_000, 'bob\'s join on A');
    const request = a.hs.federationClient.request.bind(a.hs.federationClient);
    vi.spyOn(a.hs.federationClient, 'request').mockImplementation((server, method, path, opts) => {
      if (path === KEYS_QUERY) asked++;
      return request(server, method, path, opts);
    });
  }, 60_000);
  afterAll(async () => { await Promise.all([a?.close(), b?.close(), c?.close()]); });

  it('answers a user we share a room with from the cache after the first query', async () => {
    const first = await query(alice, { [bob.userId]: [] });
    expect(first.failures).toEqual({});
    expect(Object.keys(first.device_keys[bob.userId] ?? {})).toEqual([bob.deviceId]);
    expect(first.device_keys[bob.userId]![bob.deviceId]).toMatchObject({ keys: bob.deviceKeys.keys, signatures: bob.deviceKeys.signatures });
    expect(first.master_keys[bob.userId]).toMatchObject({ user_id: bob.userId, usage: ['master'] });
    expect(first.self_signing_keys[bob.userId]).toMatchObject({ user_id: bob.userId, usage: ['self_signing'] });
    const before = asked;
    const second = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before);
    expect(second.device_keys).toEqual(first.device_keys);
    expect(second.master_keys).toEqual(first.master_keys);
    expect(second.self_signing_keys).toEqual(first.self_signing_keys);
    // Some devices only: cut from the cache.
    expect(Object.keys((await query(alice, { [bob.userId]: [bob.deviceId, 'NOSUCH'] })).device_keys[bob.userId] ?? {})).toEqual([bob.deviceId]);
    expect(asked).toBe(before);
  });

  it('a new device of theirs (the first m.device_list_update, no prev_id) makes the next query ask their server', async () => {
    const bob2 = await loginAgain(b, bob);
    bob2Id = bob2.deviceId;
    await eventually(async () => (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale, 15_000, 'the update on A');
    const before = asked;
    const r = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before + 1);
    expect(Object.keys(r.device_keys[bob.userId] ?? {}).sort()).toEqual([bob.deviceId, bob2.deviceId].sort());
    expect(r.device_keys[bob.userId]![bob2.deviceId]).toMatchObject({ keys: bob2.deviceKeys.keys });
    await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before + 1);
  });

  it('applies a further new device from the update alone, without asking their server', async () => {
    const before = asked;
    const bob3 = await loginAgain(b, bob);
    await eventually(async () => (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.devices.has(bob3.deviceId), 15_000, 'the update applied on A');
    const entry = (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)!;
    expect(entry.stale).toBe(false);
    const r = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before);
    expect(Object.keys(r.device_keys[bob.userId] ?? {}).sort()).toEqual([bob.deviceId, bob2Id, bob3.deviceId].sort());
    expect(r.device_keys[bob.userId]![bob3.deviceId]).toMatchObject({ user_id: bob.userId, device_id: bob3.deviceId, keys: bob3.deviceKeys.keys, signatures: bob3.deviceKeys.signatures });
    bob3Id = bob3.deviceId;
  });

  it('applies a deleted device from the update alone, without asking their server', async () => {
    const before = asked;
    const path = `/_matrix/client/v3/devices/${enc(bob3Id)}`;
    const challenge = await bob.client.delete<{ session: string }>(path, {});
    expect(challenge.status).toBe(401);
    const del = await bob.client.delete(path, { auth: { ...PASSWORD_AUTH(bob.userId), session: challenge.body.session } });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    await eventually(async () => (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.devices.has(bob3Id) === false, 15_000, 'the deletion applied on A');
    const r = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before);
    expect(Object.keys(r.device_keys[bob.userId] ?? {}).sort()).toEqual([bob.deviceId, bob2Id].sort());
  });

  it('applies two devices deleted at once (two updates, each with its own stream_id), without asking their server', async () => {
    const [bob4, bob5] = [await loginAgain(b, bob), await loginAgain(b, bob)];
    await eventually(async () => {
      const entry = (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId);
      return entry?.devices.has(bob4.deviceId) && entry.devices.has(bob5.deviceId);
    }, 15_000, 'the new devices applied on A');
    const before = asked;
    const ids = [bob4.deviceId, bob5.deviceId];
    const challenge = await bob.client.post<{ session: string }>('/_matrix/client/v3/delete_devices', { devices: ids });
    expect(challenge.status).toBe(401);
    const del = await bob.client.post('/_matrix/client/v3/delete_devices', { devices: ids, auth: { ...PASSWORD_AUTH(bob.userId), session: challenge.body.session } });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    await eventually(async () => {
      const entry = (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId);
      return entry !== undefined && (entry.stale || (!entry.devices.has(bob4.deviceId) && !entry.devices.has(bob5.deviceId)));
    }, 15_000, 'the deletions on A');
    expect((await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale).toBe(false);
    const r = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before);
    expect(Object.keys(r.device_keys[bob.userId] ?? {}).sort()).toEqual([bob.deviceId, bob2Id].sort());
  });

  it('an update naming a prev_id it does not know makes the next query ask their server', async () => {
    const position = (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)!.deviceListStreamId!;
    const fake = { user_id: bob.userId, device_id: 'LOSTONE', algorithms: ['m.olm.v1.curve25519-aes-sha2'], keys: { 'ed25519:LOSTONE': 'x' }, signatures: {} };
    const r = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/dl-gap', {
      origin: b.serverName, origin_server_ts: Date.now(), pdus: [],
      edus: [{ edu_type: 'm.device_list_update', content: { user_id: bob.userId, device_id: 'LOSTONE', stream_id: position + 1_000_000, prev_id: [position + 999_999], keys: fake } }],
    });
    expect(r.status).toBe(200);
    const entry = (await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)!;
    expect(entry.stale).toBe(true);
    expect(entry.devices.has('LOSTONE')).toBe(false);
    const before = asked;
    const answer = await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before + 1);
    expect(Object.keys(answer.device_keys[bob.userId] ?? {}).sort()).toEqual([bob.deviceId, bob2Id].sort());
    expect((await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale).toBe(false);
  });

  it('always asks live for a user we share no room with, and caches nothing for them', async () => {
    const before = asked;
    for (let i = 0; i < 2; i++) {
      const r = await query(alice, { [carol.userId]: [] });
      expect(Object.keys(r.device_keys[carol.userId] ?? {})).toEqual([carol.deviceId]);
    }
    expect(asked).toBe(before + 2);
    expect((await a.hs.storage.remoteKeys.get([carol.userId])).size).toBe(0);
  });

  it('ignores key updates a server sends for users of another server', async () => {
    const r = await signedFetch(c, a, 'PUT', '/_matrix/federation/v1/send/forged-dl', {
      origin: c.serverName, origin_server_ts: Date.now(), pdus: [],
      edus: [
        { edu_type: 'm.device_list_update', content: { user_id: bob.userId, device_id: 'EVIL', stream_id: 1, prev_id: [], deleted: true } },
        { edu_type: 'm.signing_key_update', content: { user_id: bob.userId } },
      ],
    });
    expect(r.status).toBe(200);
    expect((await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale).toBe(false);
    const before = asked;
    await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before);
  });

  it('answers from the cache while their server is down, a stale entry too; users without one are failures', async () => {
    const cached = await query(alice, { [bob.userId]: [] });
    await b.stop();
    try {
      const fresh = await alice.client.post<{ device_keys: Record<string, unknown>; failures: Record<string, unknown> }>('/_matrix/client/v3/keys/query', {
        device_keys: { [bob.userId]: [] }, timeout: 3000,
      });
      expect(fresh.body.failures).toEqual({});
      expect(fresh.body.device_keys).toEqual(cached.device_keys);

      // B's update (signed by B, which A already trusts) makes the entry stale; B cannot answer the refetch.
      const r = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/dl-while-down', {
        origin: b.serverName, origin_server_ts: Date.now(), pdus: [],
        edus: [{ edu_type: 'm.signing_key_update', content: { user_id: bob.userId } }],
      });
      expect(r.status).toBe(200);
      expect((await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale).toBe(true);
      const before = asked;
      const stale = await alice.client.post<{ device_keys: Record<string, unknown>; master_keys: Record<string, unknown>; failures: Record<string, unknown> }>('/_matrix/client/v3/keys/query', {
        device_keys: { [bob.userId]: [] }, timeout: 3000,
      });
      expect(asked).toBe(before + 1);
      expect(stale.body.failures).toEqual({});
      expect(stale.body.device_keys).toEqual(cached.device_keys);
      expect(stale.body.master_keys).toEqual(cached.master_keys);

      const none = await alice.client.post<{ device_keys: Record<string, unknown>; failures: Record<string, unknown> }>('/_matrix/client/v3/keys/query', {
        device_keys: { [carol.userId]: [] }, timeout: 3000,
      });
      expect(none.body.failures).toHaveProperty([b.serverName]);
      expect(none.body.device_keys).not.toHaveProperty([carol.userId]);
    } finally {
      await b.start();
    }
  }, 30_000);

  it('drops the entry once we share no room with them, and asks live again', async () => {
    // B is back: the stale entry is refreshed.
    await eventually(async () => Object.keys((await query(alice, { [bob.userId]: [] })).device_keys[bob.userId] ?? {}).length === 2, 15_000, 'bob\'s keys from B');
    expect((await a.hs.storage.remoteKeys.get([bob.userId])).get(bob.userId)?.stale).toBe(false);
    await leave(bob.client, roomId);
    await eventually(async () => (await a.hs.storage.remoteKeys.get([bob.userId])).size === 0, 15_000, 'the entry dropped on A');
    const before = asked;
    await query(alice, { [bob.userId]: [] });
    await query(alice, { [bob.userId]: [] });
    expect(asked).toBe(before + 2);
  }, 30_000);
});
