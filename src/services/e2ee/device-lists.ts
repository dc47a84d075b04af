// Device-list tracking: which users' keys a client must (re)fetch, and which users it can stop
// tracking. The stream records key changes (devices added with keys, deleted, renamed; device
// keys and cross-signing keys uploaded; signatures) and joins and leaves; `changesSince` turns
// them into `device_lists.changed` / `left` for one user.
// spec: client-server-api modules/end_to_end_encryption "Tracking the device list for a user",
// "Extensions to /sync"; GET /keys/changes
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { DeviceListChange } from '../../storage/device-lists.js';
import type { Notifier } from '../notifier.js';
import { OrderedStream } from './ordered-stream.js';

export interface DeviceListChanges {
  /** Users whose devices or cross-signing keys changed, or who newly share a room with the user. */
  changed: string[];
  /** Users who no longer share any room with the user. */
  left: string[];
}

/** The one-time key algorithm clients rely on seeing, even at zero (as Synapse does for Element). */
const SIGNED_CURVE25519 = 'signed_curve25519';

const TOKEN = /^dl_(0|[1-9]\d{0,15})$/;

/** A bare device-list position as a `keys/changes` token. */
export function formatDeviceListToken(position: number): string {
  return `dl_${position}`;
}

/**
 * The device-list position in a bare device-list token; undefined when `token` is not one.
 * (A /sync token carries this position too: keys/changes accepts both.)
 */
