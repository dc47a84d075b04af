// Presence in /sync: the `presence` section, and presence set by syncing itself: `set_presence`
// marks the user online (or unavailable) while they sync, and a user who stops syncing goes
// offline after a while (the presence service leaves that to /sync, services/presence.ts).
// spec: client-server-api GET /sync `set_presence`, modules/presence
import { matchesEventFilter, type EventFilter } from '../../core/filter.js';
import type { PresenceEvent, PresenceService } from '../presence.js';

export type SetPresence = 'online' | 'offline' | 'unavailable';

export class SyncPresence {
  /** Users whose presence syncing set: requests in flight, and when the last one ended. */
  private readonly syncing = new Map<string, { active: number; lastEnded: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly presence: PresenceService,
    /** How long after their last sync ends a user syncing with set_presence goes offline. */
    private readonly offlineAfterMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = () => Date.now(),
  ) {}

  start(): void {
    if (!this.presence.enabled || this.timer) return;
    this.timer = setInterval(() => void this.sweep().catch(this.onError), Math.max(10, Math.min(5_000, Math.floor(this.offlineAfterMs / 4))));
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A sync begins: `online` brings an offline user online, `unavailable` marks them idle,
   * `offline` leaves presence alone. Returns the function to call when the request ends.
   * A status message is kept.
   */
  async enter(userId: string, setPresence: SetPresence): Promise<() => void> {
    if (!this.presence.enabled || setPresence === 'offline') return () => undefined;
    const entry = this.syncing.get(userId) ?? { active: 0, lastEnded: 0 };
    entry.active++;
    this.syncing.set(userId, entry);
    const release = () => {
      entry.active--;
      entry.lastEnded = this.now();
    };
    try {
      const current = await this.presence.get(userId);
      const keep = current.statusMsg ?? undefined;
      if (setPresence === 'online' && current.presence === 'offline') await this.presence.setPresence(userId, 'online', keep);
      if (setPresence === 'unavailable' && current.presence !== 'unavailable') await this.presence.setPresence(userId, 'unavailable', keep);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  /**
   * The m.presence events since a position (everything for an initial sync), and the current
   * presence of `alsoUsers` (the members of rooms new to the client), filtered.
   */
  async events(viewer: string, since: number | undefined, upTo: number, alsoUsers: readonly string[], filter?: EventFilter): Promise<PresenceEvent[]> {
    const events = await this.presence.presenceSince(viewer, since ?? 0, upTo);
    if (since !== undefined && alsoUsers.length) {
      const have = new Set(events.map((e) => e.sender));
      const wanted = new Set(alsoUsers.filter((u) => !have.has(u)));
      if (wanted.size) events.push(...(await this.presence.presenceSince(viewer, 0, upTo)).filter((e) => wanted.has(e.sender)));
    }
    return events.filter((e) => matchesEventFilter(filter, { type: e.type, sender: e.sender }));
  }

  private async sweep(): Promise<void> {
    const now = this.now();
    for (const [userId, s] of this.syncing) {
      if (s.active > 0 || now - s.lastEnded <= this.offlineAfterMs) continue;
      this.syncing.delete(userId);
      const current = await this.presence.get(userId);
      if (current.presence !== 'offline') await this.presence.setPresence(userId, 'offline', current.statusMsg ?? undefined);
    }
  }
}
