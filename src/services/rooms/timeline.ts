// Reading a room's history: /messages pages, single events, context.
// spec: client-server-api "GET /rooms/{roomId}/messages", "GET /rooms/{roomId}/event/{eventId}",
// "GET /rooms/{roomId}/context/{eventId}"
import { MatrixError, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { ClientEvent, EventFormatter, Viewer } from './format.js';
import type { Visibility } from './visibility.js';

/** Pagination tokens name a position in the room-events stream: `s<position>`. */
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
    const from = q.from !== undefined ? parseStreamToken(q.from) : q.dir === 'b' ? (await this.storage.rooms.maxStreamPosition()) + 1 : 0;
    const to = q.to !== undefined ? parseStreamToken(q.to) : undefined;
    const limit = Math.max(0, Math.min(q.filter?.limit ?? q.limit, 1000));
    const collected: StoredEvent[] = [];
    let cursor = from;
    let exhausted = false;
    // Events the user may not see are skipped; keep reading until the page is full.
    while (collected.length < limit && !exhausted) {
      const want = limit - collected.length;
      const nids = await this.storage.rooms.timeline({
        roomId, from: cursor, dir: q.dir, limit: want, to,
        types: q.filter?.types, notTypes: q.filter?.not_types, senders: q.filter?.senders, notSenders: q.filter?.not_senders,
      });
      if (nids.length < want) exhausted = true;
      if (nids.length === 0) break;
      cursor = nids[nids.length - 1];
      const loaded = await this.storage.events.getEventsByNid(nids);
      const page = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
      collected.push(...(await this.visibility.filter(viewer.userId, roomId, page)));
    }
    const chunk = await this.formatter.format(collected, viewer);
    return { chunk, start: q.from ?? streamToken(from), ...(exhausted ? {} : { end: streamToken(cursor) }) };
  }

  /** One event, if it is in this room and visible to the user. */
  async event(viewer: Viewer, roomId: string, eventId: string): Promise<ClientEvent> {
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId || s.outlier || s.rejectedReason !== null) throw notFound('Event not found');
    const [visible] = await this.visibility.filter(viewer.userId, roomId, [s]);
    if (!visible) throw notFound('Event not found');
    const [formatted] = await this.formatter.format([visible], viewer);
    return formatted;
  }

  /** Users who never were in the room may not read it (unless it is world-readable, checked per event). */
  private async requireCanRead(userId: string, roomId: string): Promise<void> {
    if (!(await this.storage.events.getRoom(roomId))) throw forbidden(roomId);
  }
}

function forbidden(roomId: string): MatrixError {
  return new MatrixError('M_FORBIDDEN', `You are not allowed to read ${roomId}`, 403);
}
