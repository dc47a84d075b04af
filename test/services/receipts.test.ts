// The receipts stream as /sync will read it: positions, "changed since", bounds and rooms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';
import { createRoom, join, send } from '../http/ephemeral/helpers.js';

describe.each(ENGINES)('receipts stream (%s)', (engine) => {
  let server: TestServer;
  let alice: string;
  let bob: string;
  let room1: string;
  let room2: string;
  let e1: string;
  let e2: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    const a = new Client(server.baseUrl);
    const b = new Client(server.baseUrl);
    alice = (await a.register('alice')).user_id;
    bob = (await b.register('bob')).user_id;
    room1 = await createRoom(a);
    room2 = await createRoom(a);
    await join(b, room1);
    await join(b, room2);
    e1 = await send(a, room1, { msgtype: 'm.text', body: 'one' });
    e2 = await send(a, room2, { msgtype: 'm.text', body: 'two' });
  });
  afterAll(() => server.close());

  it('starts at 0 and answers changes in (since, upTo] for the rooms asked, one event per room', async () => {
    const receipts = server.hs.receipts;
    expect(await receipts.currentPosition()).toBe(0);
    expect(await receipts.receiptEvents(alice, [room1, room2], 0)).toEqual(new Map());

    await receipts.sendReceipt(bob, room1, 'm.read', e1);
    const p1 = await receipts.currentPosition();
    await receipts.sendReceipt(alice, room2, 'm.read', e2);
    const p2 = await receipts.currentPosition();
    await receipts.sendReceipt(bob, room2, 'm.read', e2, 'main');
    const p3 = await receipts.currentPosition();
    expect(p1).toBeGreaterThan(0);
    expect(p2).toBeGreaterThan(p1);
    expect(p3).toBeGreaterThan(p2);

    const all = await receipts.receiptEvents(alice, [room1, room2], 0);
    expect([...all.keys()].sort()).toEqual([room1, room2].sort());
    expect(all.get(room1)).toEqual({ type: 'm.receipt', content: { [e1]: { 'm.read': { [bob]: { ts: expect.any(Number) } } } } });
    expect(all.get(room2)?.content[e2]['m.read']).toEqual({ [alice]: { ts: expect.any(Number) }, [bob]: { ts: expect.any(Number), thread_id: 'main' } });

    expect([...(await receipts.receiptEvents(alice, [room1, room2], p1)).keys()]).toEqual([room2]);
    expect(Object.keys((await receipts.receiptEvents(alice, [room1, room2], p1, p2)).get(room2)?.content[e2]['m.read'] ?? {})).toEqual([alice]);
    expect(await receipts.receiptEvents(alice, [room1, room2], p3)).toEqual(new Map());
    // Only the rooms asked about.
    expect([...(await receipts.receiptEvents(alice, [room1], 0)).keys()]).toEqual([room1]);
    expect(await receipts.receiptEvents(alice, [], 0)).toEqual(new Map());
  });

  it('a receipt that does not move forward is no change in the stream', async () => {
    const receipts = server.hs.receipts;
    const position = await receipts.currentPosition();
    await receipts.sendReceipt(bob, room1, 'm.read', e1);
    expect(await receipts.currentPosition()).toBe(position);
    expect(await receipts.receiptEvents(alice, [room1], position)).toEqual(new Map());
  });

  it('a private receipt moves the stream for everyone but only its owner sees it', async () => {
    const receipts = server.hs.receipts;
    const position = await receipts.currentPosition();
    await receipts.sendReceipt(bob, room1, 'm.read.private', e1);
    expect(await receipts.currentPosition()).toBeGreaterThan(position);
    expect(await receipts.receiptEvents(alice, [room1], position)).toEqual(new Map());
    expect((await receipts.receiptEvents(bob, [room1], position)).get(room1)?.content).toEqual({ [e1]: { 'm.read.private': { [bob]: { ts: expect.any(Number) } } } });
  });
});
