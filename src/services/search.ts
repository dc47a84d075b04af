// Server-side search, category room_events: a full-text query over the index of
// storage/search.ts, narrowed to the rooms the user has been in, then filtered by the
// RoomEventFilter and history visibility, one page at a time.
// spec: client-server-api modules/search, POST /search
import { matchesEventFilter, matchesRoom, matchesRoomEventFilter, type RoomEventFilter } from '../core/filter.js';
import { stateKey, type JsonObject } from '../core/pdu.js';
import { highlightsOf, parseSearchTerm, SEARCH_KEYS, searchableText, SearchTermError, shareOfMatchingWords, type SearchKey } from '../core/search.js';
import { canonicalJson } from '../core/json.js';
import { invalidParam } from '../errors.js';
import type { StoredEvent } from '../storage/events.js';
import type { Storage } from '../storage/index.js';
import type { IndexSearch, SearchCursor, SearchRoom } from '../storage/search.js';
import type { ClientEvent, EventFormatter, Viewer } from './rooms/format.js';
import type { Timeline } from './rooms/timeline.js';
import type { Visibility } from './rooms/visibility.js';
import { deriveKey, macOf, safeEqual } from './secrets.js';

export type GroupKey = 'room_id' | 'sender';

/** spec: the Room Events Criteria of POST /search (the filter already parsed). */
export interface RoomEventsCriteria {
  search_term: string;
  keys?: SearchKey[];
  filter?: RoomEventFilter;
  order_by?: 'recent' | 'rank';
  event_context?: { before_limit?: number; after_limit?: number; include_profile?: boolean };
  include_state?: boolean;
  groupings?: { group_by?: Array<{ key: GroupKey }> };
}

interface SearchContext {
  start: string;
  end: string;
  events_before: ClientEvent[];
  events_after: ClientEvent[];
  profile_info?: Record<string, { displayname?: string; avatar_url?: string }>;
}

export interface RoomEventsResults {
  count: number;
  highlights: string[];
  results: Array<{ rank: number; result: ClientEvent; context?: SearchContext }>;
  next_batch?: string;
  groups?: Partial<Record<GroupKey, Record<string, { results: string[]; order: number; next_batch?: string }>>>;
  state?: Record<string, ClientEvent[]>;
}

/** spec: the default page size is the filter's `limit`; Synapse's default is 10. */
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
/** Filter sender lists longer than this are applied to candidates only, not in SQL. */
const MAX_PUSHED_SENDERS = 500;
/** spec: event_context before_limit / after_limit default to 5. */
const DEFAULT_CONTEXT = 5;
const MAX_CONTEXT = 20;
/**
 * Candidates looked at per request at most. Matches the user may not see (history visibility,
 * ignored users, filter parts the index cannot apply) are skipped; past this many the page is
 * returned short, with a next_batch to go on from.
 */
const MAX_SCANNED = 1000;
/**
 * `rank` order ranks the newest this many matches. Ranking reads every match it orders, and a
 * word in half of a million messages would take a second; past this many, relevance among the
 * recent ones is what a user is after. The window is fixed by the first page (its token
 * carries it), so later pages continue the same ordering.
 */
const RANKED_MATCHES = 2_000;

/**
 * next_batch: where the last page ended, in which order, the rank window, and for a group's token
 * the group. Opaque to clients: base64url of JSON, a dot, and an HMAC (key derived from the
 * server's signing key) over the payload, the user and the search it came from. The window and the
 * cursor decide how much the database reads, so a token the server did not write (or one written
 * for another user or another search, whose window would not fit this one) is refused with
 * M_INVALID_PARAM before anything is read. spec: search.yaml, 400 "Part of the request was invalid".
 */
interface SearchToken { order: 'rank' | 'recent'; cursor: SearchCursor; window?: number; group?: { key: GroupKey; value: string } }

/** What a token is bound to besides its payload: the user and the parts of the request that choose the matches. */
function tokenBinding(userId: string, c: RoomEventsCriteria): string[] {
  // The filter's limit is the page size: a client may change it between pages.
  const { limit: _limit, ...filter } = c.filter ?? {};
  const canonical = canonicalJson(filter);
  const keys = [...new Set(c.keys?.length ? c.keys : Object.keys(SEARCH_KEYS))].sort();
  return [userId, c.search_term, keys.join(','), canonical.ok ? canonical.value : JSON.stringify(filter)];
}

