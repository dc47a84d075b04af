// Presence set by syncing: set_presence marks the user online while they sync, and a user who
// stops syncing goes offline (presence.offline_after_sync_ms), keeping their status message.
// spec: client-server-api GET /sync `set_presence`, modules/presence
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, eventually, send, sleep, sync } from './helpers.js';

const OFFLINE_AFTER_MS = 200;

describe.each(ENGINES)('/sync presence (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let aliceId: string;

  beforeAll(async () => {
    server = await startTestServer(engine, { presence: { offline_after_sync_ms: OFFLINE_AFTER_MS } });
    alice = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
  });
  afterAll(() => server.close());

  const presenceOf = async (userId: string, as: Client = alice) => (await as.get<{ presence: string; status_msg?: string }>(`/_matrix/client/v3/presence/${enc(userId)}/status`)).body;

  it('takes a user who stops syncing offline, not while a sync is in progress', async () => {
    const room = await createRoom(alice);
    await alice.put(`/_matrix/client/v3/presence/${enc(aliceId)}/status`, { presence: 'offline', status_msg: 'gone fishing' });
    const s0 = await sync(alice);
    expect(await presenceOf(aliceId)).toMatchObject({ presence: 'online', status_msg: 'gone fishing' });
    // A long-poll in progress keeps them online, however long it lasts.
    const waiting = sync(alice, { since: s0.next_batch, timeout: 20_000 });
    await eventually(() => expect(server.hs.sync.waiting).toBe(1));
    await sleep(OFFLINE_AFTER_MS * 4);
    expect((await presenceOf(aliceId)).presence).toBe('online');
    await send(alice, room, { msgtype: 'm.text', body: 'ends the long-poll' });
    await waiting;
    // Then, with no sync, offline; the status message stays.
    await eventually(async () => expect(await presenceOf(aliceId)).toMatchObject({ presence: 'offline', status_msg: 'gone fishing' }));
  });

  it('does not touch presence for set_presence=offline', async () => {
    const bob = new Client(server.baseUrl);
    const bobId = (await bob.register('bob')).user_id;
    await bob.put(`/_matrix/client/v3/presence/${enc(bobId)}/status`, { presence: 'unavailable' });
    await sync(bob, { set_presence: 'offline' });
    await sleep(OFFLINE_AFTER_MS * 2);
    expect((await presenceOf(bobId, bob)).presence).toBe('unavailable');
  });
});
