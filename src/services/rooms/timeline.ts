// Reading a room's history: /messages pages, single events, context.
// spec: client-server-api "GET /rooms/{roomId}/messages", "GET /rooms/{roomId}/event/{eventId}",
// "GET /rooms/{roomId}/context/{eventId}"
import { matchesRoom, matchesRoomEventFilter, sqlPushdown, type RoomEventFilter } from '../../core/filter.js';
import { splitStateKey, stateKey } from '../../core/pdu.js';
import { MatrixError, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { ClientEvent, EventFormatter, Viewer } from './format.js';
import type { Visibility } from './visibility.js';
import { parseSyncToken } from '../sync/token.js';

/**
 * Pagination tokens name a position in the room-events stream, `s<N>`: between event N and the
 * next. Paginating backwards from it returns events at or before N, forwards those after N.
 * A /sync token names its events position the same way (spec: "Syncing": next_batch and
 * prev_batch are usable as `from`).
 */
export function parseStreamToken(token: string): number {
  const m = /^s(\d{1,15})$/.exec(token);
  if (m) return Number(m[1]);
  const sync = parseSyncToken(token);
  if (sync) return sync.events;
  throw new MatrixError('M_INVALID_PARAM', `Invalid pagination token ${JSON.stringify(token)}`, 400);
}

/**
 * A room timeline's tokens (/messages, /context) name a position in the stream or, below it,
 * in the room's backfilled history: negative positions (migration 016), `s-<N>`.
 */
export function parseTimelineToken(token: string): number {
  const m = /^s-(\d{1,16})$/.exec(token);
  return m ? -Number(m[1]) : parseStreamToken(token);
}
export const streamToken = (position: number) => `s${position}`;
/** Below every timeline position: where forward pagination without `from` starts. */
const TIMELINE_START = -(10 ** 15);
/** A stored event's timeline position. */
export const positionOf = (s: StoredEvent) => s.backfillPos ?? s.nid;
/** Backfill rounds one /messages request may wait for (each one /backfill from another server). */
const MAX_BACKFILL_ROUNDS = 3;

/** Where a room's older history comes from when we run out of it (services/federation/backfill.ts). */
export interface HistorySource {
  /** Adds the events just before the oldest ones held; resolves to how many were added. */
  backfill(roomId: string): Promise<number>;
}

/** The RoomEventFilter of /messages and /context (core/filter.ts, shared with /sync). */
export type EventFilter = RoomEventFilter;

export class Timeline {
  /** Set when federation is on: backwards pagination then reaches history held by other servers. */
  history?: HistorySource;

  constructor(private readonly storage: Storage, private readonly visibility: Visibility, private readonly formatter: EventFormatter) {}

  async messages(viewer: Viewer, roomId: string, q: { from?: string; to?: string; dir: 'b' | 'f'; limit: number; filter?: EventFilter }):
    Promise<{ chunk: ClientEvent[]; start: string; end?: string; state?: ClientEvent[] }> {
    await this.requireCanRead(viewer.userId, roomId);
    const from = q.from !== undefined ? parseTimelineToken(q.from) : q.dir === 'b' ? await this.storage.rooms.maxStreamPosition() : TIMELINE_START;
    const to = q.to !== undefined ? parseTimelineToken(q.to) : undefined;
    const limit = Math.max(0, Math.min(q.filter?.limit ?? q.limit, 1000));
    const page = await this.page(viewer, roomId, from, q.dir, limit, q.filter, to);
    const chunk = await this.formatter.format(page.chunk, viewer);
    // spec: lazy-loaded members: the member events of the chunk's senders, as at its first event.
    const state = q.filter?.lazy_load_members && page.chunk.length ? await this.formatter.format(await this.senderMembers(page.chunk[0], page.chunk), viewer) : undefined;
    return { chunk, start: q.from ?? streamToken(from), ...(page.exhausted ? {} : { end: streamToken(page.last) }), ...(state ? { state } : {}) };
  }

  /** One event, if it is in this room and visible to the user. */
  async event(viewer: Viewer, roomId: string, eventId: string): Promise<ClientEvent> {
    const [formatted] = await this.formatter.format([await this.visibleEvent(viewer, roomId, eventId)], viewer);
    return formatted;
  }

  /**
   * spec: GET /rooms/{roomId}/context/{eventId}: `limit` is shared between the events
   * before and after; `state` is the state at the last event returned.
   */
  async context(viewer: Viewer, roomId: string, eventId: string, limit: number, filter?: EventFilter):
    Promise<{ event: ClientEvent; events_before: ClientEvent[]; events_after: ClientEvent[]; start: string; end: string; state: ClientEvent[] }> {
    const target = await this.visibleEvent(viewer, roomId, eventId);
    const total = Math.max(0, Math.min(filter?.limit ?? limit, 1000));
    const beforeLimit = Math.floor(total / 2);
    const page = (dir: 'b' | 'f', from: number, n: number) => n === 0 ? Promise.resolve({ chunk: [] as StoredEvent[], last: from })
      : this.page(viewer, roomId, from, dir, n, filter);
    const before = await page('b', positionOf(target) - 1, beforeLimit);
    const after = await page('f', positionOf(target), total - beforeLimit);
    const last = after.chunk.length ? after.chunk[after.chunk.length - 1] : target;
    // spec: the filter applies to `state` too; with lazy-loaded members only the senders' member events are kept.
    const stateMap = last.stateGroup === null ? new Map<string, number>() : await this.storage.state.loadGroup(last.stateGroup);
    const senders = new Set([target, ...before.chunk, ...after.chunk].map((e) => e.event.sender));
    const wanted = (k: string) => !filter?.lazy_load_members || splitStateKey(k)[0] !== 'm.room.member' || senders.has(splitStateKey(k)[1]);
    const stateNids = [...stateMap].filter(([k]) => wanted(k)).map(([, nid]) => nid);
    const stateEvents = [...(await this.storage.events.getEventsByNid(stateNids)).values()].filter((e) => matchesRoomEventFilter(filter, e.event));
    const [event, eventsBefore, eventsAfter, state] = await Promise.all([
      this.formatter.format([target], viewer).then((e) => e[0]),
      this.formatter.format(before.chunk, viewer),
      this.formatter.format(after.chunk, viewer),
      this.formatter.format(stateEvents, viewer),
    ]);
    return { event, events_before: eventsBefore, events_after: eventsAfter, start: streamToken(before.last), end: streamToken(after.last), state };
  }

  /**
   * The visible events just before (newest first) and after an event the viewer may see, with
   * the positions reached: /search's `event_context`, whose limits are separate.
   */
  async around(viewer: Viewer, target: StoredEvent, beforeLimit: number, afterLimit: number, filter?: EventFilter):
    Promise<{ before: StoredEvent[]; after: StoredEvent[]; start: string; end: string }> {
    const roomId = target.event.room_id;
    const at = positionOf(target);
    const before = beforeLimit > 0 ? await this.page(viewer, roomId, at - 1, 'b', beforeLimit, filter) : { chunk: [], last: at - 1 };
    const after = afterLimit > 0 ? await this.page(viewer, roomId, at, 'f', afterLimit, filter) : { chunk: [], last: at };
    return { before: before.chunk, after: after.chunk, start: streamToken(before.last), end: streamToken(after.last) };
  }

  /** spec: GET /rooms/{roomId}/timestamp_to_event. */
  async eventAtTimestamp(viewer: Viewer, roomId: string, ts: number, dir: 'f' | 'b'): Promise<{ event_id: string; origin_server_ts: number }> {
    await this.requireCanRead(viewer.userId, roomId);
    const nid = await this.storage.rooms.eventNearTimestamp(roomId, ts, dir);
    const s = nid === undefined ? undefined : (await this.storage.events.getEventsByNid([nid])).get(nid);
    const [visible] = s ? await this.visibility.filter(viewer.userId, roomId, [s]) : [];
    if (!visible) throw notFound('No event found');
    return { event_id: visible.event.event_id, origin_server_ts: visible.event.origin_server_ts };
  }

  private async visibleEvent(viewer: Viewer, roomId: string, eventId: string): Promise<StoredEvent> {
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId || s.outlier || s.rejectedReason !== null || s.softFailed) throw notFound('Event not found');
    const [visible] = await this.visibility.filter(viewer.userId, roomId, [s]);
    if (!visible) throw notFound('Event not found');
    return visible;
  }

  /** Up to `limit` visible events from position `from` in `dir`; `last` is the position reached. */
  private async page(viewer: Viewer, roomId: string, from: number, dir: 'b' | 'f', limit: number, filter?: EventFilter, to?: number):
    Promise<{ chunk: StoredEvent[]; last: number; exhausted: boolean }> {
    const chunk: StoredEvent[] = [];
    // The store's bounds are exclusive event positions.
    let cursor = dir === 'b' ? from + 1 : from;
    const bound = to === undefined ? undefined : dir === 'b' ? to : to + 1;
    // A filter that leaves this room out leaves out all of it.
    let exhausted = !matchesRoom(filter, roomId);
    // The database applies what it can of the filter; core/filter.ts decides.
    const pushed = sqlPushdown(filter);
    let backfills = 0;
    let capped = false;
    // Events the user may not see are skipped; keep reading until the page is full.
    while (chunk.length < limit && !exhausted) {
      const want = limit - chunk.length;
      const rows = await this.storage.rooms.timelinePositions({ roomId, from: cursor, dir, limit: want, to: bound, ...pushed });
      if (rows.length < want) {
        exhausted = true;
        // Back past the oldest event we hold: the room's earlier history may be on other
        // servers (a room joined over federation). The new events sit below the cursor. Past
        // the rounds one request may wait for, the page ends with a token to go on from.
        if (dir === 'b' && to === undefined && this.history) {
          if (backfills === MAX_BACKFILL_ROUNDS) {
            capped = true;
          } else {
            backfills++;
            if ((await this.history.backfill(roomId)) > 0) exhausted = false;
          }
        }
      }
      if (rows.length === 0) {
        if (exhausted) break;
        continue;
      }
      cursor = rows[rows.length - 1].pos;
      const nids = rows.map((r) => r.nid);
      const loaded = await this.storage.events.getEventsByNid(nids);
      const events = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined && matchesRoomEventFilter(filter, e.event));
      // spec: modules/ignore_users: events from users the viewer ignores are hidden, except state events.
      const ignored = await this.storage.accountData.ignoredUsers(viewer.userId);
      chunk.push(...(await this.visibility.filter(viewer.userId, roomId, events)).filter((s) => s.event.state_key !== undefined || !ignored.has(s.event.sender)));
    }
    return { chunk, last: dir === 'b' ? cursor - 1 : cursor, exhausted: exhausted && !capped };
  }

  /** The member events, in the state at `at`, of the senders of `events`. */
  private async senderMembers(at: StoredEvent, events: StoredEvent[]): Promise<StoredEvent[]> {
    if (at.stateGroup === null) return [];
    const state = await this.storage.state.loadGroup(at.stateGroup);
    const nids = [...new Set(events.map((e) => e.event.sender))].map((u) => state.get(stateKey('m.room.member', u))).filter((n): n is number => n !== undefined);
    const loaded = await this.storage.events.getEventsByNid(nids);
    return nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
  }

  /** Users who never were in the room may not read it (unless it is world-readable, checked per event). */
  private async requireCanRead(userId: string, roomId: string): Promise<void> {
    if (!(await this.storage.events.getRoom(roomId))) throw forbidden(roomId);
  }
}

function forbidden(roomId: string): MatrixError {
  return new MatrixError('M_FORBIDDEN', `You are not allowed to read ${roomId}`, 403);
}