function encodeToken(key: Uint8Array, binding: string[], t: SearchToken): string {
  const json: JsonObject = { o: t.order, r: t.cursor.rank, n: t.cursor.nid };
  if (t.window !== undefined) json.w = t.window;
  if (t.group) json.g = [t.group.key, t.group.value];
  const payload = Buffer.from(JSON.stringify(json)).toString('base64url');
  return `${payload}.${macOf(key, payload, ...binding)}`;
}

function decodeToken(key: Uint8Array, binding: string[], raw: string): SearchToken {
  const bad = () => invalidParam(`Invalid next_batch token ${JSON.stringify(raw.slice(0, 100))}`);
  const m = /^([A-Za-z0-9_-]{1,2000})\.([A-Za-z0-9_-]{43})$/.exec(raw);
  if (!m || !safeEqual(macOf(key, m[1], ...binding), m[2])) throw bad();
  // Ours, so well formed; checked all the same (a token of an older format, a changed key).
  let json: unknown;
  try { json = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')); } catch { throw bad(); }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad();
  const { o, r, n, w, g } = json as Record<string, unknown>;
  if ((o !== 'rank' && o !== 'recent') || typeof r !== 'number' || !Number.isFinite(r) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad();
  const token: SearchToken = { order: o, cursor: { rank: r, nid: n } };
  if (w !== undefined) {
    if (typeof w !== 'number' || !Number.isSafeInteger(w) || w < 0) throw bad();
    token.window = w;
  }
  if (g !== undefined) {
    if (!Array.isArray(g) || g.length !== 2 || (g[0] !== 'room_id' && g[0] !== 'sender') || typeof g[1] !== 'string') throw bad();
    token.group = { key: g[0], value: g[1] };
  }
  return token;
}

export class SearchService {
  private readonly tokenKey: Buffer;

  constructor(
    private readonly storage: Storage,
    private readonly visibility: Visibility,
    private readonly formatter: EventFormatter,
    private readonly timeline: Timeline,
    /** A long-lived server secret (the signing key's seed) from which the next_batch MAC key is derived. */
    serverSecret: Uint8Array,
    /** RANKED_MATCHES; smaller in tests. */
    private readonly rankedMatches = RANKED_MATCHES,
  ) {
    this.tokenKey = deriveKey(serverSecret, 'search next_batch');
  }

  async roomEvents(viewer: Viewer, c: RoomEventsCriteria, nextBatch?: string): Promise<RoomEventsResults> {
    const order = c.order_by ?? 'rank';
    const binding = tokenBinding(viewer.userId, c);
    const token = nextBatch === undefined ? undefined : decodeToken(this.tokenKey, binding, nextBatch);
    // spec: "send the *same* request … with a next_batch": a token of another ordering is not from this search.
    if (token && token.order !== order) throw invalidParam('next_batch belongs to a search with another order_by');
    let query;
    try { query = parseSearchTerm(c.search_term); } catch (err) {
      if (err instanceof SearchTermError) throw invalidParam(err.message);
      throw err;
    }
    const filter = c.filter;
    const limit = Math.min(filter?.limit ?? DEFAULT_LIMIT, MAX_LIMIT);
    const q = await this.indexQuery(viewer.userId, c, token?.group);
    const search: IndexSearch = { ...q, query };

    // spec: count is "an approximation of the total number of results": exact up to
    // RANKED_MATCHES matches; past that, extrapolated from how densely the newest ones lie in
    // the stream between the newest and the oldest match. History visibility is not counted.
    const counted = this.countMatches(search);
    counted.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    // Only the first page of a `rank` search waits for it, to fix the window.
    const window = order === 'rank' && !token ? (await counted).window : token?.window;

    const page: Array<{ s: StoredEvent; rank: number }> = [];
    let cursor = token?.cursor;
    let exhausted = false;
    let scanned = 0;
    const ignored = await this.storage.accountData.ignoredUsers(viewer.userId);
    while (page.length < limit && !exhausted && scanned < MAX_SCANNED) {
      const want = Math.min(limit - page.length + 10, MAX_SCANNED - scanned);
      const hits = await this.storage.search.search(search, order, cursor, want, window);
      scanned += hits.length;
      if (hits.length < want) exhausted = true;
      const loaded = await this.storage.events.getEventsByNid(hits.map((h) => h.nid));
      const candidates = hits.map((h) => loaded.get(h.nid)).filter((s): s is StoredEvent => s !== undefined
        && matchesRoomEventFilter(filter, s.event) && !ignored.has(s.event.sender));
      const visible = await this.visibleNids(viewer.userId, candidates);
      let i = 0;
      for (; i < hits.length && page.length < limit; i++) {
        cursor = hits[i];
        const s = loaded.get(hits[i].nid);
        if (s && visible.has(s.nid)) page.push({ s, rank: order === 'rank' ? hits[i].rank : shareOfMatchingWords(query, searchableText(s.event.type, s.event.content) ?? '') });
      }
      // The page filled before the batch ended: there is more after the cursor.
      if (i < hits.length) exhausted = false;
    }

    const [formatted, { count }] = await Promise.all([this.formatter.format(page.map((p) => p.s), viewer), counted]);
    const texts = page.map((p) => searchableText(p.s.event.type, p.s.event.content)).filter((t): t is string => t !== undefined);
    const out: RoomEventsResults = {
      count,
      highlights: highlightsOf(query, texts),
      results: formatted.map((result, i) => ({ rank: page[i].rank, result })),
    };
    const more = (c: SearchCursor, group?: SearchToken['group']) => encodeToken(this.tokenKey, binding, { order, cursor: c, ...(window !== undefined ? { window } : {}), ...(group ? { group } : {}) });
    if (!exhausted && cursor) out.next_batch = more(cursor, token?.group);

    if (c.event_context) {
      const ctx = c.event_context;
      const before = Math.min(ctx.before_limit ?? DEFAULT_CONTEXT, MAX_CONTEXT);
      const after = Math.min(ctx.after_limit ?? DEFAULT_CONTEXT, MAX_CONTEXT);
      await Promise.all(page.map(async (p, i) => {
        out.results[i].context = await this.context(viewer, p.s, before, after, ctx.include_profile === true);
      }));
    }
    const groupKeys = [...new Set((c.groupings?.group_by ?? []).map((g) => g.key))];
    if (groupKeys.length) out.groups = this.groups(groupKeys, page, exhausted ? undefined : more);
    if (c.include_state) out.state = await this.roomStates(viewer, page.map((p) => p.s.event.room_id), q.rooms);
    return out;
  }

  /** `count`, and the oldest of the newest RANKED_MATCHES matches when there are more (the rank window). */
  private async countMatches(search: IndexSearch): Promise<{ count: number; window?: number }> {
    const newest = await this.storage.search.newestMatches(search, this.rankedMatches);
    if (newest.n < this.rankedMatches) return { count: newest.n };
    const oldest = (await this.storage.search.oldestMatch(search)) ?? newest.oldest;
    const count = Math.max(newest.n, Math.round(newest.n * (newest.newest - oldest + 1) / (newest.newest - newest.oldest + 1)));
    return { count, window: newest.oldest };
  }

  /** The rooms, types and senders to search, from the user's memberships, keys, filter and group. */
  private async indexQuery(userId: string, c: RoomEventsCriteria, group?: { key: GroupKey; value: string }): Promise<Omit<IndexSearch, 'query'>> {
    const f = c.filter;
    let rooms: SearchRoom[] = (await this.storage.search.roomsToSearch(userId)).filter((r) => matchesRoom(f, r.roomId));
    if (group?.key === 'room_id') rooms = rooms.filter((r) => r.roomId === group.value);
    // Each key belongs to one event type; the filter's types and not_types narrow them further.
    const keys = c.keys?.length ? c.keys : (Object.keys(SEARCH_KEYS) as SearchKey[]);
    const types = [...new Set(keys.map((k) => SEARCH_KEYS[k]))].filter((type) => matchesEventFilter({ types: f?.types, not_types: f?.not_types }, { type }));
    // Long sender lists stay out of the SQL (a statement has a bounded number of parameters);
    // matchesRoomEventFilter applies them to each candidate anyway.
    const pushable = (list: string[] | undefined) => (list && list.length <= MAX_PUSHED_SENDERS ? list : undefined);
    let senders = pushable(f?.senders);
    if (group?.key === 'sender') senders = (f?.senders ?? [group.value]).filter((s) => s === group.value);
    const notSenders = pushable(f?.not_senders);
    return { rooms, types, ...(senders ? { senders } : {}), ...(notSenders ? { notSenders } : {}) };
  }

  /** The nids of `events` (any rooms) that the user may see. */
  private async visibleNids(userId: string, events: StoredEvent[]): Promise<Set<number>> {
    const byRoom = new Map<string, StoredEvent[]>();
    for (const s of events) {
      let list = byRoom.get(s.event.room_id);
      if (!list) byRoom.set(s.event.room_id, list = []);
      list.push(s);
    }
    const visible = await Promise.all([...byRoom].map(([roomId, list]) => this.visibility.filter(userId, roomId, list)));
    return new Set(visible.flat().map((s) => s.nid));
  }

  /** spec: event_context: events around the result, and with include_profile the senders' profiles at the last of them. */
  private async context(viewer: Viewer, s: StoredEvent, before: number, after: number, includeProfile: boolean): Promise<SearchContext> {
    const around = await this.timeline.around(viewer, s, before, after);
    const [eventsBefore, eventsAfter] = await Promise.all([this.formatter.format(around.before, viewer), this.formatter.format(around.after, viewer)]);
    const out: SearchContext = { start: around.start, end: around.end, events_before: eventsBefore, events_after: eventsAfter };
    if (includeProfile) {
      const last = around.after.length ? around.after[around.after.length - 1] : s;
      const senders = new Set([...around.before, s, ...around.after].map((e) => e.event.sender));
      out.profile_info = await this.profilesAt(last, senders);
    }
    return out;
  }

  /** spec: profile_info: "historic profile information": the senders' member events in the state at `at`. */
  private async profilesAt(at: StoredEvent, senders: Set<string>): Promise<Record<string, { displayname?: string; avatar_url?: string }>> {
    const out: Record<string, { displayname?: string; avatar_url?: string }> = {};
    if (at.stateGroup === null) return out;
    const state = await this.storage.state.loadGroup(at.stateGroup);
    const nids = [...senders].map((u) => state.get(stateKey('m.room.member', u))).filter((n): n is number => n !== undefined);
    for (const m of (await this.storage.events.getEventsByNid(nids)).values()) {
      if (m.event.state_key === undefined) continue;
      const profile: { displayname?: string; avatar_url?: string } = {};
      if (typeof m.event.content.displayname === 'string') profile.displayname = m.event.content.displayname;
      if (typeof m.event.content.avatar_url === 'string') profile.avatar_url = m.event.content.avatar_url;
      out[m.event.state_key] = profile;
    }
    return out;
  }

  /**
   * spec: groupings: each group's event IDs in this page, its order (first appearance), and a
   * token that goes on within the group from its last result here.
   */
  private groups(keys: GroupKey[], page: Array<{ s: StoredEvent; rank: number }>, more?: (c: SearchCursor, group: SearchToken['group']) => string): NonNullable<RoomEventsResults['groups']> {
    const out: NonNullable<RoomEventsResults['groups']> = {};
    for (const key of keys) {
      const groups: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
      let n = 0;
      for (const p of page) {
        const value = key === 'room_id' ? p.s.event.room_id : p.s.event.sender;
        const g = groups[value] ??= { results: [], order: ++n };
        g.results.push(p.s.event.event_id);
        if (more) g.next_batch = more({ rank: p.rank, nid: p.s.nid }, { key, value });
      }
      out[key] = groups;
    }
    return out;
  }

  /**
   * spec: include_state: the current state of every room in the results; for a room the user has
   * left, the state when they left (they may not see what came after).
   */
  private async roomStates(viewer: Viewer, roomIds: string[], rooms: SearchRoom[]): Promise<Record<string, ClientEvent[]>> {
    const out: Record<string, ClientEvent[]> = {};
    for (const roomId of new Set(roomIds)) {
      const room = rooms.find((r) => r.roomId === roomId);
      let state;
      if (room?.maxNid === undefined) {
        state = await this.storage.events.currentState(roomId);
      } else {
        const left = (await this.storage.events.getEventsByNid([room.maxNid])).get(room.maxNid);
        state = left?.stateGroup == null ? new Map<string, number>() : await this.storage.state.loadGroup(left.stateGroup);
      }
      const loaded = await this.storage.events.getEventsByNid(state.values());
      out[roomId] = await this.formatter.format([...loaded.values()], viewer);
    }
    return out;
  }
}
