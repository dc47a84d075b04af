// The cache of other servers' users' keys, as Synapse keeps it for the users it shares a room
// with. A remote user's server sends us m.device_list_update and m.signing_key_update for them
// while one of our users shares a room with them (spec: server-server-api "Device Management":
// "servers must ... send ... to all servers who share a room with the user"), so what it last
// answered keys/query stays true until one of those arrives. keys/query for such a user is then
// answered from the database, without a federation request. An m.device_list_update that follows
// on from the last one seen (its `prev_id` is the `stream_id` recorded for the user) is applied to
// the cached devices directly, as the spec describes; any other update marks the entry stale, and
// the next query fetches live again. A stale entry still answers when the user's server cannot be
// reached (the device list may be out of date, which beats no keys at all: encrypted messages
// can still be sent). Users we share no room with are never served from the cache, and their
// entries are dropped when the last shared room goes (a leave, either side) or when a query finds
// them: their server stops telling us of changes then.
// spec: client-server-api modules/end_to_end_encryption "Tracking the device list for a user"
import type { Logger } from 'pino';
import { domainOf } from '../../core/identifiers.js';
import type { JsonObject } from '../../core/pdu.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { CachedUserKeys, UserKeysToCache } from '../../storage/remote-keys.js';

/** A user with more devices than this is served, not cached (keys/query answers are 16 MiB at most). */
export const MAX_CACHED_DEVICES_PER_USER = 1_000;
/** Nor one whose keys take more than this as JSON. */
export const MAX_CACHED_BYTES_PER_USER = 1024 * 1024;

/** One user's keys as the answer of a keys/query gives them (checked: see `userKeysFromAnswer`). */
export interface RemoteUserKeys {
  devices: Record<string, JsonObject>;
  masterKey?: JsonObject;
  selfSigningKey?: JsonObject;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A cross-signing key of `userId` with the given usage, as a server may answer with it. */
function crossSigningKeyOf(v: unknown, userId: string, usage: string): JsonObject | undefined {
  if (!isObject(v) || v.user_id !== userId || !Array.isArray(v.usage) || !v.usage.includes(usage) || !isObject(v.keys)) return undefined;
  return v as JsonObject;
}

/** The device keys `v` when they name `userId` and `deviceId`, the names they are filed under. */
export function deviceKeysOf(v: unknown, userId: string, deviceId: string): JsonObject | undefined {
  return isObject(v) && v.user_id === userId && v.device_id === deviceId && isObject(v.keys) ? v as JsonObject : undefined;
}

/**
 * `userId`'s keys from a keys/query answer of their server (federation user_keys.yaml): device
 * keys that name another user or another device than the one they are listed under, and
 * cross-signing keys of another user or usage, are left out (clients check signatures; these
 * checks keep a server from filing keys under names they do not carry).
 */
export function userKeysFromAnswer(answer: Json, userId: string): RemoteUserKeys | undefined {
  const byUser = isObject(answer.device_keys) ? answer.device_keys : {};
  const listed = Object.hasOwn(byUser, userId) && isObject(byUser[userId]) ? byUser[userId] as Json : undefined;
  const master = crossSigningKeyOf(isObject(answer.master_keys) ? answer.master_keys[userId] : undefined, userId, 'master');
  const selfSigning = crossSigningKeyOf(isObject(answer.self_signing_keys) ? answer.self_signing_keys[userId] : undefined, userId, 'self_signing');
  if (listed === undefined && master === undefined && selfSigning === undefined) return undefined;
  const devices: Record<string, JsonObject> = {};
  for (const [deviceId, keys] of Object.entries(listed ?? {})) {
    const checked = deviceKeysOf(keys, userId, deviceId);
    if (checked !== undefined) devices[deviceId] = checked;
  }
  return { devices, ...(master ? { masterKey: master } : {}), ...(selfSigning ? { selfSigningKey: selfSigning } : {}) };
}

/** A cached entry as the keys it holds. */
export function userKeysFromCache(c: CachedUserKeys): RemoteUserKeys {
  const devices: Record<string, JsonObject> = {};
  for (const [deviceId, json] of c.devices) devices[deviceId] = JSON.parse(json) as JsonObject;
  return {
    devices,
    ...(c.masterKey !== null ? { masterKey: JSON.parse(c.masterKey) as JsonObject } : {}),
    ...(c.selfSigningKey !== null ? { selfSigningKey: JSON.parse(c.selfSigningKey) as JsonObject } : {}),
  };
}

/** A live fetch of some users' keys: its answers are stored unless an update arrived meanwhile. */
export interface KeyFetch {
  /** Never throws: a failed write is logged. */
  store(answers: ReadonlyMap<string, RemoteUserKeys>): Promise<void>;
  end(): void;
}

export class RemoteKeyCache {
  /** Live fetches in flight per user. */
  private readonly fetching = new Map<string, number>();
  /** Users an update arrived for while a fetch of theirs was in flight: that answer may be older than the update. */
  private readonly updatedDuringFetch = new Set<string>();
  /** Entry drops after leaves, one at a time. */
  private dropping: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: Storage,
    private readonly serverName: string,
    private readonly log: Logger,
  ) {}

