// The end-to-end encryption parts of /sync: to-device messages (delivered to each device, again
// when the response carrying them was lost, never after the next sync acknowledged them; a
// long-poll woken by one), device_lists.changed/left, one-time key counts and fallback key types.
// spec: client-server-api modules/send_to_device, modules/end_to_end_encryption "Extensions to /sync"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { loginAgain, newDevice, oneTimeKeys, upload, type Device } from '../e2ee/helpers.js';
import { createRoom, enc, eventually, join, sync } from './helpers.js';

describe.each(ENGINES)('/sync end-to-end encryption (%s)', (engine) => {
  let server: TestServer;
  let alice: Device;
  let bob: Device;
  let txn = 0;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = await newDevice(server, 'alice');
    bob = await newDevice(server, 'bob');
  });
  afterAll(() => server.close());

  const sendToDevice = async (from: Device, messages: Record<string, Record<string, unknown>>, type = 'org.example.secret') => {
    const r = await from.client.put(`/_matrix/client/v3/sendToDevice/${enc(type)}/t${++txn}`, { messages });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  it('delivers a to-device message to its device, again if the response was lost, and not after it was acknowledged', async () => {
    const s0 = await sync(alice.client);
    await sendToDevice(bob, { [alice.userId]: { [alice.deviceId]: { n: 1 } } });
    const s1 = await sync(alice.client, { since: s0.next_batch });
    expect(s1.to_device?.events).toEqual([{ sender: bob.userId, type: 'org.example.secret', content: { n: 1 } }]);
    // The response was lost: the same token gets the same message.
    const again = await sync(alice.client, { since: s0.next_batch });
    expect(again.to_device?.events).toEqual(s1.to_device?.events);
    // The next token acknowledges it: gone for good.
    const s2 = await sync(alice.client, { since: again.next_batch });
    expect(s2.to_device?.events).toEqual([]);
    expect((await sync(alice.client, { since: s0.next_batch })).to_device?.events).toEqual([]);
  });

  it('delivers to the addressed device only, and to every device for *', async () => {
    const second = await loginAgain(server, alice);
    const a0 = await sync(alice.client);
    const b0 = await sync(second.client);
    await sendToDevice(bob, { [alice.userId]: { [second.deviceId]: { only: 'second' } } });
    expect((await sync(alice.client, { since: a0.next_batch })).to_device?.events).toEqual([]);
    const b1 = await sync(second.client, { since: b0.next_batch });
    expect(b1.to_device?.events.map((e) => e.content)).toEqual([{ only: 'second' }]);
    await sendToDevice(bob, { [alice.userId]: { '*': { all: true } } });
    expect((await sync(alice.client, { since: a0.next_batch })).to_device?.events.map((e) => e.content)).toEqual([{ all: true }]);
    expect((await sync(second.client, { since: b1.next_batch })).to_device?.events.map((e) => e.content)).toEqual([{ all: true }]);
  });

  it('wakes a long-poll for a to-device message', async () => {
    const since = (await sync(alice.client)).next_batch;
    const waiting = server.hs.sync.waiting;
    const p = sync(alice.client, { since, timeout: 25_000 });
    await eventually(() => expect(server.hs.sync.waiting).toBe(waiting + 1));
    await sendToDevice(bob, { [alice.userId]: { [alice.deviceId]: { wake: true } } });
    expect((await p).to_device?.events.map((e) => e.content)).toEqual([{ wake: true }]);
  });

  it('lists users whose devices changed, and users no longer sharing a room, in incremental syncs only', async () => {
    const carol = await newDevice(server, 'carol');
    const room = await createRoom(alice.client);
    await join(carol.client, room);
    const s0 = await sync(alice.client);
    expect(s0.device_lists).toBeUndefined();
    // Carol gets a new device: alice, who shares a room with her, hears of it.
    await loginAgain(server, carol);
    const s1 = await sync(alice.client, { since: s0.next_batch });
    expect(s1.device_lists?.changed).toContain(carol.userId);
    await carol.client.post(`/_matrix/client/v3/rooms/${enc(room)}/leave`, {});
    const s2 = await sync(alice.client, { since: s1.next_batch });
    expect(s2.device_lists?.left).toContain(carol.userId);
  });

  it('counts one-time keys and lists unused fallback key types', async () => {
    const dave = await newDevice(server, 'dave');
    const s0 = await sync(dave.client);
    expect(s0.device_one_time_keys_count).toEqual({ signed_curve25519: 0 });
    expect(s0.device_unused_fallback_key_types).toEqual([]);
    await upload(dave, { one_time_keys: oneTimeKeys(dave, 3), fallback_keys: oneTimeKeys(dave, 1, 'FB', true) });
    const s1 = await sync(dave.client, { since: s0.next_batch });
    expect(s1.device_one_time_keys_count).toEqual({ signed_curve25519: 3 });
    expect(s1.device_unused_fallback_key_types).toEqual(['signed_curve25519']);
  });
});
