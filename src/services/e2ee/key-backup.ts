// Server-side key backups: versions (create, read, update, delete) and the encrypted session
// keys in them, with the spec's rule for which of two keys for one session is kept.
// spec: client-server-api modules/end_to_end_encryption "Server-side key backups"; key_backup.yaml
import type { JsonObject } from '../../core/pdu.js';
import { MatrixError, badJson, invalidParam, notFound } from '../../errors.js';
import type { BackedUpKey, BackedUpKeyRow, BackupVersionRow } from '../../storage/key-backup.js';
import type { Storage } from '../../storage/index.js';
import { KeyedMutex } from '../keyed-mutex.js';

export type { BackedUpKey } from '../../storage/key-backup.js';

/** The one backup algorithm of the spec. */
export const MEGOLM_BACKUP_V1 = 'm.megolm_backup.v1.curve25519-aes-sha2';

export interface BackupInfo { algorithm: string; auth_data: JsonObject; count: number; etag: string; version: string }
export interface BackupUpdate { etag: string; count: number }

/** Versions are decimal numbers; anything else names no backup. */
const VERSION = /^[1-9]\d{0,14}$/;

/**
 * spec: "Server-side key backups": of two keys for one session, keep the verified one; then the
 * one with the lower first_message_index; then the one with the lower forwarded_count. On a
 * tie the stored key stays.
 */
export function replacesStoredKey(stored: BackedUpKey, uploaded: BackedUpKey): boolean {
  if (stored.is_verified !== uploaded.is_verified) return uploaded.is_verified;
  if (stored.first_message_index !== uploaded.first_message_index) return uploaded.first_message_index < stored.first_message_index;
  return uploaded.forwarded_count < stored.forwarded_count;
}

export class KeyBackupService {
  /** A user's backup writes run one at a time, so a version check holds until the write is done. */
  private readonly writes = new KeyedMutex();

  constructor(private readonly storage: Storage) {}

  /** POST /room_keys/version. */
  createVersion(userId: string, algorithm: string, authData: JsonObject): Promise<string> {
    checkAuthData(algorithm, authData);
    return this.writes.run(userId, async () => String(await this.storage.keyBackup.createVersion(userId, algorithm, authData)));
  }

  /** GET /room_keys/version[/{version}]: the given version, or the current one. */
  async info(userId: string, version?: string): Promise<BackupInfo> {
    const row = version === undefined ? await this.storage.keyBackup.currentVersion(userId) : await this.existing(userId, version);
    if (!row) throw notFound(version === undefined ? 'No current backup version' : 'Unknown backup version');
    return {
      algorithm: row.algorithm,
      auth_data: row.authData,
      count: await this.storage.keyBackup.count(userId, row.version),
      etag: String(row.etag),
      version: String(row.version),
    };
  }

  /** PUT /room_keys/version/{version}: only `auth_data` may change. */
  updateVersion(userId: string, version: string, body: { algorithm: string; auth_data: JsonObject; version?: string }): Promise<void> {
    return this.writes.run(userId, async () => {
      if (body.version !== undefined && body.version !== version) throw invalidParam('The version in the body does not match the version in the path');
      const row = await this.existing(userId, version);
      if (!row) throw notFound('Unknown backup version');
      if (body.algorithm !== row.algorithm) throw invalidParam('The algorithm does not match the backup\'s algorithm');
      checkAuthData(body.algorithm, body.auth_data);
      await this.storage.keyBackup.updateAuthData(userId, row.version, body.auth_data);
    });
  }

  /** DELETE /room_keys/version/{version}: deleting a deleted version again succeeds. */
  deleteVersion(userId: string, version: string): Promise<void> {
    return this.writes.run(userId, async () => {
      const row = VERSION.test(version) ? await this.storage.keyBackup.version(userId, Number(version)) : undefined;
      if (!row) throw notFound('Unknown backup version');
      if (!row.deleted) await this.storage.keyBackup.deleteVersion(userId, row.version);
    });
  }

  /** PUT /room_keys/keys[/{roomId}[/{sessionId}]]: only into the current version. */
  putKeys(userId: string, version: string, keys: readonly BackedUpKeyRow[]): Promise<BackupUpdate> {
    return this.writes.run(userId, async () => {
      const current = await this.storage.keyBackup.currentVersion(userId);
      if (!current) throw notFound('No current backup version');
      if (String(current.version) !== version) {
        throw new MatrixError('M_WRONG_ROOM_KEYS_VERSION', 'Wrong backup version', 403, { current_version: String(current.version) });
      }
      const r = await this.storage.keyBackup.putKeys(userId, current.version, keys, replacesStoredKey);
      return { etag: String(r.etag), count: r.count };
    });
  }

  /** GET /room_keys/keys[/{roomId}[/{sessionId}]]. */
  async keys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<BackedUpKeyRow[]> {
    const row = await this.existing(userId, version);
    if (!row) throw notFound('Unknown backup version');
    return this.storage.keyBackup.keys(userId, row.version, roomId, sessionId);
  }

  /** DELETE /room_keys/keys[/{roomId}[/{sessionId}]]. */
  deleteKeys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<BackupUpdate> {
    return this.writes.run(userId, async () => {
      const row = await this.existing(userId, version);
      if (!row) throw notFound('Unknown backup version');
      const r = await this.storage.keyBackup.deleteKeys(userId, row.version, roomId, sessionId);
      return { etag: String(r.etag), count: r.count };
    });
  }

  /** A version that exists and is not deleted. */
  private async existing(userId: string, version: string): Promise<BackupVersionRow | undefined> {
    if (!VERSION.test(version)) return undefined;
    const row = await this.storage.keyBackup.version(userId, Number(version));
    return row && !row.deleted ? row : undefined;
  }
}

/** spec: definitions/key_backup_auth_data.yaml: the backup's curve25519 `public_key` is required. */
function checkAuthData(algorithm: string, authData: JsonObject): void {
  if (algorithm !== MEGOLM_BACKUP_V1) throw invalidParam(`Unsupported backup algorithm ${JSON.stringify(algorithm)}`);
  if (typeof authData.public_key !== 'string' || authData.public_key === '') throw badJson('`auth_data.public_key` must be a non-empty string');
}
