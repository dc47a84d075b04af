// An end-to-end-encrypted conversation between users on two Weft servers, driven by the real
// client (matrix-js-sdk with Rust crypto): the invite crosses servers, the join goes through
// make_join/send_join, device keys are queried and one-time keys claimed over federation, the
// room keys travel as to-device messages over federation, and both sides decrypt everything.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientEvent, createClient, EventType, MsgType, Preset, SyncState, type MatrixClient, type MatrixEvent } from 'matrix-js-sdk';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { ENGINES } from '../../helpers/databases.js';
import { startFederation, type FederatedServer } from '../../helpers/federation.js';

const noop = () => undefined;
const quietLogger: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };
(sdkGlobalLogger as unknown as { setLevel?: (level: string) => void }).setLevel?.('silent');
const PASSWORD = 'correct horse battery staple';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite'] as const : ['sqlite'] as const;

async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('end-to-end encryption across two servers (matrix-js-sdk)', () => {
  let a: FederatedServer, b: FederatedServer;
  const running: MatrixClient[] = [];
  const agent = new Agent();
  const fetchFn = ((url: string, init?: object) => undiciFetch(url, { ...init, dispatcher: agent })) as unknown as typeof fetch;
  beforeAll(async () => { [a, b] = await startFederation([...engines], 2); }, 60_000);
  afterEach(() => { for (const c of running.splice(0)) c.stopClient(); });
  afterAll(async () => {
    await agent.destroy();
    await Promise.all([a, b].map((s) => s?.close()));
  });

  async function device(server: FederatedServer, username: string): Promise<MatrixClient> {
    const anon = createClient({ baseUrl: server.baseUrl, logger: quietLogger, fetchFn });
    await anon.registerRequest({ username, password: PASSWORD, auth: { type: 'm.login.dummy' } });
    const login = await anon.loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: PASSWORD });
    const client = createClient({ baseUrl: server.baseUrl, logger: quietLogger, fetchFn, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
    await client.initRustCrypto({ useIndexedDB: false });
    running.push(client);
    const prepared = new Promise<void>((resolve) => {
      const onSync = (state: SyncState) => { if (state === SyncState.Prepared) { client.off(ClientEvent.Sync, onSync); resolve(); } };
      client.on(ClientEvent.Sync, onSync);
    });
    await client.startClient({ initialSyncLimit: 50 });
    await prepared;
    return client;
  }

  function decryptedBodies(client: MatrixClient, roomId: string): string[] {
    const events: MatrixEvent[] = client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
    return events.filter((e) => e.isEncrypted() && e.getType() === EventType.RoomMessage && !e.isDecryptionFailure())
      .map((e) => String(e.getContent().body));
  }

  it('alice on A and bob on B chat in an encrypted room and decrypt each other', { timeout: 180_000 }, async () => {
    const alice = await device(a, 'alice');
    const bob = await device(b, 'bob');
    const bobId = bob.getUserId()!;
    const { room_id: roomId } = await alice.createRoom({
      preset: Preset.PrivateChat, invite: [bobId],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await waitFor('bob to be invited', () => bob.getRoom(roomId));
    await bob.joinRoom(roomId);
    await waitFor('alice to see bob join', () => alice.getRoom(roomId)?.getMember(bobId)?.membership === 'join');
    await waitFor('bob to see the room encrypted', async () => bob.getCrypto()!.isEncryptionEnabledInRoom(roomId));

    const fromAlice = ['hello bob', 'across servers', 'encrypted'];
    for (const body of fromAlice) await alice.sendMessage(roomId, { msgtype: MsgType.Text, body });
    expect(await waitFor('bob to decrypt alice\'s messages', () => {
      const got = decryptedBodies(bob, roomId);
      return got.length >= fromAlice.length && got;
    })).toEqual(fromAlice);

    const fromBob = ['hello alice', 'got them all'];
    for (const body of fromBob) await bob.sendMessage(roomId, { msgtype: MsgType.Text, body });
    expect(await waitFor('alice to decrypt bob\'s messages', () => {
      const got = decryptedBodies(alice, roomId);
      return got.length >= fromAlice.length + fromBob.length && got;
    })).toEqual([...fromAlice, ...fromBob]);
  });
});
