// Event relationships for clients: the child events of an event (/relations), the threads of a
// room (/threads), and the bundled aggregations (unsigned["m.relations"]) served with events.
// spec: client-server-api "Forming relationships between events", "Aggregations of child
// events", "Relationships API"; modules/threading, event_replacements, reference_relations
import { redactEvent } from '../../core/events.js';
import { compareCodePoints } from '../../core/json.js';
import { stateKey, type JsonObject, type JsonValue } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import { forbidden, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import { relationOf, type EditCandidate } from '../../storage/relations.js';
import type { ClientEvent, EventFormatter, Viewer } from './format.js';
import { parseStreamToken, streamToken } from './timeline.js';
import { Visibility } from './visibility.js';

/** How many levels of relations `recurse=true` follows (spec: "SHOULD traverse at least 3"). */
export const RECURSION_DEPTH = 3;
export const MAX_LIMIT = 1000;

export interface RelationsQuery {
  relType?: string;
  eventType?: string;
  from?: string;
  to?: string;
  dir: 'b' | 'f';
  limit: number;
  /** Undefined when the client did not send `recurse`: then recursion_depth is absent too. */
  recurse?: boolean;
}

export interface RelationsPage { chunk: ClientEvent[]; next_batch?: string; prev_batch?: string; recursion_depth?: number }
export interface ThreadsQuery { include: 'all' | 'participated'; from?: string; limit: number }

export class Relations {
  constructor(private readonly storage: Storage, private readonly visibility: Visibility, private readonly formatter: EventFormatter) {}

  /** spec: GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]] */
  async children(viewer: Viewer, roomId: string, parentId: string, q: RelationsQuery): Promise<RelationsPage> {
    // Tokens are stream positions, as for /messages (services/rooms/timeline.ts): `s<N>` sits
    // between event N and the next, so backwards from it starts at N and forwards after N.
    const from = q.from !== undefined ? parseStreamToken(q.from) : q.dir === 'b' ? Number.MAX_SAFE_INTEGER - 1 : 0;
    const to = q.to !== undefined ? parseStreamToken(q.to) : undefined;
    const parent = await this.storage.events.getEvent(parentId);
    // The parent must be one the user may see (spec: 404 "does not have permission to read").
    if (!parent || parent.event.room_id !== roomId || !servable(parent)) throw notFound('Event not found');
    if ((await this.visibility.filter(viewer.userId, roomId, [parent])).length === 0) throw notFound('Event not found');

    const depth = q.recurse ? RECURSION_DEPTH : 1;
    const limit = Math.min(q.limit, MAX_LIMIT);
    const ignored = await this.storage.accountData.ignoredUsers(viewer.userId);
    const collected: StoredEvent[] = [];
    // The store's bounds are exclusive nids.
    let cursor = q.dir === 'b' ? from + 1 : from;
    const far = to === undefined ? undefined : q.dir === 'b' ? to : to + 1;
    let exhausted = false;
    // Children the user may not see are skipped; keep reading until the page is full.
    while (collected.length < limit && !exhausted) {
      const want = limit - collected.length;
      const nids = await this.storage.relations.children({ roomId, parentId, relType: q.relType, eventType: q.eventType, from: cursor, to: far, dir: q.dir, limit: want, depth });
      if (nids.length < want) exhausted = true;
      if (nids.length === 0) break;
      cursor = nids[nids.length - 1];
      const loaded = await this.storage.events.getEventsByNid(nids);
      const page = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined && servable(e) && !ignored.has(e.event.sender));
      collected.push(...(await this.visibility.filter(viewer.userId, roomId, page)));
    }
    const out: RelationsPage = { chunk: await this.formatter.format(collected, viewer) };
    if (!exhausted) out.next_batch = streamToken(q.dir === 'b' ? cursor - 1 : cursor);
    if (q.from !== undefined) out.prev_batch = q.from;
    if (q.recurse !== undefined) out.recursion_depth = q.recurse ? RECURSION_DEPTH : 0;
    return out;
  }

  /** spec: GET /rooms/{roomId}/threads — thread roots, newest activity first. */
  async threads(viewer: Viewer, roomId: string, q: ThreadsQuery): Promise<{ chunk: ClientEvent[]; next_batch?: string }> {
    // `s<N>`: threads whose newest event is at or before position N.
    const before = q.from !== undefined ? parseStreamToken(q.from) + 1 : Number.MAX_SAFE_INTEGER;
    await this.requireCanView(viewer.userId, roomId);
    const limit = Math.min(q.limit, MAX_LIMIT);
    const participant = q.include === 'participated' ? viewer.userId : undefined;
    const collected: StoredEvent[] = [];
    let cursor = before;
    let exhausted = false;
    while (collected.length < limit && !exhausted) {
      const want = limit - collected.length;
      const rows = await this.storage.relations.threads({ roomId, before: cursor, limit: want, participant });
      if (rows.length < want) exhausted = true;
      if (rows.length === 0) break;
      cursor = rows[rows.length - 1].latestNid;
      const roots = await this.storage.events.getEvents(rows.map((r) => r.root));
      const page = rows.map((r) => roots.get(r.root)).filter((e): e is StoredEvent => e !== undefined);
      collected.push(...(await this.visibility.filter(viewer.userId, roomId, page)));
    }
    const chunk = await this.formatter.format(await this.redactIgnoredRoots(viewer.userId, roomId, collected), viewer);
    return exhausted ? { chunk } : { chunk, next_batch: streamToken(cursor - 1) };
  }

  /**
   * spec: threads_list — a root sent by a user the viewer ignores "is returned redacted to the
   * caller", as a client aggregating the thread locally would see it.
   */
  private async redactIgnoredRoots(userId: string, roomId: string, roots: StoredEvent[]): Promise<StoredEvent[]> {
    const ignored = await this.storage.accountData.ignoredUsers(userId);
    if (!roots.some((r) => ignored.has(r.event.sender))) return roots;
    const version = getRoomVersion((await this.storage.events.getRoom(roomId))?.roomVersion ?? '');
    if (!version) return roots.filter((r) => !ignored.has(r.event.sender));
    return roots.map((r) => (ignored.has(r.event.sender) ? { ...r, event: redactEvent(r.event, version) } : r));
  }

  /**
   * spec: threads_list 403 — the room must exist and the user must be able to view it: a
   * (past or present) member who is not banned, or anyone when it is world-readable. Which
   * roots they then see is decided per event by history visibility.
   */
  private async requireCanView(userId: string, roomId: string): Promise<void> {
    if (!(await this.storage.events.getRoom(roomId))) throw forbidden(`You are not allowed to view ${roomId}`);
    const membership = await this.storage.rooms.membership(roomId, userId);
    if (membership !== undefined && membership !== 'ban') return;
    const current = await this.storage.events.currentState(roomId);
    const histNid = current.get(stateKey('m.room.history_visibility', ''));
    const hist = histNid === undefined ? undefined : (await this.storage.events.getEventsByNid([histNid])).get(histNid);
    if (membership !== 'ban' && hist?.event.content.history_visibility === 'world_readable') return;
    throw forbidden(`You are not allowed to view ${roomId}`);
  }
}

