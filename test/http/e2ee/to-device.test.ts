// Send-to-device messaging on both databases: PUT /sendToDevice (targets, the `*` wildcard,
// transaction idempotency, bad input) and the to-device stream /sync reads (hs.toDevice):
// delivery in order, exactly once per device, deletion only on acknowledgement.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToDeviceService } from '../../../src/services/e2ee/to-device.js';
import { Notifier, type StreamChange } from '../../../src/services/notifier.js';
import { Client } from '../../helpers/client.js';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { enc, loginAgain, newDevice, type Device, type Json } from './helpers.js';

describe.each(ENGINES)('E2EE send-to-device (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server?.close());

  let txn = 0;
  async function send(from: Device, type: string, messages: Record<string, Record<string, Json>>, txnId = `t${++txn}`): Promise<void> {
    const r = await from.client.put(`/_matrix/client/v3/sendToDevice/${enc(type)}/${enc(txnId)}`, { messages });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({});
  }
  const inbox = (d: Device, since = 0, limit?: number) => server.hs.toDevice.messagesFor(d.userId, d.deviceId, since, limit);

  it('delivers a message to the device it names, in the to-device format, and keeps it until acknowledged', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const bob2 = await loginAgain(server, bob, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    await send(alice, 'm.test', { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    await send(alice, 'm.test', { [bob.userId]: { [bob.deviceId]: { n: 2 } } });
    const first = await inbox(bob, start);
    expect(first.events).toEqual([
      { sender: alice.userId, type: 'm.test', content: { n: 1 } },
      { sender: alice.userId, type: 'm.test', content: { n: 2 } },
    ]);
    expect(first.position).toBe(await server.hs.toDevice.currentPosition());
    expect((await inbox(bob2, start)).events).toEqual([]);
    // The response was lost: the client asks again from the same position and gets the same messages.
    expect((await inbox(bob, start)).events).toEqual(first.events);
    // Its next request acknowledges them: they are gone, even from the old position.
    await server.hs.toDevice.acknowledge(bob.userId, bob.deviceId, first.position);
    expect((await inbox(bob, first.position)).events).toEqual([]);
    expect((await inbox(bob, start)).events).toEqual([]);
  });

  it('acknowledging up to a position keeps the later messages', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    for (let i = 0; i < 5; i++) await send(alice, 'm.test', { [bob.userId]: { [bob.deviceId]: { i } } });
    const page1 = await inbox(bob, start, 2);
    expect(page1.events.map((e) => e.content.i)).toEqual([0, 1]);
    const page2 = await inbox(bob, page1.position, 2);
    expect(page2.events.map((e) => e.content.i)).toEqual([2, 3]);
    await server.hs.toDevice.acknowledge(bob.userId, bob.deviceId, page1.position);
    expect((await inbox(bob, start)).events.map((e) => e.content.i)).toEqual([2, 3, 4]);
    const rest = await inbox(bob, page2.position, 2);
    expect(rest.events.map((e) => e.content.i)).toEqual([4]);
    expect(rest.position).toBe(await server.hs.toDevice.currentPosition());
  });

  it('`*` sends to every device of the user; a device named as well gets its own message', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const bob2 = await loginAgain(server, bob, { upload: false });
    const bob3 = await loginAgain(server, bob, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    await send(alice, 'm.room_key_request', { [bob.userId]: { '*': { to: 'all' }, [bob3.deviceId]: { to: 'three' } } });
    expect((await inbox(bob, start)).events.map((e) => e.content)).toEqual([{ to: 'all' }]);
    expect((await inbox(bob2, start)).events.map((e) => e.content)).toEqual([{ to: 'all' }]);
    expect((await inbox(bob3, start)).events.map((e) => e.content)).toEqual([{ to: 'three' }]);
  });

  it('a repeated transaction is sent once; the same ID from another device or for another type is a new request', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const alice2 = await loginAgain(server, alice, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    const msg = { [bob.userId]: { [bob.deviceId]: { hello: true } } };
    await send(alice, 'm.test', msg, 'same');
    await send(alice, 'm.test', msg, 'same');
    // Concurrent repeats too.
    await Promise.all(Array.from({ length: 5 }, () => send(alice, 'm.test', msg, 'concurrent')));
    await send(alice2, 'm.test', msg, 'same');
    await send(alice, 'm.other', msg, 'same');
    const got = await inbox(bob, start);
    expect(got.events.map((e) => `${e.type}`)).toEqual(['m.test', 'm.test', 'm.test', 'm.other']);
  });

  it('ignores unknown users and devices and (until federation) remote users', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    await send(alice, 'm.test', {
      '@nobody:test.local': { X: {} }, '@someone:remote.example': { '*': {} }, [bob.userId]: { NOSUCHDEVICE: {} },
    });
    expect(await server.hs.toDevice.currentPosition()).toBe(start);
  });

  it('rejects bad input and stores nothing', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    const cases: Array<[unknown, string]> = [
      [{}, 'M_MISSING_PARAM'],
      [{ messages: [] }, 'M_BAD_JSON'],
      [{ messages: { 'not a user': { D: {} } } }, 'M_INVALID_PARAM'],
      [{ messages: { [bob.userId]: { [bob.deviceId]: {} }, 'not a user': { D: {} } } }, 'M_INVALID_PARAM'],
      [{ messages: { [bob.userId]: { [bob.deviceId]: 'text' } } }, 'M_BAD_JSON'],
      [{ messages: { [bob.userId]: [] } }, 'M_BAD_JSON'],
    ];
    for (const [body, errcode] of cases) {
      const r = await alice.client.put(`/_matrix/client/v3/sendToDevice/m.test/bad${++txn}`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
    }
    const nul = await alice.client.put(`/_matrix/client/v3/sendToDevice/${enc('m.te\u0000st')}/x`, { messages: {} });
    expect(nul.status).toBe(400);
    expect(nul.body.errcode).toBe('M_INVALID_PARAM');
    const noToken = await new Client(server.baseUrl).put('/_matrix/client/v3/sendToDevice/m.test/x', { messages: {} }, { token: null });
    expect(noToken.status).toBe(401);
    expect(await server.hs.toDevice.currentPosition()).toBe(start);
    // A rejected request does not use up its transaction ID.
    const r = await alice.client.put(`/_matrix/client/v3/sendToDevice/m.test/bad${txn}`, { messages: { [bob.userId]: { [bob.deviceId]: { ok: 1 } } } });
    expect(r.status).toBe(200);
    expect((await inbox(bob, start)).events).toHaveLength(1);
  });

  it('guests may send to-device messages', async () => {
    const bob = await newDevice(server, undefined, { upload: false });
    const guest = new Client(server.baseUrl);
    const g = await guest.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    guest.token = g.body.access_token;
    const r = await guest.put('/_matrix/client/v3/sendToDevice/m.test/g1', { messages: { [bob.userId]: { [bob.deviceId]: { from: 'guest' } } } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  });

  it('notifies the to_device stream with the target users', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const carol = await newDevice(server, undefined, { upload: false });
    const seen: StreamChange[] = [];
    const unsubscribe = server.hs.notifier.subscribe((c) => { if (c.stream === 'to_device') seen.push(c); });
    try {
      await send(alice, 'm.test', { [bob.userId]: { '*': {} }, [carol.userId]: { [carol.deviceId]: {} } });
      await send(alice, 'm.test', { '@nobody:test.local': { X: {} } });
    } finally {
      unsubscribe();
    }
    expect(seen).toHaveLength(1);
    expect([...(seen[0].users ?? [])].sort()).toEqual([bob.userId, carol.userId].sort());
    expect(seen[0].position).toBe(await server.hs.toDevice.currentPosition());
  });

  it('deleting a device deletes its pending messages', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    const phone = await loginAgain(server, bob, { upload: false });
    const start = await server.hs.toDevice.currentPosition();
    await send(alice, 'm.test', { [bob.userId]: { '*': { x: 1 } } });
    await server.hs.accounts.deleteDevices(bob.userId, [phone.deviceId]);
    expect((await inbox(phone, start)).events).toEqual([]);
    expect((await inbox(bob, start)).events).toHaveLength(1);
    // A device logged in again under the old ID does not inherit them.
    await loginAgain(server, bob, { upload: false, deviceId: phone.deviceId });
    expect((await inbox(phone, start)).events).toEqual([]);
  });

  it('positions survive a restart, even when every message was delivered and deleted', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    await send(alice, 'm.test', { [bob.userId]: { [bob.deviceId]: {} } });
    const position = await server.hs.toDevice.currentPosition();
    await server.hs.toDevice.acknowledge(bob.userId, bob.deviceId, position);
    const fresh = new ToDeviceService(server.hs.storage, new Notifier(), server.config.server_name);
    expect(await fresh.currentPosition()).toBe(position);
  });

  it('through /sync: delivered once, again when the response was lost, gone after the next sync', async () => {
    const alice = await newDevice(server, undefined, { upload: false });
    const bob = await newDevice(server, undefined, { upload: false });
    type Sync = { next_batch: string; to_device: { events: Json[] } };
    const sync = async (since?: string) => {
      const r = await bob.client.get<Sync>(`/_matrix/client/v3/sync${since ? `?since=${enc(since)}&timeout=0` : ''}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };
    const s0 = await sync();
    await send(alice, 'm.test', { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
    const s1 = await sync(s0.next_batch);
    expect(s1.to_device.events).toEqual([{ sender: alice.userId, type: 'm.test', content: { n: 1 } }]);
    const lost = await sync(s0.next_batch);
    expect(lost.to_device.events).toEqual(s1.to_device.events);
    const s2 = await sync(s1.next_batch);
    expect(s2.to_device.events).toEqual([]);
    expect((await sync(s0.next_batch)).to_device.events).toEqual([]);
  });
});