  private isRemote(userId: string): boolean {
    const server = domainOf(userId);
    return server !== undefined && server !== this.serverName;
  }

  /**
   * Which of the remote `userIds` share a room with one of our users (only those may be cached),
   * and their cached entries. Entries of the others are dropped.
   */
  async lookup(userIds: readonly string[]): Promise<{ sharing: Set<string>; cached: Map<string, CachedUserKeys> }> {
    if (userIds.length === 0) return { sharing: new Set(), cached: new Map() };
    const sharing = await this.storage.remoteKeys.sharingRoomWithLocalUser(userIds);
    const others = userIds.filter((u) => !sharing.has(u));
    const [cached, stray] = await Promise.all([
      this.storage.remoteKeys.get([...sharing]),
      others.length > 0 ? this.storage.remoteKeys.cachedAmong(others) : Promise.resolve([]),
    ]);
    if (stray.length > 0) await this.storage.remoteKeys.drop(stray);
    return { sharing, cached };
  }

  /** Starts a live fetch of `userIds` (those whose answers may be cached). */
  beginFetch(userIds: readonly string[]): KeyFetch {
    const users = [...new Set(userIds)];
    for (const u of users) this.fetching.set(u, (this.fetching.get(u) ?? 0) + 1);
    let ended = false;
    return {
      store: async (answers) => {
        const entries: UserKeysToCache[] = [];
        for (const u of users) {
          const keys = answers.get(u);
          if (keys === undefined || this.updatedDuringFetch.has(u)) continue;
          const devices = Object.entries(keys.devices).map(([deviceId, k]) => ({ deviceId, json: JSON.stringify(k) }));
          const masterKey = keys.masterKey ? JSON.stringify(keys.masterKey) : null;
          const selfSigningKey = keys.selfSigningKey ? JSON.stringify(keys.selfSigningKey) : null;
          const bytes = devices.reduce((n, d) => n + d.json.length, 0) + (masterKey?.length ?? 0) + (selfSigningKey?.length ?? 0);
          if (devices.length > MAX_CACHED_DEVICES_PER_USER || bytes > MAX_CACHED_BYTES_PER_USER) continue;
          entries.push({ userId: u, devices, masterKey, selfSigningKey });
        }
        try {
          await this.storage.remoteKeys.put(entries);
          // An update that arrived while the answer was being written may have marked nothing yet.
          for (const e of entries) if (this.updatedDuringFetch.has(e.userId)) await this.storage.remoteKeys.markStale(e.userId);
        } catch (err) {
          // The answer is served all the same; the next query asks again.
          this.log.error({ err }, 'caching remote keys failed');
        }
      },
      end: () => {
        if (ended) return;
        ended = true;
        for (const u of users) {
          const n = (this.fetching.get(u) ?? 1) - 1;
          if (n > 0) this.fetching.set(u, n);
          else {
            this.fetching.delete(u);
            this.updatedDuringFetch.delete(u);
          }
        }
      },
    };
  }

  /**
   * `userId`'s server told us their devices or cross-signing keys changed: the next query asks
   * it again. Call before local clients are told (they query as soon as they learn of it).
   * `deviceListStreamId`: the m.device_list_update that told us, recorded as the user's position
   * (the refetch, asked for after it, includes it).
   */
  async invalidate(userId: string, deviceListStreamId?: number): Promise<void> {
    if (this.fetching.has(userId)) this.updatedDuringFetch.add(userId);
    await this.storage.remoteKeys.markStale(userId, deviceListStreamId);
  }