export function parseDeviceListToken(token: string): number | undefined {
  const m = TOKEN.exec(token);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

export class DeviceListService {
  private readonly stream: OrderedStream;
  /** Member events persisted and not yet taken by a write (see onPersisted). */
  private pendingMemberships: StoredEvent[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly notifier: Notifier,
    private readonly onError: (err: unknown) => void,
  ) {
    this.stream = new OrderedStream(() => storage.deviceLists.highWater());
  }

  /**
   * The position of the latest device-list change (the `device_lists` part of a sync token),
   * once the changes of the joins and leaves persisted so far are recorded.
   */
  currentPosition(): Promise<number> {
    return this.stream.settledPosition();
  }

  /**
   * What `userId`'s client must learn about device lists after position `since` (up to `to`,
   * default now). Users count as sharing a room when both are joined to it; any room counts,
   * encrypted or not (spec: a server may over-report `changed`; the client filters).
   */
  async changesSince(userId: string, since: number, to?: number): Promise<DeviceListChanges> {
    const now = await this.stream.settledPosition();
    const upTo = to === undefined ? now : Math.min(to, now);
    if (since >= upTo) return { changed: [], left: [] };
    const store = this.storage.deviceLists;
    const [keys, memberships] = await Promise.all([store.keyChanges(userId, since, upTo), store.membershipChanges(userId, since, upTo)]);

    // Changes only this user may see (their user-signing key, signatures they made) need no shared room.
    const changed = new Set<string>(keys.onlyMe);
    const ownKeysChanged = keys.everyone.includes(userId);
    const changedIfSharing = new Set(keys.everyone);
    const leftIfNotSharing = new Set<string>();
    const roomsJoined = new Set<string>();
    const roomsLeft = new Set<string>();
    for (const m of memberships) {
      if (m.userId === userId) (m.kind === 'join' ? roomsJoined : roomsLeft).add(m.roomId);
      else (m.kind === 'join' ? changedIfSharing : leftIfNotSharing).add(m.userId);
    }
    // Everyone in a room the user joined may be new to them; everyone in a room they left may
    // no longer share any room with them.
    for (const roomId of roomsJoined) for (const u of await this.storage.rooms.joinedMemberIds(roomId)) changedIfSharing.add(u);
    for (const roomId of roomsLeft) for (const u of await this.storage.rooms.joinedMemberIds(roomId)) leftIfNotSharing.add(u);
    changedIfSharing.delete(userId);
    leftIfNotSharing.delete(userId);

    const sharing = await store.sharingRoomWith(userId, [...changedIfSharing, ...leftIfNotSharing]);
    for (const u of changedIfSharing) if (sharing.has(u)) changed.add(u);
    if (ownKeysChanged) changed.add(userId);
    const left = [...leftIfNotSharing].filter((u) => !sharing.has(u) && !changed.has(u));
    return { changed: [...changed].sort(), left: left.sort() };
  }

  /**
   * For /sync's `device_one_time_keys_count`: unclaimed one-time keys per algorithm.
   * signed_curve25519 is always present (0 when none are left).
   */
  async oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>> {
    return { [SIGNED_CURVE25519]: 0, ...(await this.storage.e2eKeys.oneTimeKeyCounts(userId, deviceId)) };
  }

  /** For /sync's `device_unused_fallback_key_types`. */
  unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    return this.storage.e2eKeys.unusedFallbackKeyTypes(userId, deviceId);
  }

  /** Told of every keysChanged call (federation sends local users' changes to other servers). */
  readonly keyChangeListeners = new Set<(userId: string, ids: readonly string[]) => void>();

  /**
   * `userId`'s devices (`deviceIds`, or cross-signing key IDs) or cross-signing keys changed:
   * everyone who shares a room with them, and they themselves, are told.
   */
  async keysChanged(userId: string, deviceIds: readonly string[] = []): Promise<void> {
    const changes: DeviceListChange[] = deviceIds.length === 0
      ? [{ userId, kind: 'keys' }]
      : deviceIds.map((deviceId) => ({ userId, kind: 'keys', deviceId }));
    await this.stream.write(async () => {
      const position = await this.storage.deviceLists.append(changes);
      const audience = new Set(await this.storage.deviceLists.everyoneSharingRoomWith(userId));
      audience.add(userId);
      this.notifier.notify({ stream: 'device_lists', position, users: [...audience] });
      return { position };
    });
    for (const l of this.keyChangeListeners) l(userId, deviceIds);
  }

  /**
   * Changes that only `audience` is told of: their own user-signing key, or their signatures of
   * other users' master keys (spec: "Users will not be able to see signatures made by other
   * users' user-signing keys").
   */
  async keysChangedFor(audience: string, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const changes: DeviceListChange[] = [...new Set(userIds)].map((userId) => ({ userId, kind: 'keys', audience }));
    await this.stream.write(async () => {
      const position = await this.storage.deviceLists.append(changes);
      this.notifier.notify({ stream: 'device_lists', position, users: [audience] });
      return { position };
    });
  }

  /**
   * The persistence pipeline's listener: a join or a leave changes who shares a room with whom.
   * Queued synchronously, so that changes are recorded in the order the events were persisted;
   * the membership changes that arrive while earlier ones are written go in together (a room
   * filling with thousands of members must not queue a write, and a member list read, per join
   * for /sync to wait on).
   */
  onPersisted(stored: StoredEvent): void {
    const ev = stored.event;
    if (ev.type !== 'm.room.member' || typeof ev.state_key !== 'string') return;
    if (stored.rejectedReason !== null || stored.softFailed || stored.outlier) return;
    this.pendingMemberships.push(stored);
    // A write already queued will take this one too.
    if (this.pendingMemberships.length > 1) return;
    this.stream.write(() => this.recordMemberships(this.pendingMemberships.splice(0))).catch(this.onError);
  }

  private async recordMemberships(batch: StoredEvent[]): Promise<{ position: number }> {
    const previous = await this.storage.events.getEvents(batch.map((s) => s.replacesState).filter((id): id is string => id !== null));
    const changes: DeviceListChange[] = [];
    for (const s of batch) {
      const isJoined = s.event.content.membership === 'join';
      const wasJoined = s.replacesState !== null && previous.get(s.replacesState)?.event.content.membership === 'join';
      // A join after a join (a profile change) or a leave after a leave changes nothing.
      if (wasJoined !== isJoined) changes.push({ userId: s.event.state_key as string, kind: isJoined ? 'join' : 'leave', roomId: s.event.room_id });
    }
    if (changes.length === 0) return { position: 0 };
    const position = await this.storage.deviceLists.append(changes);
    // Told in stream order, before anyone can see a later position.
    const audience = new Set(changes.map((c) => c.userId));
    for (const roomId of new Set(changes.map((c) => c.roomId as string))) {
      for (const u of await this.storage.rooms.joinedMemberIds(roomId)) audience.add(u);
    }
    this.notifier.notify({ stream: 'device_lists', position, users: [...audience] });
    return { position };
  }
}