// ---- bundled aggregations ----

/**
 * Viewers made for serialising an event inside another's aggregation (a thread's latest event,
 * an edit). Their events get no m.thread aggregation, so a malformed relation cycle (possible
 * with the free-form event IDs of room versions 1 and 2) cannot recurse.
 */
const nestedViewers = new WeakSet<Viewer>();
const nested = (viewer: Viewer): Viewer => {
  const v = { ...viewer };
  nestedViewers.add(v);
  return v;
};

/** How far back to look for a visible thread event when the newest one is hidden from the user. */
const THREAD_FALLBACK_SCAN = 100;

/** Events that may carry bundled aggregations: not state events, not edits (spec: "Aggregations of child events"). */
function aggregationParents(events: StoredEvent[]): string[] {
  return events.filter((s) => s.event.state_key === undefined && relationOf(s.event.content)?.relType !== 'm.replace').map((s) => s.event.event_id);
}

/**
 * Which relation kinds each of `events` has children of: the one query every page of events
 * needs before bundling, so EventFormatter runs it alongside its own.
 */
export async function relationsPresent(storage: Storage, events: StoredEvent[], viewer: Viewer): Promise<Map<string, Set<string>>> {
  const ids = aggregationParents(events);
  if (ids.length === 0) return new Map();
  const kinds = nestedViewers.has(viewer) ? ['m.replace', 'm.reference'] : ['m.thread', 'm.replace', 'm.reference'];
  return storage.relations.relTypesPresent(ids, kinds);
}

/**
 * Adds unsigned["m.relations"] to formatted events: m.thread, m.replace and m.reference.
 * `formatted[i]` is the client form of `events[i]`; `present` is what relationsPresent found.
 * One query per aggregation kind for the whole page. Children the viewer may not see are left
 * out (spec: "Aggregations of child events", history visibility warning). State events get
 * none (spec: same section), nor do edits (an m.replace child is never itself a parent worth
 * bundling for).
 */
