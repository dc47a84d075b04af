// The cache of other servers' users' keys (migration 018): what a user's server last answered
// keys/query for them (devices, master and self-signing keys), whether it has been told of a
// change since, and the `stream_id` of the last m.device_list_update seen for them (migration 019),
// which lets the next update that names it as its `prev_id` be applied to the devices directly. Also the room-sharing question the cache is valid under: a remote user is cached
// only while joined to a room one of our users is joined to.
// spec: server-server-api "Device Management"; client-server-api modules/end_to_end_encryption
// "Tracking the device list for a user"
import type { DB } from './database.js';

export interface CachedUserKeys {
  userId: string;
  /** deviceId → the device keys as the user's server sent them (JSON text). */
  devices: Map<string, string>;
  masterKey: string | null;
  selfSigningKey: string | null;
  /** Its server told us of a change since this was fetched. */
  stale: boolean;
  /** The `stream_id` of the last m.device_list_update seen for the user; null when none was since the entry was stored. */
  deviceListStreamId: number | null;
}

export interface UserKeysToCache {
  userId: string;
  devices: Array<{ deviceId: string; json: string }>;
  masterKey: string | null;
  selfSigningKey: string | null;
}

const CHUNK = 1000;

export class RemoteKeyStore {
  constructor(private readonly db: DB) {}

  /** The cached keys of those of `userIds` that have an entry. */
  async get(userIds: readonly string[]): Promise<Map<string, CachedUserKeys>> {
    const out = new Map<string, CachedUserKeys>();
    const list = [...new Set(userIds)];
    for (let i = 0; i < list.length; i += CHUNK) {
      // One statement, so the devices and the cross-signing keys come from the same stored answer.
      const rows = await this.db.selectFrom('remote_key_cache as c')
        .leftJoin('remote_device_keys as d', 'd.user_id', 'c.user_id')
        .select(['c.user_id', 'c.master_key', 'c.self_signing_key', 'c.stale', 'c.device_list_stream_id', 'd.device_id', 'd.key_json'])
        .where('c.user_id', 'in', list.slice(i, i + CHUNK))
        .execute();
      for (const r of rows) {
        let entry = out.get(r.user_id);
        if (entry === undefined) {
          entry = { userId: r.user_id, devices: new Map(), masterKey: r.master_key, selfSigningKey: r.self_signing_key, stale: Number(r.stale) === 1,
            deviceListStreamId: r.device_list_stream_id === null ? null : Number(r.device_list_stream_id) };
          out.set(r.user_id, entry);
        }
        if (r.device_id !== null && r.key_json !== null) entry.devices.set(r.device_id, r.key_json);
      }
    }
    return out;
  }

  /**
   * Replaces the cached keys of each user (fresh, not stale). The device-list position recorded
   * for a user is kept: the answer was asked for after that update arrived (one arriving during
   * the fetch keeps the answer out, see RemoteKeyCache), so it includes that update.
   */
  async put(entries: readonly UserKeysToCache[], now = Date.now()): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      const userIds = entries.map((e) => e.userId);
      const positions = new Map<string, number | null>();
      for (let i = 0; i < userIds.length; i += CHUNK) {
        const part = userIds.slice(i, i + CHUNK);
        const rows = await tx.selectFrom('remote_key_cache').select(['user_id', 'device_list_stream_id']).where('user_id', 'in', part).execute();
        for (const r of rows) positions.set(r.user_id, r.device_list_stream_id === null ? null : Number(r.device_list_stream_id));
        await tx.deleteFrom('remote_device_keys').where('user_id', 'in', part).execute();
        await tx.deleteFrom('remote_key_cache').where('user_id', 'in', part).execute();
      }
      await tx.insertInto('remote_key_cache').values(entries.map((e) => ({
        user_id: e.userId, master_key: e.masterKey, self_signing_key: e.selfSigningKey, stale: 0, fetched_ts: now,
        device_list_stream_id: positions.get(e.userId) ?? null,
      }))).execute();
      const devices = entries.flatMap((e) => e.devices.map((d) => ({ user_id: e.userId, device_id: d.deviceId, key_json: d.json })));
      for (let i = 0; i < devices.length; i += 300) await tx.insertInto('remote_device_keys').values(devices.slice(i, i + 300)).execute();
    });
  }

  /**
   * Marks a user's entry stale (their server told us their keys changed), recording the
   * m.device_list_update `stream_id` that told us, if one did.
   */
  async markStale(userId: string, deviceListStreamId?: number): Promise<void> {
    await this.db.updateTable('remote_key_cache')
      .set(deviceListStreamId === undefined ? { stale: 1 } : { stale: 1, device_list_stream_id: deviceListStreamId })
      .where('user_id', '=', userId).execute();
  }

  /**
   * Applies an m.device_list_update to a fresh entry whose recorded position is `prevId`: the
   * device's keys are replaced (`keyJson`), removed (null) or left as they are (undefined), and
   * `streamId` becomes the position. False, with nothing changed, when the entry is missing,
   * stale or at another position (checked and moved in one conditional update, so two updates
   * cannot both apply on top of the same position).
   */
  async applyDeviceUpdate(userId: string, prevId: number, streamId: number, deviceId: string, keyJson: string | null | undefined): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const moved = await tx.updateTable('remote_key_cache').set({ device_list_stream_id: streamId })
        .where('user_id', '=', userId).where('stale', '=', 0).where('device_list_stream_id', '=', prevId)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) return false;
      if (keyJson === undefined) return true;
      await tx.deleteFrom('remote_device_keys').where('user_id', '=', userId).where('device_id', '=', deviceId).execute();
      if (keyJson !== null) await tx.insertInto('remote_device_keys').values({ user_id: userId, device_id: deviceId, key_json: keyJson }).execute();
      return true;
    });
  }

  /** Forgets the cached keys of `userIds`. */
  async drop(userIds: readonly string[]): Promise<void> {
    const list = [...new Set(userIds)];
    if (list.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < list.length; i += CHUNK) {
        const part = list.slice(i, i + CHUNK);
        await tx.deleteFrom('remote_device_keys').where('user_id', 'in', part).execute();
        await tx.deleteFrom('remote_key_cache').where('user_id', 'in', part).execute();
      }
    });
  }

  /** Which of `userIds` have a cache entry. */
  async cachedAmong(userIds: readonly string[]): Promise<string[]> {
    const out: string[] = [];
    const list = [...new Set(userIds)];
    for (let i = 0; i < list.length; i += CHUNK) {
      const rows = await this.db.selectFrom('remote_key_cache').select('user_id').where('user_id', 'in', list.slice(i, i + CHUNK)).execute();
      for (const r of rows) out.push(r.user_id);
    }
    return out;
  }

  /** Which of `userIds` are joined to a room where one of our own users (an account here) is joined. */
  async sharingRoomWithLocalUser(userIds: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const list = [...new Set(userIds)];
    for (let i = 0; i < list.length; i += CHUNK) {
      const rows = await this.db.selectFrom('memberships as theirs')
        .innerJoin('memberships as ours', 'ours.room_id', 'theirs.room_id')
        .innerJoin('users', 'users.user_id', 'ours.user_id')
        .select('theirs.user_id').distinct()
        .where('theirs.user_id', 'in', list.slice(i, i + CHUNK)).where('theirs.membership', '=', 'join')
        .where('ours.membership', '=', 'join')
        .execute();
      for (const r of rows) out.add(r.user_id);
    }
    return out;
  }
}
