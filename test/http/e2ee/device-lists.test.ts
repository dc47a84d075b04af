// Device-list tracking on both databases: who must re-fetch whose keys (`changed`) and whom a
// client can stop tracking (`left`) after key uploads, device deletions and renames, cross-
// signing changes, joins and leaves; GET /keys/changes; and the notifier's 'device_lists' stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceListService, formatDeviceListToken, parseDeviceListToken } from '../../../src/services/e2ee/device-lists.js';
import { Notifier, type StreamChange } from '../../../src/services/notifier.js';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { createRoom, enc, join, leave, loginAgain, newDevice, signedDeviceKeys, newKey, upload, type Device } from './helpers.js';

describe('device-list tokens', () => {
  it('round-trip, and anything else is not one', () => {
    expect(parseDeviceListToken(formatDeviceListToken(0))).toBe(0);
    expect(parseDeviceListToken(formatDeviceListToken(12345))).toBe(12345);
    for (const bad of ['', 'dl_', 'dl_-1', 'dl_01', 'dl_1.5', '12', 's1_2_3', 'dl_99999999999999999999']) expect(parseDeviceListToken(bad)).toBeUndefined();
  });
});

describe.each(ENGINES)('E2EE device lists (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server?.close());

  const position = () => server.hs.deviceLists.currentPosition();
  const changes = (d: Device, since: number) => server.hs.deviceLists.changesSince(d.userId, since);

  it('a join makes the joiner and the members "changed" for each other; a stranger sees nothing', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    const carol = await newDevice(server);
    const roomId = await createRoom(alice.client);
    const p0 = await position();
    await join(bob.client, roomId);
    expect(await changes(alice, p0)).toEqual({ changed: [bob.userId], left: [] });
    expect(await changes(bob, p0)).toEqual({ changed: [alice.userId], left: [] });
    expect(await changes(carol, p0)).toEqual({ changed: [], left: [] });
    // Nothing after the latest position.
    expect(await changes(alice, await position())).toEqual({ changed: [], left: [] });
  });

  it('key changes reach the user and those who share a room with them, not others', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    const carol = await newDevice(server);
    await join(bob.client, await createRoom(alice.client));
    const p0 = await position();
    const phone = await loginAgain(server, bob);
    expect(await changes(alice, p0)).toEqual({ changed: [bob.userId], left: [] });
    expect(await changes(bob, p0)).toEqual({ changed: [bob.userId], left: [] });
    expect(await changes(carol, p0)).toEqual({ changed: [], left: [] });

    // Renaming a device with keys and deleting it are changes too (they show in keys/query).
    const p1 = await position();
    expect((await bob.client.put(`/_matrix/client/v3/devices/${phone.deviceId}`, { display_name: 'Phone' })).status).toBe(200);
    expect(await changes(alice, p1)).toEqual({ changed: [bob.userId], left: [] });
    const p2 = await position();
    await server.hs.accounts.deleteDevices(bob.userId, [phone.deviceId]);
    expect(await changes(alice, p2)).toEqual({ changed: [bob.userId], left: [] });

    // Renaming a device without keys, and one-time key uploads, change nothing.
    const noKeys = await loginAgain(server, bob, { upload: false });
    const p3 = await position();
    expect((await bob.client.put(`/_matrix/client/v3/devices/${noKeys.deviceId}`, { display_name: 'Tablet' })).status).toBe(200);
    await upload(bob, { one_time_keys: {} });
    expect(await position()).toBe(p3);
  });

  it('a leave puts users who no longer share any room in `left`, but not those still sharing another room', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    const carol = await newDevice(server);
    const room1 = await createRoom(alice.client);
    const room2 = await createRoom(alice.client);
    await join(bob.client, room1);
    await join(carol.client, room1);
    await join(carol.client, room2);
    const p0 = await position();
    await leave(bob.client, room1);
    await leave(carol.client, room1);
    // bob shares nothing with alice any more; carol still shares room2.
    expect(await changes(alice, p0)).toEqual({ changed: [], left: [bob.userId] });
    expect(await changes(bob, p0)).toEqual({ changed: [], left: [alice.userId, carol.userId].sort() });
    expect(await changes(carol, p0)).toEqual({ changed: [], left: [bob.userId] });

    // The leaver's own view after leaving the only room they shared with alice.
    const p1 = await position();
    await leave(alice.client, room2);
    expect(await changes(alice, p1)).toEqual({ changed: [], left: [carol.userId] });
    expect(await changes(carol, p1)).toEqual({ changed: [], left: [alice.userId] });

    // Joining again makes them "changed": their devices may have changed meanwhile.
    const p2 = await position();
    await join(alice.client, room2);
    expect(await changes(carol, p2)).toEqual({ changed: [alice.userId], left: [] });
    // Over the whole span, alice left and came back: carol is not "left".
    expect((await changes(carol, p1)).left).toEqual([]);
  });

  it('only joins count: an invite, a profile change and a rejected invite change nothing', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    const roomId = await createRoom(alice.client, { preset: 'private_chat' });
    const p0 = await position();
    expect((await alice.client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bob.userId })).status).toBe(200);
    expect((await alice.client.put(`/_matrix/client/v3/profile/${enc(alice.userId)}/displayname`, { displayname: 'Alice!' })).status).toBe(200);
    await leave(bob.client, roomId);
    expect(await position()).toBe(p0);
    expect(await changes(alice, p0)).toEqual({ changed: [], left: [] });
  });

  it('a user joining a room learns of everyone in it', async () => {
    const alice = await newDevice(server);
    const others = await Promise.all([newDevice(server), newDevice(server), newDevice(server)]);
    const roomId = await createRoom(alice.client);
    for (const o of others) await join(o.client, roomId);
    const newcomer = await newDevice(server);
    const p0 = await position();
    await join(newcomer.client, roomId);
    expect((await changes(newcomer, p0)).changed).toEqual([alice.userId, ...others.map((o) => o.userId)].sort());
  });

  it('joins persisted together are recorded together, none lost, and a leave in the same batch undoes a join', async () => {
    const alice = await newDevice(server);
    const roomId = await createRoom(alice.client);
    const joiners = await Promise.all(Array.from({ length: 12 }, () => newDevice(server)));
    const p0 = await position();
    await Promise.all(joiners.map((d) => join(d.client, roomId)));
    expect((await changes(alice, p0)).changed).toEqual(joiners.map((d) => d.userId).sort());
    const p1 = await position();
    await Promise.all(joiners.slice(0, 6).map((d) => leave(d.client, roomId)));
    expect(await changes(alice, p1)).toEqual({ changed: [], left: joiners.slice(0, 6).map((d) => d.userId).sort() });
    // Those who came and went since p0 are reported gone (the client may have started tracking them).
    expect(await changes(joiners[11], p0)).toEqual({
      changed: [alice.userId, ...joiners.slice(6, 11).map((d) => d.userId)].sort(), left: joiners.slice(0, 6).map((d) => d.userId).sort(),
    });
  });

  it('`to` bounds the changes reported', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    await join(bob.client, await createRoom(alice.client));
    const p0 = await position();
    await upload(bob, { device_keys: signedDeviceKeys(bob.userId, bob.deviceId, newKey()) });
    const p1 = await position();
    await upload(alice, { device_keys: signedDeviceKeys(alice.userId, alice.deviceId, newKey()) });
    expect((await server.hs.deviceLists.changesSince(alice.userId, p0, p1)).changed).toEqual([bob.userId]);
    expect((await server.hs.deviceLists.changesSince(alice.userId, p0)).changed).toEqual([alice.userId, bob.userId].sort());
  });

  describe('GET /keys/changes', () => {
    it('answers the changes between two tokens', async () => {
      const alice = await newDevice(server);
      const bob = await newDevice(server);
      const roomId = await createRoom(alice.client);
      const t0 = formatDeviceListToken(await position());
      await join(bob.client, roomId);
      const t1 = formatDeviceListToken(await position());
      const joined = await alice.client.get(`/_matrix/client/v3/keys/changes?from=${t0}&to=${t1}`);
      expect(joined.status).toBe(200);
      expect(joined.body).toEqual({ changed: [bob.userId], left: [] });
      await leave(bob.client, roomId);
      const t2 = formatDeviceListToken(await position());
      const left = await alice.client.get(`/_matrix/client/v3/keys/changes?from=${t1}&to=${t2}`);
      expect(left.body).toEqual({ changed: [], left: [bob.userId] });
      const empty = await alice.client.get(`/_matrix/client/v3/keys/changes?from=${t2}&to=${t2}`);
      expect(empty.body).toEqual({ changed: [], left: [] });
    });

    it('takes /sync tokens, and /sync reports the same changes in device_lists', async () => {
      const alice = await newDevice(server);
      const bob = await newDevice(server);
      const roomId = await createRoom(alice.client);
      type Sync = { next_batch: string; device_lists?: { changed: string[]; left: string[] }; device_one_time_keys_count: Record<string, number>; device_unused_fallback_key_types: string[] };
      const sync = async (since?: string) => {
        const r = await alice.client.get<Sync>(`/_matrix/client/v3/sync${since ? `?since=${enc(since)}&timeout=0` : ''}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body;
      };
      const s0 = await sync();
      expect(s0.device_lists).toBeUndefined();
      expect(s0.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
      expect(s0.device_unused_fallback_key_types).toEqual([]);
      await join(bob.client, roomId);
      const s1 = await sync(s0.next_batch);
      expect(s1.device_lists).toEqual({ changed: [bob.userId], left: [] });
      const r = await alice.client.get(`/_matrix/client/v3/keys/changes?from=${enc(s0.next_batch)}&to=${enc(s1.next_batch)}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ changed: [bob.userId], left: [] });
      await leave(bob.client, roomId);
      const s2 = await sync(s1.next_batch);
      expect(s2.device_lists).toEqual({ changed: [], left: [bob.userId] });
    });

    it('rejects missing or malformed tokens, and guests', async () => {
      const alice = await newDevice(server);
      for (const qs of ['from=dl_1', 'to=dl_1', 'from=garbage&to=dl_1', 'from=dl_1&to=dl_x']) {
        const r = await alice.client.get(`/_matrix/client/v3/keys/changes?${qs}`);
        expect(r.status, qs).toBe(400);
        expect(['M_MISSING_PARAM', 'M_INVALID_PARAM']).toContain(r.body.errcode);
      }
      const guest = await alice.client.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      const r = await alice.client.get('/_matrix/client/v3/keys/changes?from=dl_0&to=dl_0', { token: guest.body.access_token });
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    });
  });

  it('notifies the device_lists stream with the users who should see each change', async () => {
    const alice = await newDevice(server);
    const bob = await newDevice(server);
    const carol = await newDevice(server);
    const roomId = await createRoom(alice.client);
    await join(bob.client, roomId);
    await position(); // the join's change is recorded
    const seen: StreamChange[] = [];
    const unsubscribe = server.hs.notifier.subscribe((c) => { if (c.stream === 'device_lists') seen.push(c); });
    try {
      await upload(bob, { device_keys: signedDeviceKeys(bob.userId, bob.deviceId, newKey()) });
      await join(carol.client, roomId);
      await position();
      await leave(carol.client, roomId);
      await position();
    } finally {
      unsubscribe();
    }
    expect(seen).toHaveLength(3);
    expect([...(seen[0].users ?? [])].sort()).toEqual([alice.userId, bob.userId].sort());
    expect([...(seen[1].users ?? [])].sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
    expect([...(seen[2].users ?? [])].sort()).toEqual([alice.userId, bob.userId, carol.userId].sort());
    expect(seen[0].position).toBeLessThan(seen[1].position);
    expect(seen[1].position).toBeLessThan(seen[2].position);
    expect(await position()).toBe(seen[2].position);
  });

  it('positions survive a restart: a new service reads them back from the database', async () => {
    const alice = await newDevice(server);
    const before = await position();
    await upload(alice, { device_keys: signedDeviceKeys(alice.userId, alice.deviceId, newKey()) });
    const after = await position();
    expect(after).toBeGreaterThan(before);
    const fresh = new DeviceListService(server.hs.storage, new Notifier(), (err) => { throw err; });
    expect(await fresh.currentPosition()).toBe(after);
    expect((await fresh.changesSince(alice.userId, before)).changed).toEqual([alice.userId]);
  });
});
