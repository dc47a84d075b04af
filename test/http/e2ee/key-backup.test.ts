// Server-side key backups on both databases: versions (create, read, update, delete), keys for
// all rooms, one room and one session (put, get, delete), etag and count, which of two keys for
// one session is kept, and M_WRONG_ROOM_KEYS_VERSION.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEGOLM_BACKUP_V1 } from '../../../src/services/e2ee/key-backup.js';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { enc, newDevice, loginAgain, type Device, type Json } from './helpers.js';

const VERSION = '/_matrix/client/v3/room_keys/version';
const KEYS = '/_matrix/client/v3/room_keys/keys';
const ROOM = '!room1:test.local';
const ROOM2 = '!room2:test.local';

const key = (fmi: number, fc: number, verified: boolean, data = 'x'): Json => ({
  first_message_index: fmi, forwarded_count: fc, is_verified: verified, session_data: { ephemeral: 'e', ciphertext: data, mac: 'm' },
});

describe.each(ENGINES)('E2EE key backup (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server?.close());

  async function createVersion(d: Device, publicKey = 'abcdefg'): Promise<string> {
    const r = await d.client.post<{ version: string }>(VERSION, { algorithm: MEGOLM_BACKUP_V1, auth_data: { public_key: publicKey, signatures: {} } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.version;
  }
  async function ok<T = Json>(p: Promise<{ status: number; body: T }>): Promise<T> {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  }
  async function error(p: Promise<{ status: number; body: Json }>, status: number, errcode: string): Promise<Json> {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.errcode).toBe(errcode);
    return r.body;
  }

  describe('versions', () => {
    it('creates, reads, updates and deletes versions; the current one is the latest not deleted', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      await error(d.client.get(VERSION), 404, 'M_NOT_FOUND');
      const v1 = await createVersion(d, 'key1');
      expect(await ok(d.client.get(VERSION))).toEqual({ algorithm: MEGOLM_BACKUP_V1, auth_data: { public_key: 'key1', signatures: {} }, count: 0, etag: expect.any(String), version: v1 });
      const v2 = await createVersion(d, 'key2');
      expect(v2).not.toBe(v1);
      expect((await ok(d.client.get(VERSION))).version).toBe(v2);
      expect((await ok(d.client.get(`${VERSION}/${v1}`))).auth_data).toEqual({ public_key: 'key1', signatures: {} });

      await ok(d.client.put(`${VERSION}/${v2}`, { algorithm: MEGOLM_BACKUP_V1, auth_data: { public_key: 'key2', signatures: { [d.userId]: { 'ed25519:X': 'sig' } } }, version: v2 }));
      expect((await ok(d.client.get(`${VERSION}/${v2}`))).auth_data).toEqual({ public_key: 'key2', signatures: { [d.userId]: { 'ed25519:X': 'sig' } } });

      await ok(d.client.delete(`${VERSION}/${v2}`));
      // Deleting it again succeeds (spec: "If the backup was previously deleted, the call should succeed").
      await ok(d.client.delete(`${VERSION}/${v2}`));
      await error(d.client.get(`${VERSION}/${v2}`), 404, 'M_NOT_FOUND');
      expect((await ok(d.client.get(VERSION))).version).toBe(v1);
      // Version numbers are never reused.
      const v3 = await createVersion(d);
      expect([v1, v2]).not.toContain(v3);
    });

    it('backups are per user', async () => {
      const alice = await newDevice(server, undefined, { upload: false });
      const bob = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(alice);
      await error(bob.client.get(VERSION), 404, 'M_NOT_FOUND');
      await error(bob.client.get(`${VERSION}/${v}`), 404, 'M_NOT_FOUND');
      await error(bob.client.delete(`${VERSION}/${v}`), 404, 'M_NOT_FOUND');
      await error(bob.client.get(`${KEYS}?version=${v}`), 404, 'M_NOT_FOUND');
      // Alice's other devices share her backup.
      const phone = await loginAgain(server, alice, { upload: false });
      expect((await ok(phone.client.get(VERSION))).version).toBe(v);
    });

    it('rejects unknown algorithms, missing auth_data, mismatched updates and unknown versions', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      await error(d.client.post(VERSION, { algorithm: 'm.unknown', auth_data: { public_key: 'x' } }), 400, 'M_INVALID_PARAM');
      await error(d.client.post(VERSION, { algorithm: MEGOLM_BACKUP_V1 }), 400, 'M_MISSING_PARAM');
      await error(d.client.post(VERSION, { algorithm: MEGOLM_BACKUP_V1, auth_data: {} }), 400, 'M_BAD_JSON');
      await error(d.client.post(VERSION, { algorithm: MEGOLM_BACKUP_V1, auth_data: 'x' }), 400, 'M_BAD_JSON');
      await error(d.client.get(VERSION), 404, 'M_NOT_FOUND');
      const v = await createVersion(d);
      await error(d.client.put(`${VERSION}/${v}`, { algorithm: 'm.other', auth_data: { public_key: 'x' } }), 400, 'M_INVALID_PARAM');
      await error(d.client.put(`${VERSION}/${v}`, { algorithm: MEGOLM_BACKUP_V1, auth_data: { public_key: 'x' }, version: 'other' }), 400, 'M_INVALID_PARAM');
      await error(d.client.put(`${VERSION}/${v}`, { algorithm: MEGOLM_BACKUP_V1, auth_data: {} }), 400, 'M_BAD_JSON');
      for (const bad of ['999', 'abc', '0', '01']) {
        await error(d.client.get(`${VERSION}/${bad}`), 404, 'M_NOT_FOUND');
        await error(d.client.put(`${VERSION}/${bad}`, { algorithm: MEGOLM_BACKUP_V1, auth_data: { public_key: 'x' } }), 404, 'M_NOT_FOUND');
        await error(d.client.delete(`${VERSION}/${bad}`), 404, 'M_NOT_FOUND');
      }
      expect((await ok(d.client.get(`${VERSION}/${v}`))).auth_data).toEqual({ public_key: 'abcdefg', signatures: {} });
    });
  });

  describe('keys', () => {
    it('stores and reads keys for all rooms, one room and one session, with count and etag', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(d);
      const etag0 = (await ok(d.client.get(VERSION))).etag;
      const r1 = await ok(d.client.put(`${KEYS}?version=${v}`, { rooms: { [ROOM]: { sessions: { s1: key(0, 0, false), s2: key(0, 0, false) } } } }));
      expect(r1).toEqual({ etag: expect.any(String), count: 2 });
      expect(r1.etag).not.toBe(etag0);
      const r2 = await ok(d.client.put(`${KEYS}/${enc(ROOM2)}?version=${v}`, { sessions: { s3: key(1, 0, true) } }));
      expect(r2.count).toBe(3);
      const r3 = await ok(d.client.put(`${KEYS}/${enc(ROOM2)}/s4?version=${v}`, key(2, 1, false)));
      expect(r3.count).toBe(4);
      expect(new Set([r1.etag, r2.etag, r3.etag]).size).toBe(3);

      expect(await ok(d.client.get(`${KEYS}?version=${v}`))).toEqual({
        rooms: { [ROOM]: { sessions: { s1: key(0, 0, false), s2: key(0, 0, false) } }, [ROOM2]: { sessions: { s3: key(1, 0, true), s4: key(2, 1, false) } } },
      });
      expect(await ok(d.client.get(`${KEYS}/${enc(ROOM)}?version=${v}`))).toEqual({ sessions: { s1: key(0, 0, false), s2: key(0, 0, false) } });
      expect(await ok(d.client.get(`${KEYS}/${enc(ROOM2)}/s4?version=${v}`))).toEqual(key(2, 1, false));
      expect(await ok(d.client.get(VERSION))).toMatchObject({ count: 4, etag: r3.etag });

      // Empty answers: a room without keys, a version without keys; a missing session is 404.
      expect(await ok(d.client.get(`${KEYS}/${enc('!empty:test.local')}?version=${v}`))).toEqual({ sessions: {} });
      await error(d.client.get(`${KEYS}/${enc(ROOM)}/nope?version=${v}`), 404, 'M_NOT_FOUND');
      const v2 = await createVersion(d);
      expect(await ok(d.client.get(`${KEYS}?version=${v2}`))).toEqual({ rooms: {} });
      // The older version can still be read.
      expect((await ok(d.client.get<{ rooms: Json }>(`${KEYS}?version=${v}`))).rooms).toHaveProperty(ROOM);
    });

    it('keeps the better key for a session: verified, then lower first_message_index, then lower forwarded_count', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(d);
      const put = (k: Json) => ok(d.client.put<Json>(`${KEYS}/${enc(ROOM)}/sess?version=${v}`, k));
      const stored = () => ok(d.client.get(`${KEYS}/${enc(ROOM)}/sess?version=${v}`));
      await put(key(5, 2, false, 'a'));
      // A tie keeps the stored key, and the etag does not move.
      const etag = (await put(key(5, 2, false, 'tie'))).etag;
      expect(await stored()).toEqual(key(5, 2, false, 'a'));
      expect((await ok(d.client.get(VERSION))).etag).toBe(etag);
      // Lower forwarded_count wins at the same index.
      await put(key(5, 1, false, 'b'));
      expect(await stored()).toEqual(key(5, 1, false, 'b'));
      await put(key(5, 3, false, 'c'));
      expect(await stored()).toEqual(key(5, 1, false, 'b'));
      // Lower first_message_index wins over a lower forwarded_count.
      await put(key(3, 9, false, 'd'));
      expect(await stored()).toEqual(key(3, 9, false, 'd'));
      await put(key(4, 0, false, 'e'));
      expect(await stored()).toEqual(key(3, 9, false, 'd'));
      // Verified wins over everything; an unverified key never replaces a verified one.
      await put(key(10, 10, true, 'f'));
      expect(await stored()).toEqual(key(10, 10, true, 'f'));
      await put(key(0, 0, false, 'g'));
      expect(await stored()).toEqual(key(10, 10, true, 'f'));
      await put(key(9, 10, true, 'h'));
      expect(await stored()).toEqual(key(9, 10, true, 'h'));
      expect((await ok(d.client.get(VERSION))).count).toBe(1);
    });

    it('writes only to the current version: M_WRONG_ROOM_KEYS_VERSION with current_version', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      await error(d.client.put(`${KEYS}?version=1`, { rooms: {} }), 404, 'M_NOT_FOUND');
      const v1 = await createVersion(d);
      const v2 = await createVersion(d);
      for (const [path, body] of [
        [`${KEYS}?version=${v1}`, { rooms: { [ROOM]: { sessions: { s: key(0, 0, false) } } } }],
        [`${KEYS}/${enc(ROOM)}?version=${v1}`, { sessions: { s: key(0, 0, false) } }],
        [`${KEYS}/${enc(ROOM)}/s?version=${v1}`, key(0, 0, false)],
        [`${KEYS}/${enc(ROOM)}/s?version=nonsense`, key(0, 0, false)],
      ] as const) {
        const e = await error(d.client.put(path, body), 403, 'M_WRONG_ROOM_KEYS_VERSION');
        expect(e.current_version).toBe(v2);
      }
      expect((await ok(d.client.get(`${VERSION}/${v1}`))).count).toBe(0);
    });

    it('deletes keys of one session, one room, or all rooms, answering etag and count', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(d);
      await ok(d.client.put(`${KEYS}?version=${v}`, { rooms: {
        [ROOM]: { sessions: { a: key(0, 0, false), b: key(0, 0, false) } },
        [ROOM2]: { sessions: { c: key(0, 0, false), d: key(0, 0, false) } },
      } }));
      const e0 = (await ok(d.client.get(VERSION))).etag;
      const r1 = await ok(d.client.delete(`${KEYS}/${enc(ROOM)}/a?version=${v}`));
      expect(r1.count).toBe(3);
      expect(r1.etag).not.toBe(e0);
      // Deleting what is not there changes nothing.
      expect(await ok(d.client.delete(`${KEYS}/${enc(ROOM)}/a?version=${v}`))).toEqual(r1);
      expect((await ok(d.client.delete(`${KEYS}/${enc(ROOM2)}?version=${v}`))).count).toBe(1);
      expect((await ok(d.client.delete(`${KEYS}?version=${v}`))).count).toBe(0);
      expect(await ok(d.client.get(`${KEYS}?version=${v}`))).toEqual({ rooms: {} });
      await error(d.client.delete(`${KEYS}?version=999`), 404, 'M_NOT_FOUND');
    });

    it('deleting a version deletes its keys', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(d);
      await ok(d.client.put(`${KEYS}/${enc(ROOM)}/s?version=${v}`, key(0, 0, false)));
      await ok(d.client.delete(`${VERSION}/${v}`));
      await error(d.client.get(`${KEYS}?version=${v}`), 404, 'M_NOT_FOUND');
      await error(d.client.put(`${KEYS}/${enc(ROOM)}/s?version=${v}`, key(0, 0, false)), 404, 'M_NOT_FOUND');
    });

    it('rejects malformed keys, room IDs and session IDs, and a missing version, storing nothing', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const v = await createVersion(d);
      const cases: Array<[string, unknown, string]> = [
        [`${KEYS}/${enc(ROOM)}/s?version=${v}`, { ...key(0, 0, false), first_message_index: -1 }, 'M_BAD_JSON'],
        [`${KEYS}/${enc(ROOM)}/s?version=${v}`, { ...key(0, 0, false), forwarded_count: 1.5 }, 'M_BAD_JSON'],
        [`${KEYS}/${enc(ROOM)}/s?version=${v}`, { ...key(0, 0, false), is_verified: 'yes' }, 'M_BAD_JSON'],
        [`${KEYS}/${enc(ROOM)}/s?version=${v}`, { ...key(0, 0, false), session_data: 'x' }, 'M_BAD_JSON'],
        [`${KEYS}/${enc(ROOM)}/s?version=${v}`, { first_message_index: 0, forwarded_count: 0, is_verified: false }, 'M_MISSING_PARAM'],
        [`${KEYS}/${enc(ROOM)}?version=${v}`, { sessions: { ok: key(0, 0, false), bad: { ...key(0, 0, false), is_verified: 1 } } }, 'M_BAD_JSON'],
        [`${KEYS}?version=${v}`, { rooms: { [ROOM]: { sessions: { ok: key(0, 0, false) } }, 'not-a-room': { sessions: { s: key(0, 0, false) } } } }, 'M_INVALID_PARAM'],
        [`${KEYS}/${enc('not-a-room')}/s?version=${v}`, key(0, 0, false), 'M_INVALID_PARAM'],
        [`${KEYS}/${enc(ROOM)}/${enc('bad\u0000session')}?version=${v}`, key(0, 0, false), 'M_INVALID_PARAM'],
        [`${KEYS}/${enc(ROOM)}/s`, key(0, 0, false), 'M_MISSING_PARAM'],
        [`${KEYS}?version=${v}`, {}, 'M_MISSING_PARAM'],
      ];
      for (const [path, body, errcode] of cases) await error(d.client.put(path, body), 400, errcode);
      expect((await ok(d.client.get(VERSION))).count).toBe(0);
      await error(d.client.get(`${KEYS}/${enc('not-a-room')}?version=${v}`), 400, 'M_INVALID_PARAM');
      await error(d.client.get(KEYS), 400, 'M_MISSING_PARAM');
    });

    it('guests may not use key backups', async () => {
      const d = await newDevice(server, undefined, { upload: false });
      const g = await d.client.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      await error(d.client.get(VERSION, { token: g.body.access_token }), 403, 'M_GUEST_ACCESS_FORBIDDEN');
    });
  });
});
