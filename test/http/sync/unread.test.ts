// Unread notification counts in /sync: unread_notifications per joined room, cleared by a read
// receipt; with the timeline filter's unread_thread_notifications, the main timeline's counts
// and each thread's in unread_thread_notifications.
// spec: client-server-api GET /sync (unread_notifications, unread_thread_notifications),
// modules/threading, modules/receipts "Threaded read receipts"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send, sync } from './helpers.js';

describe.each(ENGINES)('/sync unread counts (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    await bob.register('bob');
  });
  afterAll(() => server.close());

  it('counts notifications and highlights per room, and clears them with a read receipt', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const s0 = await sync(alice);
    expect(s0.rooms.join[room].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
    await send(bob, room, { msgtype: 'm.text', body: 'one' });
    const last = await send(bob, room, { msgtype: 'm.text', body: 'hey alice', 'm.mentions': { user_ids: [aliceId] } });
    const s1 = await sync(alice, { since: s0.next_batch });
    expect(s1.rooms.join[room].unread_notifications).toEqual({ notification_count: 2, highlight_count: 1 });
    // Without unread_thread_notifications there are no per-thread counts.
    expect(s1.rooms.join[room].unread_thread_notifications).toBeUndefined();
    await alice.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(last)}`, {});
    const s2 = await sync(alice, { since: s1.next_batch });
    expect(s2.rooms.join[room].unread_notifications).toEqual({ notification_count: 0, highlight_count: 0 });
  });

  it('splits counts by thread when the timeline filter asks for unread_thread_notifications', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const root = await send(alice, room, { msgtype: 'm.text', body: 'root' });
    await send(bob, room, { msgtype: 'm.text', body: 'main 1' });
    await send(bob, room, { msgtype: 'm.text', body: 'in thread', 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
    await send(bob, room, { msgtype: 'm.text', body: 'in thread 2', 'm.relates_to': { rel_type: 'm.thread', event_id: root } });
    const threaded = (await sync(alice, { filter: { room: { timeline: { unread_thread_notifications: true } } } })).rooms.join[room];
    expect(threaded.unread_notifications).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(threaded.unread_thread_notifications).toEqual({ [root]: { notification_count: 2, highlight_count: 0 } });
    // Unthreaded: the room's total.
    const total = (await sync(alice)).rooms.join[room];
    expect(total.unread_notifications).toEqual({ notification_count: 3, highlight_count: 0 });
    expect(total.unread_thread_notifications).toBeUndefined();
  });
});
