// Cross-signing over HTTP on both databases: keys/device_signing/upload (with UIA only when
// replacing keys), keys/signatures/upload (every signature checked, failures reported), and
// what keys/query shows to whom.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import {
  PASSWORD_AUTH, crossSigningKey, loginAgain, newCrossSigning, newDevice, newKey, query, sign, type CrossSigning, type Device, type Json,
} from './helpers.js';

const UPLOAD = '/_matrix/client/v3/keys/device_signing/upload';
const SIGNATURES = '/_matrix/client/v3/keys/signatures/upload';

describe.each(ENGINES)('E2EE cross-signing (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server?.close());

  /** Uploads with password UIA when the server asks for it. */
  async function uploadWithAuth(d: Device, body: Json): Promise<{ status: number; body: Json; challenged: boolean }> {
    const first = await d.client.post(UPLOAD, body);
    if (first.status !== 401) return { status: first.status, body: first.body, challenged: false };
    const second = await d.client.post(UPLOAD, { ...body, auth: { ...PASSWORD_AUTH(d.userId), session: first.body.session } });
    return { status: second.status, body: second.body, challenged: true };
  }

  async function withCrossSigning(): Promise<{ d: Device; cs: CrossSigning }> {
    const d = await newDevice(server);
    const cs = newCrossSigning(d.userId);
    const r = await d.client.post(UPLOAD, cs.body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return { d, cs };
  }

  const masterId = (cs: CrossSigning) => `ed25519:${cs.master.publicKeyBase64}`;

  describe('keys/device_signing/upload', () => {
    it('uploads the first keys without UIA; the owner sees all three, others master and self-signing only', async () => {
      const { d, cs } = await withCrossSigning();
      const own = await query(d, { [d.userId]: [] });
      expect(own.master_keys).toEqual({ [d.userId]: cs.body.master_key });
      expect(own.self_signing_keys).toEqual({ [d.userId]: cs.body.self_signing_key });
      expect(own.user_signing_keys).toEqual({ [d.userId]: cs.body.user_signing_key });
      const bob = await newDevice(server);
      const theirs = await query(bob, { [d.userId]: [] });
      expect(theirs.master_keys).toEqual({ [d.userId]: cs.body.master_key });
      expect(theirs.self_signing_keys).toEqual({ [d.userId]: cs.body.self_signing_key });
      expect(theirs.user_signing_keys).toEqual({});
    });

    it('repeating the same keys needs no UIA and changes nothing', async () => {
      const { d, cs } = await withCrossSigning();
      const before = await server.hs.deviceLists.currentPosition();
      const r = await d.client.post(UPLOAD, cs.body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const masterOnly = await d.client.post(UPLOAD, { master_key: cs.body.master_key });
      expect(masterOnly.status).toBe(200);
      expect(await server.hs.deviceLists.currentPosition()).toBe(before);
    });

    it('replacing keys, or sending a new key without the stored master key, needs UIA', async () => {
      const { d, cs } = await withCrossSigning();
      const next = newCrossSigning(d.userId);
      const challenge = await d.client.post(UPLOAD, next.body);
      expect(challenge.status).toBe(401);
      expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
      expect((await query(d, { [d.userId]: [] })).master_keys).toEqual({ [d.userId]: cs.body.master_key });

      // A new self-signing key signed by the stored master key: still a new key.
      const ssk = newKey();
      const newSsk = sign(crossSigningKey(d.userId, 'self_signing', ssk), d.userId, masterId(cs), cs.master);
      expect((await d.client.post(UPLOAD, { self_signing_key: newSsk })).status).toBe(401);
      expect((await d.client.post(UPLOAD, { master_key: cs.body.master_key, self_signing_key: newSsk })).status).toBe(401);

      const wrongPassword = await d.client.post(UPLOAD, { ...next.body, auth: { ...PASSWORD_AUTH(d.userId), password: 'wrong', session: challenge.body.session } });
      expect(wrongPassword.status).toBe(401);
      expect(wrongPassword.body.errcode).toBe('M_FORBIDDEN');

      const done = await uploadWithAuth(d, next.body);
      expect(done).toMatchObject({ status: 200, challenged: true });
      const q = await query(d, { [d.userId]: [] });
      expect(q.master_keys).toEqual({ [d.userId]: next.body.master_key });
      expect(q.self_signing_keys).toEqual({ [d.userId]: next.body.self_signing_key });
    });

    it('a self-signing or user-signing key must be signed by the master key: M_INVALID_SIGNATURE', async () => {
      const d = await newDevice(server);
      const cs = newCrossSigning(d.userId);
      const stranger = newKey();
      for (const bad of [
        { ...cs.body, self_signing_key: crossSigningKey(d.userId, 'self_signing', cs.selfSigning) },
        { ...cs.body, user_signing_key: sign(crossSigningKey(d.userId, 'user_signing', cs.userSigning), d.userId, masterId(cs), stranger) },
        { ...cs.body, self_signing_key: { ...cs.body.self_signing_key, usage: ['self_signing', 'extra'] } },
      ]) {
        const r = await d.client.post(UPLOAD, bad);
        expect(r.status, JSON.stringify(r.body)).toBe(400);
        expect(r.body.errcode).toBe('M_INVALID_SIGNATURE');
      }
      expect((await query(d, { [d.userId]: [] })).master_keys).toEqual({});
    });

    it('rejects keys without a master key, for another user, with a bad usage or key, or equal to a device ID', async () => {
      const d = await newDevice(server);
      const cs = newCrossSigning(d.userId);
      const other = newCrossSigning('@someone:test.local');
      const cases: Array<[Json, number, string]> = [
        [{ self_signing_key: cs.body.self_signing_key }, 400, 'M_MISSING_PARAM'],
        [{}, 400, 'M_MISSING_PARAM'],
        [{ master_key: other.body.master_key }, 403, 'M_FORBIDDEN'],
        [{ master_key: { ...cs.body.master_key, usage: ['self_signing'] } }, 400, 'M_INVALID_PARAM'],
        [{ master_key: { ...cs.body.master_key, keys: {} } }, 400, 'M_INVALID_PARAM'],
        [{ master_key: { ...cs.body.master_key, keys: { 'ed25519:abc': 'abc' } } }, 400, 'M_INVALID_PARAM'],
        [{ master_key: { ...cs.body.master_key, keys: { [`curve25519:${cs.master.publicKeyBase64}`]: cs.master.publicKeyBase64 } } }, 400, 'M_INVALID_PARAM'],
        [{ master_key: { ...cs.body.master_key, keys: { [masterId(cs)]: 'different' } } }, 400, 'M_INVALID_PARAM'],
        [{ master_key: { ...cs.body.master_key, usage: 'master' } }, 400, 'M_BAD_JSON'],
        [{ master_key: 'key' }, 400, 'M_BAD_JSON'],
      ];
      for (const [body, status, errcode] of cases) {
        const r = await d.client.post(UPLOAD, body);
        expect(r.status, JSON.stringify(body)).toBe(status);
        expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
      }
      // spec: "Servers therefore must ensure that device IDs will not collide with cross-signing public keys".
      const clash = await newDevice(server, undefined, { upload: false });
      const keyNamedLikeDevice = await loginAgain(server, clash, { upload: false, deviceId: cs.master.publicKeyBase64.replace(/[+/]/g, 'A') });
      const clashKey = { user_id: clash.userId, usage: ['master'], keys: { [`ed25519:${keyNamedLikeDevice.deviceId}`]: keyNamedLikeDevice.deviceId } };
      const r = await clash.client.post(UPLOAD, { master_key: clashKey });
      expect(r.status, JSON.stringify(r.body)).toBe(403);
      expect(r.body.errcode).toBe('M_FORBIDDEN');
      expect((await query(d, { [d.userId]: [], [clash.userId]: [] })).master_keys).toEqual({});
    });

    it('keeps a device signature on the master key and rejects a bad one', async () => {
      const d = await newDevice(server);
      const cs = newCrossSigning(d.userId);
      const signedByDevice = sign(cs.body.master_key, d.userId, `ed25519:${d.deviceId}`, d.key);
      const bad = sign(cs.body.master_key, d.userId, `ed25519:${d.deviceId}`, newKey());
      const r1 = await d.client.post(UPLOAD, { ...cs.body, master_key: bad });
      expect(r1.status).toBe(400);
      expect(r1.body.errcode).toBe('M_INVALID_SIGNATURE');
      const r2 = await d.client.post(UPLOAD, { ...cs.body, master_key: signedByDevice });
      expect(r2.status).toBe(200);
      expect((await query(d, { [d.userId]: [] })).master_keys).toEqual({ [d.userId]: signedByDevice });
    });

    it('cross-signing changes are device-list changes: master and self-signing for everyone, user-signing for the owner only', async () => {
      const { d, cs } = await withCrossSigning();
      const roomId = (await d.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
      const bob = await newDevice(server);
      expect((await bob.client.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {})).status).toBe(200);
      const p0 = await server.hs.deviceLists.currentPosition();

      const usk = newKey();
      const newUsk = sign(crossSigningKey(d.userId, 'user_signing', usk), d.userId, masterId(cs), cs.master);
      expect((await uploadWithAuth(d, { master_key: cs.body.master_key, user_signing_key: newUsk })).status).toBe(200);
      const p1 = await server.hs.deviceLists.currentPosition();
      expect(p1).toBeGreaterThan(p0);
      expect((await server.hs.deviceLists.changesSince(d.userId, p0)).changed).toEqual([d.userId]);
      expect((await server.hs.deviceLists.changesSince(bob.userId, p0)).changed).toEqual([]);

      const next = newCrossSigning(d.userId);
      expect((await uploadWithAuth(d, next.body)).status).toBe(200);
      expect((await server.hs.deviceLists.changesSince(bob.userId, p1)).changed).toEqual([d.userId]);
    });
  });

  describe('keys/signatures/upload', () => {
    it('stores the self-signing key\'s signature of a device; everyone sees it in keys/query', async () => {
      const { d, cs } = await withCrossSigning();
      const sskId = `ed25519:${cs.selfSigning.publicKeyBase64}`;
      const signed = sign(d.deviceKeys, d.userId, sskId, cs.selfSigning);
      const r = await d.client.post(SIGNATURES, { [d.userId]: { [d.deviceId]: signed } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toEqual({ failures: {} });
      const bob = await newDevice(server);
      const q = await query(bob, { [d.userId]: [] });
      expect((q.device_keys[d.userId][d.deviceId].signatures as Json)[d.userId]).toEqual({
        [`ed25519:${d.deviceId}`]: (d.deviceKeys.signatures as Record<string, Json>)[d.userId][`ed25519:${d.deviceId}`],
        [sskId]: (signed.signatures as Record<string, Json>)[d.userId][sskId],
      });
    });

    it('stores a device\'s signature of its own master key', async () => {
      const { d, cs } = await withCrossSigning();
      const signed = sign(cs.body.master_key, d.userId, `ed25519:${d.deviceId}`, d.key);
      const r = await d.client.post(SIGNATURES, { [d.userId]: { [cs.master.publicKeyBase64]: signed } });
      expect(r.body).toEqual({ failures: {} });
      const bob = await newDevice(server);
      expect((await query(bob, { [d.userId]: [] })).master_keys[d.userId]).toEqual(signed);
    });

    it('stores a user-signing signature of another user\'s master key, visible to the signer only', async () => {
      const alice = await withCrossSigning();
      const bob = await withCrossSigning();
      const uskId = `ed25519:${alice.cs.userSigning.publicKeyBase64}`;
      const signed = sign(bob.cs.body.master_key, alice.d.userId, uskId, alice.cs.userSigning);
      const before = await server.hs.deviceLists.currentPosition();
      const r = await alice.d.client.post(SIGNATURES, { [bob.d.userId]: { [bob.cs.master.publicKeyBase64]: signed } });
      expect(r.body).toEqual({ failures: {} });
      expect((await query(alice.d, { [bob.d.userId]: [] })).master_keys[bob.d.userId]).toEqual(signed);
      // spec: "Users will not be able to see signatures made by other users' user-signing keys".
      expect((await query(bob.d, { [bob.d.userId]: [] })).master_keys[bob.d.userId]).toEqual(bob.cs.body.master_key);
      const carol = await newDevice(server);
      expect((await query(carol, { [bob.d.userId]: [] })).master_keys[bob.d.userId]).toEqual(bob.cs.body.master_key);
      // Only the signer is told that bob's keys changed for them.
      expect((await server.hs.deviceLists.changesSince(alice.d.userId, before)).changed).toEqual([bob.d.userId]);
      expect((await server.hs.deviceLists.changesSince(bob.d.userId, before)).changed).toEqual([]);
    });

    it('reports every bad signature in `failures`, stores the good ones and nothing of the bad', async () => {
      const alice = await withCrossSigning();
      const bob = await withCrossSigning();
      const phone = await loginAgain(server, alice.d);
      const noKeys = await loginAgain(server, alice.d, { upload: false });
      const sskId = `ed25519:${alice.cs.selfSigning.publicKeyBase64}`;
      const uskId = `ed25519:${alice.cs.userSigning.publicKeyBase64}`;
      const stranger = newKey();
      const good = sign(alice.d.deviceKeys, alice.d.userId, sskId, alice.cs.selfSigning);
      const body = {
        [alice.d.userId]: {
          [alice.d.deviceId]: good,
          // Signed by a key that is not the self-signing key.
          [phone.deviceId]: sign(phone.deviceKeys, alice.d.userId, sskId, stranger),
          // A device with no keys, and one that does not exist.
          [noKeys.deviceId]: sign({ user_id: alice.d.userId, device_id: noKeys.deviceId }, alice.d.userId, sskId, alice.cs.selfSigning),
          NOSUCHDEVICE: sign({ user_id: alice.d.userId, device_id: 'NOSUCHDEVICE' }, alice.d.userId, sskId, alice.cs.selfSigning),
          // Signed properly, but not what the server has for the master key.
          [alice.cs.master.publicKeyBase64]: sign({ ...alice.cs.body.master_key, usage: ['master', 'x'] }, alice.d.userId, `ed25519:${alice.d.deviceId}`, alice.d.key),
        },
        [bob.d.userId]: {
          // Another user's device cannot be signed; their master key needs alice's user-signing key.
          [bob.d.deviceId]: sign(bob.d.deviceKeys, alice.d.userId, uskId, alice.cs.userSigning),
          [bob.cs.master.publicKeyBase64]: sign(bob.cs.body.master_key, alice.d.userId, `ed25519:${alice.d.deviceId}`, alice.d.key),
        },
        '@someone:remote.example': { KEY: sign({ user_id: '@someone:remote.example' }, alice.d.userId, uskId, alice.cs.userSigning) },
      };
      const r = await alice.d.client.post<{ failures: Record<string, Record<string, { errcode: string }>> }>(SIGNATURES, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const codes = Object.fromEntries(Object.entries(r.body.failures).map(([u, ks]) => [u, Object.fromEntries(Object.entries(ks).map(([k, f]) => [k, f.errcode]))]));
      expect(codes).toEqual({
        [alice.d.userId]: {
          [phone.deviceId]: 'M_INVALID_SIGNATURE',
          [noKeys.deviceId]: 'M_NOT_FOUND',
          NOSUCHDEVICE: 'M_NOT_FOUND',
          [alice.cs.master.publicKeyBase64]: 'M_INVALID_SIGNATURE',
        },
        [bob.d.userId]: { [bob.d.deviceId]: 'M_NOT_FOUND', [bob.cs.master.publicKeyBase64]: 'M_INVALID_SIGNATURE' },
        '@someone:remote.example': { KEY: 'M_NOT_FOUND' },
      });
      const q = await query(alice.d, { [alice.d.userId]: [], [bob.d.userId]: [] });
      expect(Object.keys((q.device_keys[alice.d.userId][alice.d.deviceId].signatures as Record<string, Json>)[alice.d.userId])).toContain(sskId);
      expect(q.device_keys[alice.d.userId][phone.deviceId].signatures).toEqual(phone.deviceKeys.signatures);
      expect(q.master_keys[alice.d.userId]).toEqual(alice.cs.body.master_key);
      expect(q.master_keys[bob.d.userId]).toEqual(bob.cs.body.master_key);
    });

    it('without cross-signing keys there is nothing to sign with: M_NOT_FOUND failures', async () => {
      const alice = await newDevice(server);
      const bob = await withCrossSigning();
      const r = await alice.client.post<{ failures: Record<string, Record<string, { errcode: string }>> }>(SIGNATURES, {
        [alice.userId]: { [alice.deviceId]: sign(alice.deviceKeys, alice.userId, 'ed25519:whatever', newKey()) },
        [bob.d.userId]: { [bob.cs.master.publicKeyBase64]: sign(bob.cs.body.master_key, alice.userId, 'ed25519:whatever', newKey()) },
      });
      expect(r.body.failures[alice.userId][alice.deviceId].errcode).toBe('M_NOT_FOUND');
      expect(r.body.failures[bob.d.userId][bob.cs.master.publicKeyBase64].errcode).toBe('M_NOT_FOUND');
    });

    it('rejects a body that is not a map of user IDs to objects', async () => {
      const d = await newDevice(server);
      for (const [body, errcode] of [[{ 'not a user': {} }, 'M_INVALID_PARAM'], [{ [d.userId]: 'x' }, 'M_BAD_JSON']] as const) {
        const r = await d.client.post(SIGNATURES, body);
        expect(r.status).toBe(400);
        expect(r.body.errcode).toBe(errcode);
      }
      const nonObject = await d.client.post<{ failures: Record<string, Record<string, { errcode: string }>> }>(SIGNATURES, { [d.userId]: { [d.deviceId]: 5 } });
      expect(nonObject.status).toBe(200);
      expect(nonObject.body.failures[d.userId][d.deviceId].errcode).toBe('M_BAD_JSON');
    });
  });
});
