// End-to-end encryption with the real client: matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm), what Element uses. Two users in an encrypted room:
// alice sends, bob decrypts everything; bob's new device decrypts what is sent after it logs in;
// alice sets up cross-signing and a key backup, and her new device restores her keys from the
// backup and decrypts her history. Everything goes over HTTP to a real server: keys/upload,
// query, claim, sendToDevice, /sync's to-device and device-list sections, cross-signing, secret
// storage in account data, and room_keys.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientEvent, createClient, EventType, MsgType, Preset, SyncState, type ICreateClientOpts, type MatrixClient, type MatrixEvent,
} from 'matrix-js-sdk';
import type { GeneratedSecretStorageKey } from 'matrix-js-sdk/lib/crypto-api/index.js';
import { RustBackupManager } from 'matrix-js-sdk/lib/rust-crypto/backup.js';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const noop = () => undefined;
const quietLogger: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };
(sdkGlobalLogger as unknown as { setLevel?: (level: string) => void }).setLevel?.('silent');
// The backup loop waits up to 10 s before its first upload, to spread clients out; a test need not.
(RustBackupManager as unknown as { maxBackupLoopStartDelayMillis: number }).maxBackupLoopStartDelayMillis = 0;

const PASSWORD = 'correct horse battery staple';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.each(ENGINES)('matrix-js-sdk with Rust crypto (%s)', (engine) => {
  let server: TestServer;
  const running: MatrixClient[] = [];
  // The clients' own connection pool: destroyed at the end, so that no half-open connection of a
  // request aborted by stopClient() keeps the server from closing.
  const agent = new Agent();
  const fetchFn = ((url: string, init?: object) => undiciFetch(url, { ...init, dispatcher: agent })) as unknown as typeof fetch;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterEach(() => {
    for (const c of running.splice(0)) c.stopClient();
  });
  afterAll(async () => {
    await agent.destroy();
    await server?.close();
  });

  async function register(username: string): Promise<{ user_id: string }> {
    const anon = createClient({ baseUrl: server.baseUrl, logger: quietLogger, fetchFn });
    return anon.registerRequest({ username, password: PASSWORD, auth: { type: 'm.login.dummy' } });
  }

  /** Logs in as a new device, starts Rust crypto and /sync, and waits for the first sync. */
  async function device(username: string, opts: Partial<ICreateClientOpts> = {}): Promise<MatrixClient> {
    const anon = createClient({ baseUrl: server.baseUrl, logger: quietLogger, fetchFn });
    const login = await anon.loginRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: PASSWORD });
    const client = createClient({ baseUrl: server.baseUrl, logger: quietLogger, fetchFn, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id, ...opts });
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

  /** The bodies of the messages this client has decrypted in the room, in timeline order. */
  function decryptedBodies(client: MatrixClient, roomId: string): string[] {
    const events: MatrixEvent[] = client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
    return events.filter((e) => e.isEncrypted() && e.getType() === EventType.RoomMessage && !e.isDecryptionFailure())
      .map((e) => String(e.getContent().body));
  }

  async function send(client: MatrixClient, roomId: string, body: string): Promise<void> {
    await client.sendMessage(roomId, { msgtype: MsgType.Text, body });
  }

  it('two users chat in an encrypted room; a second device and a restored backup decrypt too', { timeout: 180_000 }, async () => {
    const aliceId = (await register('alice')).user_id;
    const bobId = (await register('bob')).user_id;

    // Secret storage: the key alice's devices use to read their secrets (the recovery key a user would type).
    let secretStorageKey: GeneratedSecretStorageKey | undefined;
    const cryptoCallbacks: ICreateClientOpts['cryptoCallbacks'] = {
      getSecretStorageKey: async ({ keys }) => {
        const keyId = Object.keys(keys)[0];
        return secretStorageKey && keyId ? [keyId, secretStorageKey.privateKey] : null;
      },
    };
    const alice = await device('alice', { cryptoCallbacks });
    const bob = await device('bob');

    // An encrypted room with both of them.
    const { room_id: roomId } = await alice.createRoom({
      preset: Preset.PrivateChat, invite: [bobId],
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }],
    });
    await waitFor('bob to be invited', () => bob.getRoom(roomId));
    await bob.joinRoom(roomId);
    await waitFor('alice to see bob join', () => alice.getRoom(roomId)?.getMember(bobId)?.membership === 'join');
    expect(await alice.getCrypto()!.isEncryptionEnabledInRoom(roomId)).toBe(true);

    // alice sends 10 messages; bob decrypts all of them.
    const first = Array.from({ length: 10 }, (_, i) => `message ${i + 1}`);
    for (const body of first) await send(alice, roomId, body);
    expect(await waitFor('bob to decrypt 10 messages', () => {
      const got = decryptedBodies(bob, roomId);
      return got.length >= 10 && got;
    })).toEqual(first);

    // bob logs in on a second device: alice's client learns of it from /sync's device_lists and
    // shares the room key with it; it decrypts what is sent from then on.
    const bobPhone = await device('bob');
    await waitFor('alice to know bob\'s second device', async () => {
      const devices = await alice.getCrypto()!.getUserDeviceInfo([bobId]);
      return devices.get(bobId)?.has(bobPhone.getDeviceId()!);
    });
    const later = ['after the second device 1', 'after the second device 2'];
    for (const body of later) await send(alice, roomId, body);
    // It decrypts exactly what was sent after it existed: the room key reached it at index 10.
    expect(await waitFor('bob\'s phone to decrypt the new messages', () => {
      const got = decryptedBodies(bobPhone, roomId);
      return got.length >= 2 && got;
    })).toEqual(later);
    expect(await waitFor('bob to decrypt the new messages', () => {
      const got = decryptedBodies(bob, roomId);
      return got.length >= 12 && got;
    })).toEqual([...first, ...later]);

    // alice bootstraps cross-signing (no UIA for the first keys) and secret storage with a new key backup.
    const aliceCrypto = alice.getCrypto()!;
    await aliceCrypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: PASSWORD });
      },
    });
    expect(await aliceCrypto.isCrossSigningReady()).toBe(true);
    await aliceCrypto.bootstrapSecretStorage({
      createSecretStorageKey: async () => (secretStorageKey = await aliceCrypto.createRecoveryKeyFromPassphrase()),
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
    });
    const backupVersion = await waitFor('a backup version', () => aliceCrypto.getActiveSessionBackupVersion());
    // The server has alice's cross-signing keys, and the backup fills with her room keys.
    const keys = await server.hs.e2eKeys.query(bobId, { [aliceId]: [] });
    expect(Object.keys(keys.master_keys)).toEqual([aliceId]);
    expect(keys.user_signing_keys).toEqual({});
    await waitFor('alice\'s room keys in the backup', async () => (await server.hs.keyBackup.info(aliceId)).count > 0);

    // A new device of alice restores the keys from the backup (its key read from secret storage)
    // and decrypts her history.
    const aliceLaptop = await device('alice', { cryptoCallbacks });
    expect(decryptedBodies(aliceLaptop, roomId)).toEqual([]);
    const laptopCrypto = aliceLaptop.getCrypto()!;
    await laptopCrypto.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await laptopCrypto.restoreKeyBackup();
    expect(restored.imported).toBeGreaterThan(0);
    expect(await laptopCrypto.getActiveSessionBackupVersion() ?? backupVersion).toBe(backupVersion);
    expect(await waitFor('alice\'s laptop to decrypt her history', () => {
      const got = decryptedBodies(aliceLaptop, roomId);
      return got.length >= 12 && got;
    })).toEqual([...first, ...later]);
  });
});
