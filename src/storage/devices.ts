// Devices and the access, refresh and login tokens that belong to them.
// Tokens are stored only as hashes (services/tokens.ts makes them).
import type { DB, Tx } from './database.js';

export interface DeviceRow {
  deviceId: string;
  displayName: string | null;
  lastSeenTs: number | null;
  lastSeenIp: string | null;
}

export interface AccessTokenRow {
  userId: string;
  deviceId: string;
  expiresTs: number | null;
  refreshTokenHash: string | null;
  isGuest: boolean;
  deactivated: boolean;
}

export interface RefreshTokenRow {
  tokenHash: string;
  userId: string;
  deviceId: string;
  expiresTs: number | null;
  nextTokenHash: string | null;
}

export class DeviceStore {
  constructor(private readonly db: DB) {}

  /** Creates the device, or keeps an existing one of that ID (renaming it if a name is given). */
  async upsertDevice(userId: string, deviceId: string, displayName: string | null, now: number, ip: string | null): Promise<void> {
    await this.db.insertInto('devices').values({
      user_id: userId, device_id: deviceId, display_name: displayName, last_seen_ts: now, last_seen_ip: ip, created_ts: now,
    }).onConflict((oc) => oc.columns(['user_id', 'device_id']).doUpdateSet(
      displayName === null ? { last_seen_ts: now, last_seen_ip: ip } : { display_name: displayName, last_seen_ts: now, last_seen_ip: ip },
    )).execute();
  }

  async listDevices(userId: string): Promise<DeviceRow[]> {
    const rows = await this.db.selectFrom('devices').selectAll().where('user_id', '=', userId).orderBy('device_id').execute();
    return rows.map(toDevice);
  }

  async getDevice(userId: string, deviceId: string): Promise<DeviceRow | undefined> {
    const r = await this.db.selectFrom('devices').selectAll().where('user_id', '=', userId).where('device_id', '=', deviceId).executeTakeFirst();
    return r && toDevice(r);
  }

