// Presence: online, unavailable or offline, a status message, and how long ago the user was
// last active; read by /sync as the `presence` stream.
// spec: client-server-api modules/presence
//
// What is written when. Every authenticated action could bump the user's last-active time; a
// database write for each would be wasteful, so the last-active time lives in memory and the
// database is written only on a change that clients must hear about (each one a new position in
// the stream): a new presence or status message, `currently_active` turning on or off, and the
// idle timeout turning `online` into `unavailable`. At shutdown the in-memory last-active times
// are saved without a new position. Going `offline` when a user stops syncing belongs to /sync.
import type { PresenceStore, PresenceRecord, PresenceValue, StoredPresence } from '../storage/presence.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Notifier } from './notifier.js';

export type { PresenceValue };
export const PRESENCE_VALUES: readonly PresenceValue[] = ['online', 'unavailable', 'offline'];

/**
 * While a user is online and was active this recently, `currently_active` is true and further
 * activity is not announced (spec: "Last active ago"; Synapse's LAST_ACTIVE_GRANULARITY).
 */
export const CURRENTLY_ACTIVE_MS = 60_000;

export interface PresenceConfig {
  enabled: boolean;
  /** An online user inactive this long becomes unavailable (spec: "Idle timeout"). */
  idle_timeout_ms: number;
}

/** The `content` of an m.presence event, and the body of GET /presence/{userId}/status. */
export interface PresenceContent {
  presence: PresenceValue;
  last_active_ago?: number;
  status_msg?: string;
  currently_active?: boolean;
}

export interface PresenceEvent {
  type: 'm.presence';
  sender: string;
  content: PresenceContent;
}

const offline = (userId: string): PresenceRecord => ({ userId, presence: 'offline', statusMsg: null, lastActiveTs: null, currentlyActive: false });
const sameAnnounced = (a: PresenceRecord, b: PresenceRecord) =>
  a.presence === b.presence && a.statusMsg === b.statusMsg && a.currentlyActive === b.currentlyActive;

export class PresenceService {
  /** Users this process has read or changed: what was announced, and the live last-active time. */
  private readonly users = new Map<string, { announced: PresenceRecord; lastActiveTs: number | null; savedLastActiveTs: number | null }>();
  /** One writer at a time, so that stream positions are committed in order. */
  private readonly writes = new KeyedMutex();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private loadedOnline = false;

