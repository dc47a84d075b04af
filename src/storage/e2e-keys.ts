// End-to-end encryption keys: device identity keys, one-time and fallback keys, cross-signing
// keys and the signatures uploaded for them. Keys are stored as canonical JSON text, so two
// uploads of the same key compare equal as strings.
// spec: client-server-api modules/end_to_end_encryption "Key Distribution", "Cross-signing"
import { sql } from 'kysely';
import type { DB } from './database.js';
import { isPostgres } from './stream-position.js';

export interface StoredKey {
  algorithm: string;
  keyId: string;
  /** Canonical JSON of the key (a string key is stored as a JSON string). */
  json: string;
}

export interface KeyUpload {
  /** Canonical JSON of the device keys, when the upload carries them. */
  deviceKeys?: string;
  oneTimeKeys: StoredKey[];
  fallbackKeys: StoredKey[];
}

export type KeyUploadResult =
  | { ok: true; deviceKeysChanged: boolean }
  /** A one-time key of this `<algorithm>:<key_id>` exists with other content; nothing was stored. */
  | { ok: false; conflict: string };

export interface ClaimRequest { userId: string; deviceId: string; algorithm: string }
export interface ClaimedKey extends StoredKey { userId: string; deviceId: string; fallback: boolean }

export interface DeviceKeysRow { userId: string; deviceId: string; json: string; displayName: string | null }

export type CrossSigningKeyType = 'master' | 'self_signing' | 'user_signing';
export interface CrossSigningKeyRow { userId: string; type: CrossSigningKeyType; publicKey: string; json: string }

export interface SignatureRow {
  targetUserId: string;
  /** A device ID, or the public key of a cross-signing key. */
  targetKeyId: string;
  signerUserId: string;
  signerKeyId: string;
  signature: string;
}

/** SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535. */
const CHUNK = 1000;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class E2eKeyStore {
  private readonly postgres: boolean;

  constructor(private readonly db: DB) {
    this.postgres = isPostgres(db);
  }

  // ---- device keys, one-time keys, fallback keys ----

  /**
   * Stores one keys/upload in one transaction. One-time keys already stored under the same ID
   * must be the same key (a client may repeat an upload whose response it lost); otherwise
   * nothing is stored. A fallback key replaces the previous one of its algorithm, and is unused
   * again unless it is the same key.
   */
  async upload(userId: string, deviceId: string, u: KeyUpload): Promise<KeyUploadResult> {
    return this.db.transaction().execute(async (tx): Promise<KeyUploadResult> => {
      const fresh: StoredKey[] = [];
      for (const batch of chunks(u.oneTimeKeys)) {
        const existing = await tx.selectFrom('e2e_one_time_keys').select(['algorithm', 'key_id', 'key_json'])
          .where('user_id', '=', userId).where('device_id', '=', deviceId)
          .where('key_id', 'in', batch.map((k) => k.keyId)).execute();
        const known = new Map(existing.map((r) => [`${r.algorithm}:${r.key_id}`, r.key_json]));
        for (const k of batch) {
          const old = known.get(`${k.algorithm}:${k.keyId}`);
          if (old === undefined) fresh.push(k);
          else if (old !== k.json) return { ok: false, conflict: `${k.algorithm}:${k.keyId}` };
        }
      }
      for (const batch of chunks(fresh)) {
        await tx.insertInto('e2e_one_time_keys')
          .values(batch.map((k) => ({ user_id: userId, device_id: deviceId, algorithm: k.algorithm, key_id: k.keyId, key_json: k.json })))
          .onConflict((oc) => oc.columns(['user_id', 'device_id', 'algorithm', 'key_id']).doNothing())
          .execute();
      }

      for (const k of u.fallbackKeys) {
        const old = await tx.selectFrom('e2e_fallback_keys').select(['key_id', 'key_json'])
          .where('user_id', '=', userId).where('device_id', '=', deviceId).where('algorithm', '=', k.algorithm).executeTakeFirst();
        if (old && old.key_id === k.keyId && old.key_json === k.json) continue;
        await tx.insertInto('e2e_fallback_keys')
          .values({ user_id: userId, device_id: deviceId, algorithm: k.algorithm, key_id: k.keyId, key_json: k.json, used: 0 })
          .onConflict((oc) => oc.columns(['user_id', 'device_id', 'algorithm']).doUpdateSet({ key_id: k.keyId, key_json: k.json, used: 0 }))
          .execute();
      }

      let deviceKeysChanged = false;
      if (u.deviceKeys !== undefined) {
        const old = await tx.selectFrom('e2e_device_keys').select('key_json')
          .where('user_id', '=', userId).where('device_id', '=', deviceId).executeTakeFirst();
        if (old?.key_json !== u.deviceKeys) {
          deviceKeysChanged = true;
          await tx.insertInto('e2e_device_keys').values({ user_id: userId, device_id: deviceId, key_json: u.deviceKeys })
            .onConflict((oc) => oc.columns(['user_id', 'device_id']).doUpdateSet({ key_json: u.deviceKeys as string }))
            .execute();
        }
      }
      return { ok: true, deviceKeysChanged };
    });
  }

  async deviceKeys(userId: string, deviceId: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('e2e_device_keys').select('key_json')
      .where('user_id', '=', userId).where('device_id', '=', deviceId).executeTakeFirst();
    return r?.key_json;
  }

  /** The device keys of these users' existing devices, with the devices' display names. */
  async deviceKeysOf(userIds: readonly string[]): Promise<DeviceKeysRow[]> {
    const out: DeviceKeysRow[] = [];
    for (const batch of chunks([...new Set(userIds)])) {
      const rows = await this.db.selectFrom('e2e_device_keys as k')
        .innerJoin('devices as d', (j) => j.onRef('d.user_id', '=', 'k.user_id').onRef('d.device_id', '=', 'k.device_id'))
        .select(['k.user_id', 'k.device_id', 'k.key_json', 'd.display_name'])
        .where('k.user_id', 'in', batch).execute();
      for (const r of rows) out.push({ userId: r.user_id, deviceId: r.device_id, json: r.key_json, displayName: r.display_name });
    }
    return out;
  }

  /** Unclaimed one-time keys of a device, per algorithm. */
  async oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>> {
    const rows = await this.db.selectFrom('e2e_one_time_keys').select(['algorithm', (eb) => eb.fn.countAll<number>().as('n')])
      .where('user_id', '=', userId).where('device_id', '=', deviceId).groupBy('algorithm').execute();
    return Object.fromEntries(rows.map((r) => [r.algorithm, Number(r.n)]));
  }

  async unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('e2e_fallback_keys').select('algorithm')
      .where('user_id', '=', userId).where('device_id', '=', deviceId).where('used', '=', 0).orderBy('algorithm').execute();
    return rows.map((r) => r.algorithm);
  }

  /**
   * Claims the oldest one-time key of each requested device and algorithm, deleting it in the
   * same statement, so that no key is ever handed out twice (on PostgreSQL, concurrent claims
   * skip the rows another claim has locked). Devices without one get their fallback key, which
   * is marked used.
   */
  async claim(requests: readonly ClaimRequest[]): Promise<ClaimedKey[]> {
    const out: ClaimedKey[] = [];
    const got = new Set<string>();
    const id = (u: string, d: string, a: string) => JSON.stringify([u, d, a]);
    for (const batch of chunks(requests)) {
      const values = sql.join(batch.map((r) => sql`(${r.userId}, ${r.deviceId}, ${r.algorithm})`));
      const pick = this.postgres
        ? sql`SELECT k.id FROM q CROSS JOIN LATERAL (SELECT o.id FROM e2e_one_time_keys o
            WHERE o.user_id = q.u AND o.device_id = q.d AND o.algorithm = q.a ORDER BY o.id LIMIT 1 FOR UPDATE SKIP LOCKED) k`
        : sql`SELECT (SELECT o.id FROM e2e_one_time_keys o
            WHERE o.user_id = q.u AND o.device_id = q.d AND o.algorithm = q.a ORDER BY o.id LIMIT 1) FROM q`;
      const r = await sql<{ user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string }>`
        WITH q(u, d, a) AS (VALUES ${values})
        DELETE FROM e2e_one_time_keys WHERE id IN (${pick})
        RETURNING user_id, device_id, algorithm, key_id, key_json`.execute(this.db);
      for (const k of r.rows) {
        got.add(id(k.user_id, k.device_id, k.algorithm));
        out.push({ userId: k.user_id, deviceId: k.device_id, algorithm: k.algorithm, keyId: k.key_id, json: k.key_json, fallback: false });
      }
    }
    const missing = requests.filter((r) => !got.has(id(r.userId, r.deviceId, r.algorithm)));
    for (const batch of chunks(missing)) {
      const values = sql.join(batch.map((r) => sql`(${r.userId}, ${r.deviceId}, ${r.algorithm})`));
      const r = await sql<{ user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string }>`
        WITH q(u, d, a) AS (VALUES ${values})
        UPDATE e2e_fallback_keys SET used = 1
        WHERE EXISTS (SELECT 1 FROM q WHERE q.u = e2e_fallback_keys.user_id AND q.d = e2e_fallback_keys.device_id AND q.a = e2e_fallback_keys.algorithm)
        RETURNING user_id, device_id, algorithm, key_id, key_json`.execute(this.db);
      for (const k of r.rows) out.push({ userId: k.user_id, deviceId: k.device_id, algorithm: k.algorithm, keyId: k.key_id, json: k.key_json, fallback: true });
    }
    return out;
  }

  /**
   * Deletes the keys of deleted devices: identity, one-time and fallback keys, signatures of
   * them and signatures they made. Returns whether any of the devices had identity keys.
   */
  async deleteDevices(userId: string, deviceIds: readonly string[]): Promise<boolean> {
    if (deviceIds.length === 0) return false;
    return this.db.transaction().execute(async (tx) => {
      let hadKeys = false;
      for (const batch of chunks(deviceIds)) {
        const r = await tx.deleteFrom('e2e_device_keys').where('user_id', '=', userId).where('device_id', 'in', batch).executeTakeFirst();
        if (Number(r.numDeletedRows) > 0) hadKeys = true;
        await tx.deleteFrom('e2e_one_time_keys').where('user_id', '=', userId).where('device_id', 'in', batch).execute();
        await tx.deleteFrom('e2e_fallback_keys').where('user_id', '=', userId).where('device_id', 'in', batch).execute();
        await tx.deleteFrom('e2e_key_signatures').where('target_user_id', '=', userId).where('target_key_id', 'in', batch).execute();
        await tx.deleteFrom('e2e_key_signatures').where('signer_user_id', '=', userId)
          .where('signer_key_id', 'in', batch.map((d) => `ed25519:${d}`)).execute();
      }
      return hadKeys;
    });
  }

  // ---- cross-signing ----

  async crossSigningKeysOf(userIds: readonly string[]): Promise<CrossSigningKeyRow[]> {
    const out: CrossSigningKeyRow[] = [];
    for (const batch of chunks([...new Set(userIds)])) {
      const rows = await this.db.selectFrom('e2e_cross_signing_keys').selectAll().where('user_id', 'in', batch).execute();
      for (const r of rows) out.push({ userId: r.user_id, type: r.key_type as CrossSigningKeyType, publicKey: r.public_key, json: r.key_json });
    }
    return out;
  }

  async setCrossSigningKeys(userId: string, keys: ReadonlyArray<{ type: CrossSigningKeyType; publicKey: string; json: string }>): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      for (const k of keys) {
        await tx.insertInto('e2e_cross_signing_keys').values({ user_id: userId, key_type: k.type, public_key: k.publicKey, key_json: k.json })
          .onConflict((oc) => oc.columns(['user_id', 'key_type']).doUpdateSet({ public_key: k.publicKey, key_json: k.json }))
          .execute();
      }
    });
  }

  /** Signatures of these users' devices and cross-signing keys, whoever made them. */
  async signaturesOn(targetUserIds: readonly string[]): Promise<SignatureRow[]> {
    const out: SignatureRow[] = [];
    for (const batch of chunks([...new Set(targetUserIds)])) {
      const rows = await this.db.selectFrom('e2e_key_signatures').selectAll().where('target_user_id', 'in', batch).execute();
      for (const r of rows) {
        out.push({ targetUserId: r.target_user_id, targetKeyId: r.target_key_id, signerUserId: r.signer_user_id, signerKeyId: r.signer_key_id, signature: r.signature });
      }
    }
    return out;
  }

  async addSignatures(rows: readonly SignatureRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (const s of rows) {
        await tx.insertInto('e2e_key_signatures').values({
          target_user_id: s.targetUserId, target_key_id: s.targetKeyId, signer_user_id: s.signerUserId, signer_key_id: s.signerKeyId, signature: s.signature,
        }).onConflict((oc) => oc.columns(['target_user_id', 'target_key_id', 'signer_user_id', 'signer_key_id']).doUpdateSet({ signature: s.signature }))
          .execute();
      }
    });
  }
}
