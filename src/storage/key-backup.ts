// Server-side key backups: per-user backup versions and the encrypted room keys in them.
// spec: client-server-api modules/end_to_end_encryption "Server-side key backups"
import type { JsonObject } from '../core/pdu.js';
import type { DB, Tx } from './database.js';

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  authData: JsonObject;
  /** Counts the changes to the version's keys. */
  etag: number;
  deleted: boolean;
}

/** KeyBackupData: a session key as the client uploaded it. */
export interface BackedUpKey {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: JsonObject;
}

export interface BackedUpKeyRow { roomId: string; sessionId: string; key: BackedUpKey }

const CHUNK = 500;

export class KeyBackupStore {
  constructor(private readonly db: DB) {}

  /** Creates the next version; numbers are never reused, deleted versions included. */
  async createVersion(userId: string, algorithm: string, authData: JsonObject): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx.selectFrom('e2e_room_keys_versions').select((eb) => eb.fn.max('version').as('max')).where('user_id', '=', userId).executeTakeFirst();
      const version = Number(r?.max ?? 0) + 1;
      await tx.insertInto('e2e_room_keys_versions').values({
        user_id: userId, version, algorithm, auth_data: JSON.stringify(authData), etag: 0, deleted: 0,
      }).execute();
      return version;
    });
  }

  /** The latest version that is not deleted. */
  async currentVersion(userId: string): Promise<BackupVersionRow | undefined> {
    const r = await this.db.selectFrom('e2e_room_keys_versions').selectAll()
      .where('user_id', '=', userId).where('deleted', '=', 0).orderBy('version', 'desc').limit(1).executeTakeFirst();
    return r && toVersion(r);
  }

  /** A version, deleted or not. */
  async version(userId: string, version: number): Promise<BackupVersionRow | undefined> {
    const r = await this.db.selectFrom('e2e_room_keys_versions').selectAll()
      .where('user_id', '=', userId).where('version', '=', version).executeTakeFirst();
    return r && toVersion(r);
  }

  async updateAuthData(userId: string, version: number, authData: JsonObject): Promise<void> {
    await this.db.updateTable('e2e_room_keys_versions').set({ auth_data: JSON.stringify(authData) })
      .where('user_id', '=', userId).where('version', '=', version).execute();
  }

  /** Marks the version deleted and deletes its keys. */
  async deleteVersion(userId: string, version: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('e2e_room_keys').where('user_id', '=', userId).where('version', '=', version).execute();
      await tx.updateTable('e2e_room_keys_versions').set({ deleted: 1 }).where('user_id', '=', userId).where('version', '=', version).execute();
    });
  }

  async count(userId: string, version: number): Promise<number> {
    const r = await this.db.selectFrom('e2e_room_keys').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId).where('version', '=', version).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async keys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackedUpKeyRow[]> {
    let q = this.db.selectFrom('e2e_room_keys').selectAll().where('user_id', '=', userId).where('version', '=', version);
    if (roomId !== undefined) q = q.where('room_id', '=', roomId);
    if (sessionId !== undefined) q = q.where('session_id', '=', sessionId);
    const rows = await q.orderBy('room_id').orderBy('session_id').execute();
    return rows.map((r) => ({
      roomId: r.room_id,
      sessionId: r.session_id,
      key: {
        first_message_index: Number(r.first_message_index),
        forwarded_count: Number(r.forwarded_count),
        is_verified: r.is_verified === 1,
        session_data: JSON.parse(r.session_data) as JsonObject,
      },
    }));
  }

  /**
   * Stores keys where `replaces(stored, uploaded)` says so (or none is stored); the etag moves
   * when anything changed. Returns the version's etag and key count after the change.
   */
  async putKeys(userId: string, version: number, keys: readonly BackedUpKeyRow[], replaces: (stored: BackedUpKey, uploaded: BackedUpKey) => boolean): Promise<{ etag: number; count: number }> {
    return this.db.transaction().execute(async (tx) => {
      let changed = false;
      const byRoom = new Map<string, BackedUpKeyRow[]>();
      for (const k of keys) byRoom.set(k.roomId, [...(byRoom.get(k.roomId) ?? []), k]);
      for (const [roomId, roomKeys] of byRoom) {
        for (let i = 0; i < roomKeys.length; i += CHUNK) {
          const batch = roomKeys.slice(i, i + CHUNK);
          const existing = await tx.selectFrom('e2e_room_keys').select(['session_id', 'first_message_index', 'forwarded_count', 'is_verified'])
            .where('user_id', '=', userId).where('version', '=', version).where('room_id', '=', roomId)
            .where('session_id', 'in', batch.map((k) => k.sessionId)).execute();
          const stored = new Map(existing.map((r) => [r.session_id, r]));
          for (const k of batch) {
            const old = stored.get(k.sessionId);
            if (old && !replaces({
              first_message_index: Number(old.first_message_index), forwarded_count: Number(old.forwarded_count), is_verified: old.is_verified === 1, session_data: {},
            }, k.key)) continue;
            const values = {
              first_message_index: k.key.first_message_index, forwarded_count: k.key.forwarded_count,
              is_verified: k.key.is_verified ? 1 : 0, session_data: JSON.stringify(k.key.session_data),
            };
            await tx.insertInto('e2e_room_keys').values({ user_id: userId, version, room_id: roomId, session_id: k.sessionId, ...values })
              .onConflict((oc) => oc.columns(['user_id', 'version', 'room_id', 'session_id']).doUpdateSet(values))
              .execute();
            changed = true;
          }
        }
      }
      return this.afterChange(tx, userId, version, changed);
    });
  }

  /** Deletes the version's keys (of one room, or one session); returns the etag and count after. */
  async deleteKeys(userId: string, version: number, roomId?: string, sessionId?: string): Promise<{ etag: number; count: number }> {
    return this.db.transaction().execute(async (tx) => {
      let q = tx.deleteFrom('e2e_room_keys').where('user_id', '=', userId).where('version', '=', version);
      if (roomId !== undefined) q = q.where('room_id', '=', roomId);
      if (sessionId !== undefined) q = q.where('session_id', '=', sessionId);
      const r = await q.executeTakeFirst();
      return this.afterChange(tx, userId, version, Number(r.numDeletedRows) > 0);
    });
  }

  private async afterChange(tx: Tx, userId: string, version: number, changed: boolean): Promise<{ etag: number; count: number }> {
    if (changed) {
      await tx.updateTable('e2e_room_keys_versions').set((eb) => ({ etag: eb('etag', '+', 1) }))
        .where('user_id', '=', userId).where('version', '=', version).execute();
    }
    const v = await tx.selectFrom('e2e_room_keys_versions').select('etag').where('user_id', '=', userId).where('version', '=', version).executeTakeFirst();
    const c = await tx.selectFrom('e2e_room_keys').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId).where('version', '=', version).executeTakeFirst();
    return { etag: Number(v?.etag ?? 0), count: Number(c?.n ?? 0) };
  }
}

function toVersion(r: { version: number; algorithm: string; auth_data: string; etag: number; deleted: number }): BackupVersionRow {
  return { version: Number(r.version), algorithm: r.algorithm, authData: JSON.parse(r.auth_data) as JsonObject, etag: Number(r.etag), deleted: r.deleted === 1 };
}