  constructor(
    private readonly store: PresenceStore,
    private readonly notifier: Notifier,
    readonly config: PresenceConfig,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get enabled(): boolean { return this.config.enabled; }

  /** Starts watching online users for the idle timeout. */
  start(): void {
    if (!this.enabled || this.timer) return;
    const interval = Math.max(10, Math.min(5_000, Math.floor(this.config.idle_timeout_ms / 4)));
    this.timer = setInterval(() => { this.sweeping = this.sweep().catch(this.onError); }, interval);
    this.timer.unref();
  }

  /** Stops the timer and saves the last-active times that changed since the last write. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
    await this.writes.run('presence', async () => {
      for (const [userId, u] of this.users) {
        if (u.lastActiveTs !== null && u.lastActiveTs !== u.savedLastActiveTs) await this.store.saveLastActive(userId, u.lastActiveTs);
      }
    });
  }

  /** A user's presence now, with the idle timeout applied. Offline for users never seen. */
  async get(userId: string): Promise<PresenceRecord> {
    const u = await this.load(userId);
    if (this.idleSince(u.announced, u.lastActiveTs, this.now())) await this.applyTimeouts(userId);
    return this.current(userId);
  }

  /** spec: PUT /presence/{userId}/status. Setting `online` counts as activity; no `status_msg` clears it. */
  async setPresence(userId: string, presence: PresenceValue, statusMsg?: string): Promise<void> {
    if (!this.enabled) return;
    await this.load(userId);
    await this.change(userId, (current, now) => ({
      userId, presence, statusMsg: statusMsg ?? null,
      lastActiveTs: presence === 'online' ? now : current.lastActiveTs,
      currentlyActive: presence === 'online',
    }));
  }

  /** A user of another server, as their server announced them (an m.presence EDU). */
  async setRemotePresence(userId: string, p: { presence: PresenceValue; statusMsg?: string; lastActiveAgo?: number; currentlyActive: boolean }): Promise<void> {
    if (!this.enabled) return;
    await this.load(userId);
    await this.change(userId, (_current, now) => ({
      userId, presence: p.presence, statusMsg: p.statusMsg ?? null,
      lastActiveTs: p.lastActiveAgo !== undefined ? now - p.lastActiveAgo : null,
      currentlyActive: p.presence === 'online' && p.currentlyActive,
    }));
  }

  /**
   * Something the user did (sent an event, a receipt, started typing): the last-active time moves
   * to now, an unavailable user comes back online, and `currently_active` turns on. Only those
   * last two are written and announced.
   */
  async bumpActive(userId: string): Promise<void> {
    if (!this.enabled) return;
    const u = await this.load(userId);
    u.lastActiveTs = this.now();
    const a = u.announced;
    if (a.presence === 'unavailable' || (a.presence === 'online' && !a.currentlyActive)) {
      await this.change(userId, (current, now) => current.presence === 'offline' ? current : { ...current, presence: 'online', lastActiveTs: now, currentlyActive: true });
    }
  }

  /** The content clients see for a presence record, `last_active_ago` relative to now. */
  format(p: PresenceRecord): PresenceContent {
    const now = this.now();
    return {
      presence: p.presence,
      ...(p.lastActiveTs !== null ? { last_active_ago: Math.max(0, now - p.lastActiveTs) } : {}),
      ...(p.statusMsg !== null ? { status_msg: p.statusMsg } : {}),
      ...(p.presence === 'online' ? { currently_active: p.currentlyActive } : {}),
    };
  }

  /** Whether `viewer` may see `userId`'s presence: themselves, or someone they share a joined room with. */
  async canSee(viewer: string, userId: string): Promise<boolean> {
    return viewer === userId || this.store.shareJoinedRoom(viewer, userId);
  }

  // ---- the stream, for /sync ----

  /** The position of the latest presence change (0 when there is none). */
  async currentPosition(): Promise<number> {
    return this.store.maxStreamId();
  }

  /**
   * The m.presence events for changes at positions in (since, upTo] that `viewer` may see (their
   * own and those of users sharing a joined room with them), one per user, newest state. With
   * since = 0 this is everyone's current presence. Empty when presence is disabled.
   */
  async presenceSince(viewer: string, since: number, upTo?: number): Promise<PresenceEvent[]> {
    if (!this.enabled || (upTo !== undefined && upTo <= since)) return []; // nothing can be in (since, upTo]
    const changes = await this.store.changedSince(viewer, since, upTo);
    return changes.map((p) => this.event(this.withLiveLastActive(p)));
  }

  /** m.presence events for the given users as they are now (e.g. members of a room just joined). */
  async presenceEvents(userIds: Iterable<string>): Promise<PresenceEvent[]> {
    if (!this.enabled) return [];
    const out: PresenceEvent[] = [];
    for (const userId of new Set(userIds)) out.push(this.event(await this.get(userId)));
    return out;
  }

  // ---- internals ----

  private event(p: PresenceRecord): PresenceEvent {
    return { type: 'm.presence', sender: p.userId, content: this.format(p) };
  }

  private current(userId: string): PresenceRecord {
    const u = this.users.get(userId);
    return u ? { ...u.announced, lastActiveTs: u.lastActiveTs } : offline(userId);
  }

  private withLiveLastActive(p: StoredPresence): PresenceRecord {
    const live = this.users.get(p.userId);
    const record = toRecord(p);
    return live ? { ...record, lastActiveTs: live.lastActiveTs ?? record.lastActiveTs } : record;
  }

  private async load(userId: string) {
    let u = this.users.get(userId);
    if (!u) {
      const stored = await this.store.get(userId);
      u = this.users.get(userId); // another request may have loaded it meanwhile
      if (!u) {
        const announced = stored ? toRecord(stored) : offline(userId);
        u = { announced, lastActiveTs: announced.lastActiveTs, savedLastActiveTs: announced.lastActiveTs };
        this.users.set(userId, u);
      }
    }
    return u;
  }

  /** Computes and records a change under the write lock; announces it if clients would see a difference. */
  private async change(userId: string, next: (current: PresenceRecord, now: number) => PresenceRecord): Promise<void> {
    await this.writes.run('presence', async () => {
      const u = await this.load(userId);
      const current = { ...u.announced, lastActiveTs: u.lastActiveTs };
      const updated = next(current, this.now());
      u.lastActiveTs = updated.lastActiveTs;
      if (sameAnnounced(u.announced, updated)) return;
      const position = await this.store.put(updated);
      u.announced = updated;
      u.savedLastActiveTs = updated.lastActiveTs;
      this.notifier.notify({ stream: 'presence', position, users: [userId] });
    });
  }

  private idleSince(a: PresenceRecord, lastActiveTs: number | null, now: number): boolean {
    if (a.presence !== 'online') return false;
    const idle = now - (lastActiveTs ?? 0);
    return idle > this.config.idle_timeout_ms || (a.currentlyActive && idle > CURRENTLY_ACTIVE_MS);
  }

  /** spec: "Idle timeout": online and inactive too long → unavailable; active a while ago → not currently active. */
  private async applyTimeouts(userId: string): Promise<void> {
    await this.change(userId, (current, now) => {
      if (current.presence !== 'online') return current;
      const idle = now - (current.lastActiveTs ?? 0);
      if (idle > this.config.idle_timeout_ms) return { ...current, presence: 'unavailable', currentlyActive: false };
      if (idle > CURRENTLY_ACTIVE_MS) return { ...current, currentlyActive: false };
      return current;
    });
  }

  private async sweep(): Promise<void> {
    if (!this.loadedOnline) {
      // After a restart the users who were online are only in the database.
      for (const p of await this.store.withPresence('online')) {
        if (!this.users.has(p.userId)) {
          const announced = toRecord(p);
          this.users.set(p.userId, { announced, lastActiveTs: announced.lastActiveTs, savedLastActiveTs: announced.lastActiveTs });
        }
      }
      this.loadedOnline = true;
    }
    const now = this.now();
    for (const [userId, u] of this.users) {
      if (this.idleSince(u.announced, u.lastActiveTs, now)) await this.applyTimeouts(userId);
      // Offline users with nothing unsaved are read again from the database when needed.
      else if (u.announced.presence === 'offline' && u.lastActiveTs === u.savedLastActiveTs) this.users.delete(userId);
    }
  }
}

function toRecord(p: StoredPresence): PresenceRecord {
  return { userId: p.userId, presence: p.presence, statusMsg: p.statusMsg, lastActiveTs: p.lastActiveTs, currentlyActive: p.currentlyActive };
}