  /**
   * An m.device_list_update for `userId` (checked to come from their server). Applied to the
   * cached devices when it follows on from the last update seen: the entry is fresh, the user's
   * position is recorded, and every `prev_id` is that position (spec: an unrecognised `prev_id`
   * means an update was lost, and the list must be fetched again; an empty one starts a new
   * sequence, which may follow updates we never saw). It then replaces the device's keys with
   * its `keys` (when they name the user and the device), or removes the device (`deleted`); one
   * without keys for a device that has none cached changes no keys. Anything else, or a
   * live fetch of the user's keys being in flight, makes the entry stale, as `invalidate`.
   * Call before local clients are told.
   */
  async applyDeviceListUpdate(userId: string, c: Record<string, unknown>): Promise<void> {
    const streamId = Number.isSafeInteger(c.stream_id) ? c.stream_id as number : undefined;
    const deviceId = c.device_id;
    if (streamId === undefined || typeof deviceId !== 'string') return this.invalidate(userId);
    const prevIds = Array.isArray(c.prev_id) ? c.prev_id : [];
    const entry = this.fetching.has(userId) ? undefined : (await this.storage.remoteKeys.get([userId])).get(userId);
    if (entry === undefined || entry.stale || entry.deviceListStreamId === null) return this.invalidate(userId, streamId);
    if (entry.deviceListStreamId === streamId) return undefined; // this very update again: already applied
    const prevId = entry.deviceListStreamId;
    if (prevIds.length === 0 || !prevIds.every((p) => p === prevId)) return this.invalidate(userId, streamId);

    let keyJson: string | null | undefined;
    if (c.deleted === true) keyJson = null;
    else if (c.keys !== undefined) {
      const keys = deviceKeysOf(c.keys, userId, deviceId);
      if (keys === undefined) return this.invalidate(userId, streamId);
      // As a keys/query answer gives them: the display name under `unsigned`.
      const { unsigned: _unsigned, ...signed } = keys;
      const displayName = typeof c.device_display_name === 'string' ? c.device_display_name : undefined;
      keyJson = JSON.stringify(displayName !== undefined ? { ...signed, unsigned: { device_display_name: displayName } } : signed);
    } else if (entry.devices.has(deviceId)) {
      // Its keys gone, or only left out of the update (a name change): ask.
      return this.invalidate(userId, streamId);
    }

    if (typeof keyJson === 'string') {
      const devices = new Map(entry.devices).set(deviceId, keyJson);
      const bytes = [...devices.values()].reduce((n, j) => n + j.length, 0) + (entry.masterKey?.length ?? 0) + (entry.selfSigningKey?.length ?? 0);
      if (devices.size > MAX_CACHED_DEVICES_PER_USER || bytes > MAX_CACHED_BYTES_PER_USER) return this.invalidate(userId, streamId);
    }
    // A fetch begun meanwhile is asked after the update was sent, so its answer includes it.
    if (!(await this.storage.remoteKeys.applyDeviceUpdate(userId, prevId, streamId, deviceId, keyJson))) await this.invalidate(userId, streamId);
  }

  /**
   * The pipeline's listener: a leave (or ban, or anything but a join) may end the last room one
   * of our users shares with a remote user, after which their server no longer tells us of their
   * changes. A remote member leaving is checked, and our user leaving checks the room's remote members.
   */
  onPersisted(stored: StoredEvent): void {
    const ev = stored.event;
    if (ev.type !== 'm.room.member' || typeof ev.state_key !== 'string' || ev.content.membership === 'join') return;
    if (stored.rejectedReason !== null || stored.softFailed || stored.outlier) return;
    const userId = ev.state_key;
    const roomId = ev.room_id;
    this.dropping = this.dropping.then(async () => {
      const candidates = this.isRemote(userId) ? [userId] : (await this.storage.rooms.joinedMemberIds(roomId)).filter((u) => this.isRemote(u));
      if (candidates.length === 0) return;
      const cached = await this.storage.remoteKeys.cachedAmong(candidates);
      if (cached.length === 0) return;
      const sharing = await this.storage.remoteKeys.sharingRoomWithLocalUser(cached);
      await this.storage.remoteKeys.drop(cached.filter((u) => !sharing.has(u)));
    }).catch((err: unknown) => this.log.error({ err }, 'dropping cached remote keys failed'));
  }
}