  async renameDevice(userId: string, deviceId: string, displayName: string | null): Promise<boolean> {
    const r = await this.db.updateTable('devices').set({ display_name: displayName })
      .where('user_id', '=', userId).where('device_id', '=', deviceId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touchDevice(userId: string, deviceId: string, now: number, ip: string | null): Promise<void> {
    await this.db.updateTable('devices').set({ last_seen_ts: now, last_seen_ip: ip })
      .where('user_id', '=', userId).where('device_id', '=', deviceId).execute();
  }

  /** Deletes devices with all their tokens; returns the hashes of the access tokens removed. */
  async deleteDevices(userId: string, deviceIds: string[]): Promise<string[]> {
    if (deviceIds.length === 0) return [];
    return this.db.transaction().execute(async (tx) => {
      const tokens = await tx.selectFrom('access_tokens').select('token_hash')
        .where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
      await tx.deleteFrom('access_tokens').where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
      await tx.deleteFrom('refresh_tokens').where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
      await tx.deleteFrom('devices').where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
      return tokens.map((t) => t.token_hash);
    });
  }

  /** Logs a device out of its tokens but keeps the device; returns the access token hashes removed. */
  async deleteDeviceTokens(userId: string, deviceId: string): Promise<string[]> {
    return this.db.transaction().execute(async (tx) => {
      const tokens = await tx.selectFrom('access_tokens').select('token_hash')
        .where('user_id', '=', userId).where('device_id', '=', deviceId).execute();
      await tx.deleteFrom('access_tokens').where('user_id', '=', userId).where('device_id', '=', deviceId).execute();
      await tx.deleteFrom('refresh_tokens').where('user_id', '=', userId).where('device_id', '=', deviceId).execute();
      return tokens.map((t) => t.token_hash);
    });
  }

  // ---- access tokens ----

  async insertAccessToken(t: { tokenHash: string; userId: string; deviceId: string; expiresTs: number | null; refreshTokenHash: string | null; now: number }): Promise<void> {
    await this.db.insertInto('access_tokens').values({
      token_hash: t.tokenHash, user_id: t.userId, device_id: t.deviceId, expires_ts: t.expiresTs,
      refresh_token_hash: t.refreshTokenHash, created_ts: t.now,
    }).execute();
  }

  async findAccessToken(tokenHash: string): Promise<AccessTokenRow | undefined> {
    const r = await this.db.selectFrom('access_tokens as t').innerJoin('users as u', 'u.user_id', 't.user_id')
      .select(['t.user_id', 't.device_id', 't.expires_ts', 't.refresh_token_hash', 'u.is_guest', 'u.deactivated'])
      .where('t.token_hash', '=', tokenHash).executeTakeFirst();
    return r && {
      userId: r.user_id, deviceId: r.device_id, expiresTs: r.expires_ts, refreshTokenHash: r.refresh_token_hash,
      isGuest: r.is_guest === 1, deactivated: r.deactivated === 1,
    };
  }

  async deleteAccessToken(tokenHash: string): Promise<void> {
    await this.db.deleteFrom('access_tokens').where('token_hash', '=', tokenHash).execute();
  }

  // ---- refresh tokens ----

  async insertRefreshToken(t: { tokenHash: string; userId: string; deviceId: string; expiresTs: number | null; now: number }): Promise<void> {
    await this.db.insertInto('refresh_tokens').values({
      token_hash: t.tokenHash, user_id: t.userId, device_id: t.deviceId, expires_ts: t.expiresTs, next_token_hash: null, created_ts: t.now,
    }).execute();
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    const r = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && { tokenHash: r.token_hash, userId: r.user_id, deviceId: r.device_id, expiresTs: r.expires_ts, nextTokenHash: r.next_token_hash };
  }

  /**
   * Replaces `old` by a new refresh token and a new access token in one transaction.
   * The old refresh token keeps working until the new one is first used (spec: "refresh"
   * — a client that lost the response can retry); using the new one retires the old one
   * and the access tokens it issued.
   */
  async rotateRefreshToken(r: {
    old: RefreshTokenRow; newRefreshHash: string; refreshExpiresTs: number | null;
    newAccessHash: string; accessExpiresTs: number | null; now: number;
  }): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      // Using this token proves the client has it: its predecessor (if any) is retired.
      await retirePredecessors(tx, r.old.tokenHash);
      // A token that was already exchanged: the earlier successor is dropped for this one.
      if (r.old.nextTokenHash) {
        await tx.deleteFrom('access_tokens').where('refresh_token_hash', '=', r.old.nextTokenHash).execute();
        await tx.deleteFrom('refresh_tokens').where('token_hash', '=', r.old.nextTokenHash).execute();
      }
      await tx.insertInto('refresh_tokens').values({
        token_hash: r.newRefreshHash, user_id: r.old.userId, device_id: r.old.deviceId,
        expires_ts: r.refreshExpiresTs, next_token_hash: null, created_ts: r.now,
      }).execute();
      await tx.updateTable('refresh_tokens').set({ next_token_hash: r.newRefreshHash }).where('token_hash', '=', r.old.tokenHash).execute();
      await tx.insertInto('access_tokens').values({
        token_hash: r.newAccessHash, user_id: r.old.userId, device_id: r.old.deviceId,
        expires_ts: r.accessExpiresTs, refresh_token_hash: r.newRefreshHash, created_ts: r.now,
      }).execute();
    });
  }

  /**
   * The first use of a refreshed session (its access token or its refresh token) retires the
   * refresh token it was exchanged for (spec: "Refreshing access tokens"). Returns the hashes of
   * the access tokens removed.
   */
  async retirePredecessors(refreshTokenHash: string): Promise<string[]> {
    return this.db.transaction().execute((tx) => retirePredecessors(tx, refreshTokenHash));
  }

  // ---- login tokens (m.login.token) ----

  async insertLoginToken(tokenHash: string, userId: string, expiresTs: number): Promise<void> {
    await this.db.insertInto('login_tokens').values({ token_hash: tokenHash, user_id: userId, expires_ts: expiresTs }).execute();
  }

  /** Single use: the token is deleted as it is read. */
  async consumeLoginToken(tokenHash: string, now: number): Promise<string | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const r = await tx.selectFrom('login_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      if (!r) return undefined;
      const del = await tx.deleteFrom('login_tokens').where('token_hash', '=', tokenHash).executeTakeFirst();
      if (Number(del.numDeletedRows) === 0) return undefined;
      return r.expires_ts > now ? r.user_id : undefined;
    });
  }
}

async function retirePredecessors(tx: Tx, refreshTokenHash: string): Promise<string[]> {
  const predecessors = await tx.selectFrom('refresh_tokens').select('token_hash').where('next_token_hash', '=', refreshTokenHash).execute();
  const removed: string[] = [];
  for (const p of predecessors) {
    const tokens = await tx.selectFrom('access_tokens').select('token_hash').where('refresh_token_hash', '=', p.token_hash).execute();
    removed.push(...tokens.map((t) => t.token_hash));
    await tx.deleteFrom('access_tokens').where('refresh_token_hash', '=', p.token_hash).execute();
    await tx.deleteFrom('refresh_tokens').where('token_hash', '=', p.token_hash).execute();
  }
  return removed;
}

function toDevice(r: { device_id: string; display_name: string | null; last_seen_ts: number | null; last_seen_ip: string | null }): DeviceRow {
  return { deviceId: r.device_id, displayName: r.display_name, lastSeenTs: r.last_seen_ts, lastSeenIp: r.last_seen_ip };
}
