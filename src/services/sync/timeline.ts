// The timeline of one room in a sync: its newest events in a window that the user may see and
// the filter keeps, and whether older ones were left out (`limited`).
// spec: client-server-api GET /sync (Timeline: `limited`, `prev_batch`), "Syncing"
import { matchesRoomEventFilter, sqlPushdown, type RoomEventFilter } from '../../core/filter.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { Visibility } from '../rooms/visibility.js';

export interface TimelineSlice {
  /** Oldest first. */
  events: StoredEvent[];
  /** Whether events of the window (that the filter keeps and the user may see) were left out. */
  limited: boolean;
}

export interface TimelineQuery {
  roomId: string;
  /** Events after this position; null for no lower bound. */
  after: number | null;
  /** Events up to and including this position. */
  upTo: number;
  limit: number;
  filter?: RoomEventFilter;
}

/**
 * Events read, at most, looking for the visible ones: a user who just joined a room whose history
 * they may not see would otherwise read all of it. Past this the timeline is `limited`, and the
 * client pages back with /messages if it wants more.
 */
export const SCAN_BUDGET = 1_000;
/** Later reads take at least this many events: what the first one skipped is likely skipped again. */
const LATER_BATCH = 100;

/** The `limit` newest events of a window, read newest first until one more than needed is found. */
export async function newestEvents(storage: Storage, visibility: Visibility, userId: string, ignored: ReadonlySet<string>, q: TimelineQuery): Promise<TimelineSlice> {
  const wanted = q.limit + 1;
  const found: StoredEvent[] = [];
  const pushed = sqlPushdown(q.filter);
  let cursor = q.upTo + 1;
  let scanned = 0;
  for (;;) {
    if (scanned >= SCAN_BUDGET) return { events: found.slice(0, q.limit).reverse(), limited: true };
    const ask = scanned === 0 ? wanted : Math.max(wanted - found.length, LATER_BATCH);
    const nids = await storage.sync.newestEventNids({ roomId: q.roomId, after: q.after, upTo: cursor - 1, limit: ask, ...pushed });
    scanned += nids.length;
    if (nids.length === 0) break;
    cursor = nids[nids.length - 1];
    const loaded = await storage.events.getEventsByNid(nids);
    const candidates = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined
      && matchesRoomEventFilter(q.filter, e.event)
      // spec: modules/ignore_users: events of ignored users are hidden, except state events.
      && (e.event.state_key !== undefined || !ignored.has(e.event.sender)));
    found.push(...await visibility.filter(userId, q.roomId, candidates));
    if (found.length >= wanted || nids.length < ask) break;
  }
  const limited = found.length > q.limit;
  return { events: found.slice(0, q.limit).reverse(), limited };
}