export async function addBundledAggregations(storage: Storage, formatter: EventFormatter, events: StoredEvent[], formatted: ClientEvent[], viewer: Viewer, present: Map<string, Set<string>>): Promise<void> {
  if (present.size === 0) return;
  const parents = new Map<string, { stored: StoredEvent; client: ClientEvent }>();
  events.forEach((s, i) => {
    if (present.has(s.event.event_id)) parents.set(s.event.event_id, { stored: s, client: formatted[i] });
  });
  const having = (kind: string) => [...present].filter(([, kinds]) => kinds.has(kind)).map(([id]) => id);

  // spec: "Servers must additionally ensure they do not consider child events from ignored users".
  const agg = new Aggregator(storage, formatter, viewer, await storage.accountData.ignoredUsers(viewer.userId));
  const bundles = new Map<string, JsonObject>();
  const put = (eventId: string, relType: string, value: JsonValue) => {
    const b = bundles.get(eventId) ?? {};
    b[relType] = value;
    bundles.set(eventId, b);
  };
  for (const [id, v] of await agg.threads(having('m.thread'), parents)) put(id, 'm.thread', v);
  // spec: event_replacements — a redacted original gets no m.replace aggregation.
  const editable = having('m.replace').filter((id) => parents.get(id)?.client.unsigned.redacted_because === undefined);
  for (const [id, v] of await agg.edits(editable, parents)) put(id, 'm.replace', v);
  for (const [id, v] of await agg.references(having('m.reference'), parents)) put(id, 'm.reference', v);

  for (const [id, bundle] of bundles) {
    const client = parents.get(id)?.client;
    if (!client) continue;
    const existing = client.unsigned['m.relations'];
    client.unsigned['m.relations'] = { ...(isObject(existing) ? existing : {}), ...bundle };
  }
}

type Parents = Map<string, { stored: StoredEvent; client: ClientEvent }>;

class Aggregator {
  private readonly visibility: Visibility;

  constructor(
    private readonly storage: Storage,
    private readonly formatter: EventFormatter,
    private readonly viewer: Viewer,
    private readonly ignored: ReadonlySet<string>,
  ) {
    this.visibility = new Visibility(storage);
  }

