// keys/upload, keys/query and keys/claim over HTTP on both databases: signed device keys,
// one-time and fallback keys, claims (also concurrent ones), and every kind of bad input.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../../src/core/json.js';
import { MAX_ONE_TIME_KEYS_PER_UPLOAD } from '../../../src/services/e2ee/keys.js';
import { Client } from '../../helpers/client.js';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { loginAgain, newDevice, newKey, oneTimeKeys, query, sign, signedDeviceKeys, upload, type Device, type Json } from './helpers.js';

describe.each(ENGINES)('E2EE keys (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server?.close());

  const counts = async (d: Device) => (await upload(d, {})).one_time_key_counts as Record<string, number>;

  describe('keys/upload', () => {
    it('stores signed device keys and answers one-time key counts (signed_curve25519 always present)', async () => {
      const alice = await newDevice(server, undefined, { upload: false });
      const r = await upload(alice, { device_keys: alice.deviceKeys });
      expect(r).toEqual({ one_time_key_counts: { signed_curve25519: 0 } });
      const q = await query(alice, { [alice.userId]: [] });
      // A device without a display name has no `unsigned` (registration here named none).
      expect(q.device_keys[alice.userId][alice.deviceId]).toEqual(alice.deviceKeys);
    });

    it('stores one-time keys, counts them per algorithm, and accepts a repeated upload of the same keys', async () => {
      const alice = await newDevice(server);
      const otks = oneTimeKeys(alice, 5);
      expect((await upload(alice, { one_time_keys: otks })).one_time_key_counts).toEqual({ signed_curve25519: 5 });
      // A client that lost the response sends the same keys again: nothing changes.
      expect((await upload(alice, { one_time_keys: otks })).one_time_key_counts).toEqual({ signed_curve25519: 5 });
      expect((await upload(alice, { one_time_keys: oneTimeKeys(alice, 3, 'BBBB') })).one_time_key_counts).toEqual({ signed_curve25519: 8 });
      expect(await server.hs.deviceLists.oneTimeKeyCounts(alice.userId, alice.deviceId)).toEqual({ signed_curve25519: 8 });
    });

    it('accepts unsigned curve25519 one-time keys (the legacy string form) and counts them apart', async () => {
      const alice = await newDevice(server);
      const r = await upload(alice, { one_time_keys: { 'curve25519:AAAAAQ': encodeBase64(randomBytes(32)) } });
      expect(r.one_time_key_counts).toEqual({ signed_curve25519: 0, curve25519: 1 });
    });

    it('stores device keys, one-time keys and a fallback key in one request, even before device keys existed', async () => {
      const alice = await newDevice(server, undefined, { upload: false });
      const r = await upload(alice, { device_keys: alice.deviceKeys, one_time_keys: oneTimeKeys(alice, 2), fallback_keys: oneTimeKeys(alice, 1, 'FB', true) });
      expect(r.one_time_key_counts).toEqual({ signed_curve25519: 2 });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, alice.deviceId)).toEqual(['signed_curve25519']);
    });

    it('keeps only the device\'s own signature on device keys and strips `unsigned`', async () => {
      const alice = await newDevice(server, undefined, { upload: false });
      const other = newKey();
      const withExtra = sign({ ...alice.deviceKeys, unsigned: { anything: 1 } }, alice.userId, `ed25519:${other.publicKeyBase64}`, other);
      await upload(alice, { device_keys: withExtra });
      const q = await query(alice, { [alice.userId]: [alice.deviceId] });
      const stored = q.device_keys[alice.userId][alice.deviceId];
      expect(stored.signatures).toEqual(alice.deviceKeys.signatures);
      expect(stored.unsigned).toBeUndefined();
    });

    it('re-uploading the same device keys changes nothing; new keys replace them', async () => {
      const alice = await newDevice(server);
      const before = await server.hs.deviceLists.currentPosition();
      await upload(alice, { device_keys: alice.deviceKeys });
      expect(await server.hs.deviceLists.currentPosition()).toBe(before);
      const key = newKey();
      const replaced = signedDeviceKeys(alice.userId, alice.deviceId, key);
      await upload(alice, { device_keys: replaced });
      expect(await server.hs.deviceLists.currentPosition()).toBeGreaterThan(before);
      const q = await query(alice, { [alice.userId]: [] });
      expect((q.device_keys[alice.userId][alice.deviceId].keys as Json)[`ed25519:${alice.deviceId}`]).toBe(key.publicKeyBase64);
    });

    it('an empty body and an empty device_keys object are accepted and store nothing', async () => {
      const alice = await newDevice(server, undefined, { upload: false });
      expect(await upload(alice, { device_keys: {} })).toEqual({ one_time_key_counts: { signed_curve25519: 0 } });
      const r = await alice.client.post('/_matrix/client/v3/keys/upload');
      expect(r.status).toBe(200);
      expect((await query(alice, { [alice.userId]: [] })).device_keys[alice.userId]).toEqual({});
    });

    it('guests may upload keys (spec: modules/guest_access)', async () => {
      const guest = new Client(server.baseUrl);
      const g = await guest.post<{ access_token: string; user_id: string; device_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      expect(g.status).toBe(200);
      guest.token = g.body.access_token;
      const key = newKey();
      const r = await guest.post('/_matrix/client/v3/keys/upload', { device_keys: signedDeviceKeys(g.body.user_id, g.body.device_id, key) });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    });

    describe('bad input is rejected and nothing is stored', () => {
      /** Expects the upload to fail with `errcode` and leaves the device with no keys of any kind. */
      async function rejected(d: Device, body: Json, status: number, errcode: string): Promise<void> {
        const r = await d.client.post('/_matrix/client/v3/keys/upload', body);
        expect(r.status, JSON.stringify(r.body)).toBe(status);
        expect(r.body.errcode).toBe(errcode);
      }
      async function nothingStored(d: Device, hadDeviceKeys: boolean): Promise<void> {
        const q = await query(d, { [d.userId]: [] });
        expect(Object.keys(q.device_keys[d.userId])).toEqual(hadDeviceKeys ? [d.deviceId] : []);
        expect(await server.hs.deviceLists.oneTimeKeyCounts(d.userId, d.deviceId)).toEqual({ signed_curve25519: 0 });
        expect(await server.hs.deviceLists.unusedFallbackKeyTypes(d.userId, d.deviceId)).toEqual([]);
      }

      it('unsigned device keys: M_INVALID_SIGNATURE', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        const { signatures: _s, ...unsigned } = d.deviceKeys;
        await rejected(d, { device_keys: unsigned, one_time_keys: oneTimeKeys(d, 2) }, 400, 'M_INVALID_SIGNATURE');
        await nothingStored(d, false);
      });

      it('device keys signed by another key, or altered after signing: M_INVALID_SIGNATURE', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        const wrong = sign({ ...d.deviceKeys, signatures: {} }, d.userId, `ed25519:${d.deviceId}`, newKey());
        await rejected(d, { device_keys: wrong, fallback_keys: oneTimeKeys(d, 1, 'F', true) }, 400, 'M_INVALID_SIGNATURE');
        const altered = { ...d.deviceKeys, algorithms: ['m.megolm.v1.aes-sha2'] };
        await rejected(d, { device_keys: altered }, 400, 'M_INVALID_SIGNATURE');
        const garbage = { ...d.deviceKeys, signatures: { [d.userId]: { [`ed25519:${d.deviceId}`]: 'not a signature' } } };
        await rejected(d, { device_keys: garbage }, 400, 'M_INVALID_SIGNATURE');
        await nothingStored(d, false);
      });

      it('keys for another user or another device: M_FORBIDDEN', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        const victim = await newDevice(server, undefined, { upload: false });
        // Properly signed, but for someone else's device.
        await rejected(d, { device_keys: victim.deviceKeys }, 403, 'M_FORBIDDEN');
        const otherDevice = signedDeviceKeys(d.userId, 'OTHERDEVICE', d.key);
        await rejected(d, { device_keys: otherDevice, one_time_keys: oneTimeKeys(d, 1) }, 403, 'M_FORBIDDEN');
        await nothingStored(d, false);
        await nothingStored(victim, false);
      });

      it('key IDs that do not parse or name another device: M_INVALID_PARAM', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        const keys = (d.deviceKeys.keys as Json);
        for (const badKeys of [
          { ...keys, curve25519: 'abc' },
          { ...keys, [`:${d.deviceId}`]: 'abc' },
          { ...keys, 'curve25519:OTHER': 'abc' },
        ]) {
          const dk = sign({ ...d.deviceKeys, keys: badKeys, signatures: {} }, d.userId, `ed25519:${d.deviceId}`, d.key);
          await rejected(d, { device_keys: dk }, 400, 'M_INVALID_PARAM');
        }
        // Device keys without the device's ed25519 key, or with one that is not a key.
        const noEd = sign({ ...d.deviceKeys, keys: { [`curve25519:${d.deviceId}`]: 'abc' }, signatures: {} }, d.userId, `ed25519:${d.deviceId}`, d.key);
        await rejected(d, { device_keys: noEd }, 400, 'M_INVALID_PARAM');
        await upload(d, { device_keys: d.deviceKeys });
        for (const name of ['signed_curve25519', 'signed_curve25519:', ':AAAA', '']) {
          await rejected(d, { one_time_keys: { ...oneTimeKeys(d, 1), [name]: Object.values(oneTimeKeys(d, 1))[0] } }, 400, 'M_INVALID_PARAM');
          await rejected(d, { fallback_keys: { [name]: Object.values(oneTimeKeys(d, 1, 'F', true))[0] } }, 400, 'M_INVALID_PARAM');
        }
        await nothingStored(d, true);
      });

      it('one-time keys unsigned, wrongly signed, or signed before any device keys exist: M_INVALID_SIGNATURE', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        await rejected(d, { one_time_keys: oneTimeKeys(d, 1) }, 400, 'M_INVALID_SIGNATURE');
        await upload(d, { device_keys: d.deviceKeys });
        const stranger = newKey();
        const wrong = oneTimeKeys({ ...d, key: stranger }, 1, 'W');
        await rejected(d, { one_time_keys: { ...oneTimeKeys(d, 3), ...wrong } }, 400, 'M_INVALID_SIGNATURE');
        await rejected(d, { one_time_keys: { 'signed_curve25519:X': { key: encodeBase64(randomBytes(32)) } } }, 400, 'M_INVALID_SIGNATURE');
        await rejected(d, { fallback_keys: { 'signed_curve25519:X': { key: encodeBase64(randomBytes(32)), fallback: true } } }, 400, 'M_INVALID_SIGNATURE');
        // A signed_* key must be an object, not a bare string.
        await rejected(d, { one_time_keys: { 'signed_curve25519:S': encodeBase64(randomBytes(32)) } }, 400, 'M_BAD_JSON');
        await nothingStored(d, true);
      });

      it(`more than ${MAX_ONE_TIME_KEYS_PER_UPLOAD} one-time keys at once: M_TOO_LARGE`, async () => {
        const d = await newDevice(server);
        await rejected(d, { one_time_keys: oneTimeKeys(d, MAX_ONE_TIME_KEYS_PER_UPLOAD + 1) }, 413, 'M_TOO_LARGE');
        await nothingStored(d, true);
        expect((await upload(d, { one_time_keys: oneTimeKeys(d, MAX_ONE_TIME_KEYS_PER_UPLOAD) })).one_time_key_counts).toEqual({ signed_curve25519: MAX_ONE_TIME_KEYS_PER_UPLOAD });
      });

      it('a one-time key ID reused with another key: M_INVALID_PARAM, and the other keys of that upload are not stored', async () => {
        const d = await newDevice(server);
        await upload(d, { one_time_keys: oneTimeKeys(d, 1, 'SAME') });
        const r = await d.client.post('/_matrix/client/v3/keys/upload', { one_time_keys: { ...oneTimeKeys(d, 1, 'SAME'), ...oneTimeKeys(d, 4, 'NEW') } });
        expect(r.status).toBe(400);
        expect(r.body.errcode).toBe('M_INVALID_PARAM');
        expect(await server.hs.deviceLists.oneTimeKeyCounts(d.userId, d.deviceId)).toEqual({ signed_curve25519: 1 });
      });

      it('two fallback keys of one algorithm: M_INVALID_PARAM', async () => {
        const d = await newDevice(server);
        await rejected(d, { fallback_keys: oneTimeKeys(d, 2, 'F', true) }, 400, 'M_INVALID_PARAM');
        await nothingStored(d, true);
      });

      it('malformed shapes: M_BAD_JSON', async () => {
        const d = await newDevice(server, undefined, { upload: false });
        await rejected(d, { device_keys: 'keys' }, 400, 'M_BAD_JSON');
        await rejected(d, { device_keys: { ...d.deviceKeys, keys: { [`ed25519:${d.deviceId}`]: 5 } } }, 400, 'M_BAD_JSON');
        await rejected(d, { device_keys: { ...d.deviceKeys, algorithms: 'm.megolm.v1.aes-sha2' } }, 400, 'M_BAD_JSON');
        await rejected(d, { device_keys: { ...d.deviceKeys, user_id: undefined } }, 400, 'M_BAD_JSON');
        await rejected(d, { one_time_keys: [] }, 400, 'M_BAD_JSON');
        await rejected(d, { one_time_keys: { 'signed_curve25519:A': { signatures: {} } } }, 400, 'M_BAD_JSON');
        const r = await d.client.request('POST', '/_matrix/client/v3/keys/upload', undefined, { raw: '{not json', headers: { 'content-type': 'application/json' } });
        expect(r.body.errcode).toBe('M_NOT_JSON');
        await nothingStored(d, false);
      });

      it('requires an access token', async () => {
        const r = await new Client(server.baseUrl).post('/_matrix/client/v3/keys/upload', {}, { token: null });
        expect(r.status).toBe(401);
        expect(r.body.errcode).toBe('M_MISSING_TOKEN');
      });
    });
  });

  describe('keys/query', () => {
    it('answers every device with keys, or the ones asked for, with display names; unknown users and devices are empty', async () => {
      const alice = await newDevice(server);
      const alice2 = await loginAgain(server, alice);
      await loginAgain(server, alice, { upload: false }); // a device without keys is not listed
      const rename = await alice.client.put(`/_matrix/client/v3/devices/${alice2.deviceId}`, { display_name: 'Second phone' });
      expect(rename.status).toBe(200);
      const bob = await newDevice(server);
      const nobody = '@nobody:test.local';
      const q = await query(bob, { [alice.userId]: [], [nobody]: [], [bob.userId]: ['UNKNOWN', bob.deviceId] });
      expect(Object.keys(q.device_keys[alice.userId]).sort()).toEqual([alice.deviceId, alice2.deviceId].sort());
      expect(q.device_keys[alice.userId][alice2.deviceId]).toEqual({ ...alice2.deviceKeys, unsigned: { device_display_name: 'Second phone' } });
      expect(q.device_keys[nobody]).toEqual({});
      expect(Object.keys(q.device_keys[bob.userId])).toEqual([bob.deviceId]);
      expect(q.failures).toEqual({});
    });

    it('reports remote servers in `failures` (no federation yet) and accepts `timeout`', async () => {
      const alice = await newDevice(server);
      const r = await alice.client.post<Json & { failures: Json; device_keys: Json }>('/_matrix/client/v3/keys/query', {
        device_keys: { '@bob:remote.example': [], [alice.userId]: [] }, timeout: 10_000,
      });
      expect(r.status).toBe(200);
      expect(Object.keys(r.body.failures)).toEqual(['remote.example']);
      expect(Object.keys(r.body.device_keys)).toEqual([alice.userId]);
    });

    it('rejects invalid user IDs, non-array device lists, a missing device_keys and a negative timeout', async () => {
      const alice = await newDevice(server);
      for (const [body, errcode] of [
        [{ device_keys: { 'not-a-user': [] } }, 'M_INVALID_PARAM'],
        [{ device_keys: { [alice.userId]: 'all' } }, 'M_BAD_JSON'],
        [{}, 'M_MISSING_PARAM'],
        [{ device_keys: {}, timeout: -1 }, 'M_BAD_JSON'],
      ] as const) {
        const r = await alice.client.post('/_matrix/client/v3/keys/query', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.errcode).toBe(errcode);
      }
    });
  });

  describe('keys/claim', () => {
    const claim = async (d: Device, oneTimeKeys: Record<string, Record<string, string>>) => {
      const r = await d.client.post<{ one_time_keys: Record<string, Record<string, Record<string, Json>>>; failures: Json }>('/_matrix/client/v3/keys/claim', { one_time_keys: oneTimeKeys });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    };

    it('hands out one-time keys oldest upload first, each once, then the fallback key (marked used) again and again', async () => {
      const alice = await newDevice(server);
      const bob = await newDevice(server);
      const first = oneTimeKeys(alice, 1, 'FIRST');
      await upload(alice, { one_time_keys: first });
      const second = oneTimeKeys(alice, 1, 'SECOND');
      const fallback = oneTimeKeys(alice, 1, 'FALLBACK', true);
      await upload(alice, { one_time_keys: second, fallback_keys: fallback });
      const want = { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } };

      expect((await claim(bob, want)).one_time_keys).toEqual({ [alice.userId]: { [alice.deviceId]: first } });
      expect(await counts(alice)).toEqual({ signed_curve25519: 1 });
      expect((await claim(bob, want)).one_time_keys).toEqual({ [alice.userId]: { [alice.deviceId]: second } });
      expect(await counts(alice)).toEqual({ signed_curve25519: 0 });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, alice.deviceId)).toEqual(['signed_curve25519']);
      expect((await claim(bob, want)).one_time_keys).toEqual({ [alice.userId]: { [alice.deviceId]: fallback } });
      expect((await claim(bob, want)).one_time_keys).toEqual({ [alice.userId]: { [alice.deviceId]: fallback } });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, alice.deviceId)).toEqual([]);

      // The same fallback key uploaded again stays used; a new one is unused.
      await upload(alice, { fallback_keys: fallback });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, alice.deviceId)).toEqual([]);
      const replacement = oneTimeKeys(alice, 1, 'FALLBACK2', true);
      await upload(alice, { fallback_keys: replacement });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, alice.deviceId)).toEqual(['signed_curve25519']);
      expect((await claim(bob, want)).one_time_keys).toEqual({ [alice.userId]: { [alice.deviceId]: replacement } });
    });

    it('answers nothing for devices without keys, unknown devices and users, and other algorithms', async () => {
      const alice = await newDevice(server);
      await upload(alice, { one_time_keys: oneTimeKeys(alice, 1) });
      const r = await claim(alice, {
        [alice.userId]: { [alice.deviceId]: 'signed_other', NOSUCHDEVICE: 'signed_curve25519' },
        '@nobody:test.local': { X: 'signed_curve25519' },
      });
      expect(r).toEqual({ one_time_keys: {}, failures: {} });
      expect(await counts(alice)).toEqual({ signed_curve25519: 1 });
    });

    it('claims for many devices of many users in one request, and reports remote servers in `failures`', async () => {
      const devices = await Promise.all(Array.from({ length: 6 }, () => newDevice(server)));
      for (const d of devices) await upload(d, { one_time_keys: oneTimeKeys(d, 2) });
      const want: Record<string, Record<string, string>> = { '@x:remote.example': { D: 'signed_curve25519' } };
      for (const d of devices) want[d.userId] = { [d.deviceId]: 'signed_curve25519' };
      const r = await claim(devices[0], want);
      expect(Object.keys(r.failures)).toEqual(['remote.example']);
      for (const d of devices) expect(Object.keys(r.one_time_keys[d.userId][d.deviceId])).toHaveLength(1);
      for (const d of devices) expect(await counts(d)).toEqual({ signed_curve25519: 1 });
    });

    it('never hands out a one-time key twice, even to 40 concurrent claims', async () => {
      const alice = await newDevice(server);
      const claimers = await Promise.all(Array.from({ length: 4 }, () => newDevice(server)));
      await upload(alice, { one_time_keys: oneTimeKeys(alice, 25), fallback_keys: oneTimeKeys(alice, 1, 'FB', true) });
      const want = { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } };
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => claim(claimers[i % claimers.length], want)));
      const ids = results.map((r) => Object.keys(r.one_time_keys[alice.userId][alice.deviceId])[0]);
      const oneTime = ids.filter((id) => !id.includes('FB'));
      expect(new Set(oneTime).size).toBe(25);
      expect(oneTime).toHaveLength(25);
      expect(ids.filter((id) => id.includes('FB'))).toHaveLength(15);
      expect(await counts(alice)).toEqual({ signed_curve25519: 0 });
    });

    it('rejects invalid user IDs and malformed requests', async () => {
      const alice = await newDevice(server);
      for (const [body, errcode] of [
        [{ one_time_keys: { 'nope': { D: 'signed_curve25519' } } }, 'M_INVALID_PARAM'],
        [{ one_time_keys: { [alice.userId]: { D: 5 } } }, 'M_BAD_JSON'],
        [{ one_time_keys: { [alice.userId]: ['D'] } }, 'M_BAD_JSON'],
        [{}, 'M_MISSING_PARAM'],
      ] as const) {
        const r = await alice.client.post('/_matrix/client/v3/keys/claim', body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.errcode).toBe(errcode);
      }
    });
  });

  describe('deleting a device', () => {
    it('deletes its device, one-time and fallback keys and counts as a device-list change', async () => {
      const alice = await newDevice(server);
      const phone = await loginAgain(server, alice);
      await upload(phone, { one_time_keys: oneTimeKeys(phone, 3), fallback_keys: oneTimeKeys(phone, 1, 'F', true) });
      const before = await server.hs.deviceLists.currentPosition();
      const r1 = await alice.client.post('/_matrix/client/v3/delete_devices', { devices: [phone.deviceId] });
      expect(r1.status).toBe(401);
      const r2 = await alice.client.post('/_matrix/client/v3/delete_devices', {
        devices: [phone.deviceId], auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: alice.userId }, password: 'correct horse battery staple', session: (r1.body as { session: string }).session },
      });
      expect(r2.status, JSON.stringify(r2.body)).toBe(200);
      expect(Object.keys((await query(alice, { [alice.userId]: [] })).device_keys[alice.userId])).toEqual([alice.deviceId]);
      expect(await server.hs.deviceLists.oneTimeKeyCounts(alice.userId, phone.deviceId)).toEqual({ signed_curve25519: 0 });
      expect(await server.hs.deviceLists.unusedFallbackKeyTypes(alice.userId, phone.deviceId)).toEqual([]);
      expect(await server.hs.deviceLists.currentPosition()).toBeGreaterThan(before);
      expect((await server.hs.deviceLists.changesSince(alice.userId, before)).changed).toEqual([alice.userId]);
      // A device logged in again under the same ID starts with no keys.
      const again = await loginAgain(server, alice, { deviceId: phone.deviceId, upload: false });
      expect((await query(again, { [alice.userId]: [phone.deviceId] })).device_keys[alice.userId]).toEqual({});
    });
  });
});
