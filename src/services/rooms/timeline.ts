// Reading a room's history: /messages pages, single events, context.
// spec: client-server-api "GET /rooms/{roomId}/messages", "GET /rooms/{roomId}/event/{eventId}",
// "GET /rooms/{roomId}/context/{eventId}"
import { MatrixError, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { ClientEvent, EventFormatter, Viewer } from './format.js';
import type { Visibility } from './visibility.js';

/**
 * Pagination tokens name a position in the room-events stream, `s<N>`: between event N and the
 * next. Paginating backwards from it returns events at or before N, forwards those after N.
 */
export function parseStreamToken(token: string): number {
  const m = /^s(\d{1,15})$/.exec(token);
  if (!m) throw new MatrixError('M_INVALID_PARAM', `Invalid pagination token ${JSON.stringify(token)}`, 400);
  return Number(m[1]);
}
export const streamToken = (position: number) => `s${position}`;

export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

export class Timeline {
  constructor(private readonly storage: Storage, private readonly visibility: Visibility, private readonly formatter: EventFormatter) {}

  async messages(viewer: Viewer, roomId: string, q: { from?: string; to?: string; dir: 'b' | 'f'; limit: number; filter?: EventFilter }):
    Promise<{ chunk: ClientEvent[]; start: string; end?: string }> {
    await this.requireCanRead(viewer.userId, roomId);
    const from = q.from !== undefined ? parseStreamToken(q.from) : q.dir === 'b' ? await this.storage.rooms.maxStreamPosition() : 0;
    const to = q.to !== undefined ? parseStreamToken(q.to) : undefined;
    const limit = Math.max(0, Math.min(q.filter?.limit ?? q.limit, 1000));
    const page = await this.page(viewer, roomId, from, q.dir, limit, q.filter, to);
    const chunk = await this.formatter.format(page.chunk, viewer);
    return { chunk, start: q.from ?? streamToken(from), ...(page.exhausted ? {} : { end: streamToken(page.last) }) };
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
    const before = await page('b', target.nid - 1, beforeLimit);
    const after = await page('f', target.nid, total - beforeLimit);
    const last = after.chunk.length ? after.chunk[after.chunk.length - 1] : target;
    const stateNids = last.stateGroup === null ? [] : [...(await this.storage.state.loadGroup(last.stateGroup)).values()];
    const stateEvents = [...(await this.storage.events.getEventsByNid(stateNids)).values()];
    const [event, eventsBefore, eventsAfter, state] = await Promise.all([
      this.formatter.format([target], viewer).then((e) => e[0]),
      this.formatter.format(before.chunk, viewer),
      this.formatter.format(after.chunk, viewer),
      this.formatter.format(stateEvents, viewer),
    ]);
    return { event, events_before: eventsBefore, events_after: eventsAfter, start: streamToken(before.last), end: streamToken(after.last), state };
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
    let exhausted = false;
    // Events the user may not see are skipped; keep reading until the page is full.
    while (chunk.length < limit && !exhausted) {
      const want = limit - chunk.length;
      const nids = await this.storage.rooms.timeline({
        roomId, from: cursor, dir, limit: want, to: bound,
        types: filter?.types, notTypes: filter?.not_types, senders: filter?.senders, notSenders: filter?.not_senders,
      });
      if (nids.length < want) exhausted = true;
      if (nids.length === 0) break;
      cursor = nids[nids.length - 1];
      const loaded = await this.storage.events.getEventsByNid(nids);
      const events = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
      // spec: modules/ignore_users: events from users the viewer ignores are hidden, except state events.
      const ignored = await this.storage.accountData.ignoredUsers(viewer.userId);
      chunk.push(...(await this.visibility.filter(viewer.userId, roomId, events)).filter((s) => s.event.state_key !== undefined || !ignored.has(s.event.sender)));
    }
    return { chunk, last: dir === 'b' ? cursor - 1 : cursor, exhausted };
  }

  /** Users who never were in the room may not read it (unless it is world-readable, checked per event). */
  private async requireCanRead(userId: string, roomId: string): Promise<void> {
    if (!(await this.storage.events.getRoom(roomId))) throw forbidden(roomId);
  }
}

function forbidden(roomId: string): MatrixError {
  return new MatrixError('M_FORBIDDEN', `You are not allowed to read ${roomId}`, 403);
}