  /** spec: threading "Server-side aggregation of m.thread relationships". */
  async threads(roots: string[], parents: Parents): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>();
    if (roots.length === 0) return out;
    const summaries = (await this.storage.relations.threadSummaries(roots, this.viewer.userId, [...this.ignored]))
      .filter((s) => parents.get(s.root)?.stored.event.room_id === s.roomId);
    const loaded = await this.storage.events.getEventsByNid(summaries.map((s) => s.latestNid));
    const latest = new Map<string, StoredEvent>();
    const hidden: typeof summaries = [];
    const visible = await this.visibleSet([...loaded.values()]);
    for (const s of summaries) {
      const ev = loaded.get(s.latestNid);
      if (ev && visible.has(ev.nid)) latest.set(s.root, ev);
      else hidden.push(s);
    }
    // Rare: the newest reply is hidden from this user (e.g. sent after they left); fall back to
    // the newest one they may see.
    for (const s of hidden) {
      const ev = await this.newestVisibleReply(s.roomId, s.root, s.latestNid);
      if (ev) latest.set(s.root, ev);
    }
    const latestEvents = [...latest.values()];
    const formattedLatest = await this.formatter.format(latestEvents, nested(this.viewer));
    const byId = new Map(formattedLatest.map((c) => [c.event_id, c]));
    for (const s of summaries) {
      const ev = latest.get(s.root);
      const client = ev && byId.get(ev.event.event_id);
      if (!client) continue;
      const rootSender = parents.get(s.root)?.stored.event.sender;
      out.set(s.root, {
        latest_event: client as unknown as JsonObject,
        count: s.count,
        current_user_participated: s.userReplied || rootSender === this.viewer.userId,
      });
    }
    return out;
  }

  /**
   * spec: event_replacements "Server-side aggregation of m.replace relationships": the most
   * recent valid replacement (origin_server_ts, then the larger event ID by code point).
   * Candidates are already same room, sender and type, and not state events; here the rest of
   * "Validity of replacement events" is checked: m.new_content present (unless encrypted, where
   * it lives in the ciphertext), and the viewer may see the edit.
   */
  async edits(parentIds: string[], parents: Parents): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>();
    if (parentIds.length === 0) return out;
    const queues = new Map<string, EditCandidate[]>();
    for (const c of await this.storage.relations.editCandidates(parentIds)) {
      if (parents.get(c.parentId)?.stored.event.room_id !== c.roomId || this.ignored.has(c.sender)) continue;
      const q = queues.get(c.parentId) ?? [];
      q.push(c);
      queues.set(c.parentId, q);
    }
    for (const q of queues.values()) q.sort((a, b) => b.ts - a.ts || compareCodePoints(b.eventId, a.eventId));
    const chosen = new Map<string, StoredEvent>();
    // Each round tries the best remaining candidate of every parent still without an edit.
    while (queues.size > 0) {
      const heads = [...queues].map(([parentId, q]) => [parentId, q.shift() as EditCandidate] as const);
      const loaded = await this.storage.events.getEventsByNid(heads.map(([, c]) => c.eventNid));
      const visible = await this.visibleSet([...loaded.values()]);
      for (const [parentId, c] of heads) {
        const ev = loaded.get(c.eventNid);
        if (ev && visible.has(ev.nid) && isValidReplacement(ev)) {
          chosen.set(parentId, ev);
          queues.delete(parentId);
        } else if (queues.get(parentId)?.length === 0) {
          queues.delete(parentId);
        }
      }
    }
    const edits = [...chosen.values()];
    const formattedEdits = new Map((await this.formatter.format(edits, nested(this.viewer))).map((c) => [c.event_id, c]));
    for (const [parentId, ev] of chosen) {
      const client = formattedEdits.get(ev.event.event_id);
      if (client) out.set(parentId, client as unknown as JsonObject);
    }
    return out;
  }

  /** spec: reference_relations "Server-side aggregation of m.reference": `{ chunk: [{ event_id }] }`. */
  async references(parentIds: string[], parents: Parents): Promise<Map<string, JsonObject>> {
    const out = new Map<string, JsonObject>();
    if (parentIds.length === 0) return out;
    const rows = (await this.storage.relations.childrenOf(parentIds, 'm.reference'))
      .filter((r) => parents.get(r.relatesTo)?.stored.event.room_id === r.roomId && !this.ignored.has(r.sender));
    const loaded = await this.storage.events.getEventsByNid(rows.map((r) => r.eventNid));
    const visible = await this.visibleSet([...loaded.values()]);
    const chunks = new Map<string, JsonObject[]>();
    for (const r of rows) {
      if (!visible.has(r.eventNid)) continue;
      const chunk = chunks.get(r.relatesTo) ?? [];
      chunk.push({ event_id: r.eventId });
      chunks.set(r.relatesTo, chunk);
    }
    for (const [parentId, chunk] of chunks) out.set(parentId, { chunk });
    return out;
  }

  /** The nids of `events` (any rooms) that the viewer may see and that clients are served. */
  private async visibleSet(events: StoredEvent[]): Promise<Set<number>> {
    const byRoom = new Map<string, StoredEvent[]>();
    for (const e of events) {
      if (!servable(e) || this.ignored.has(e.event.sender)) continue;
      const list = byRoom.get(e.event.room_id) ?? [];
      list.push(e);
      byRoom.set(e.event.room_id, list);
    }
    const out = new Set<number>();
    for (const [roomId, list] of byRoom) for (const e of await this.visibility.filter(this.viewer.userId, roomId, list)) out.add(e.nid);
    return out;
  }

  private async newestVisibleReply(roomId: string, root: string, newest: number): Promise<StoredEvent | undefined> {
    let cursor = newest;
    for (let scanned = 0; scanned < THREAD_FALLBACK_SCAN;) {
      const nids = await this.storage.relations.children({ roomId, parentId: root, relType: 'm.thread', from: cursor, dir: 'b', limit: 20, depth: 1 });
      if (nids.length === 0) return undefined;
      scanned += nids.length;
      cursor = nids[nids.length - 1];
      const loaded = await this.storage.events.getEventsByNid(nids);
      const visible = await this.visibleSet([...loaded.values()]);
      const nid = nids.find((n) => visible.has(n));
      if (nid !== undefined) return loaded.get(nid);
    }
    return undefined;
  }
}

/** Events clients may be served: accepted, not soft-failed, part of the room's timeline. */
function servable(e: StoredEvent): boolean {
  return e.rejectedReason === null && !e.softFailed && !e.outlier;
}

/** spec: event_replacements "Validity of replacement events", the parts read from content. */
function isValidReplacement(edit: StoredEvent): boolean {
  if (edit.event.type === 'm.room.encrypted') return true;
  return isObject(edit.event.content['m.new_content']);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
