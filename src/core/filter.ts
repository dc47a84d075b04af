// Filters: parsing and validating the spec's filter objects, and matching events against them.
// One definition for /sync, /messages and /context, so that a filter means the same everywhere.
// spec: client-server-api "Filtering"; definitions sync_filter.yaml, room_event_filter.yaml,
// event_filter.yaml; appendices "Dot-separated property paths"
import type { JsonObject, JsonValue, Rejection } from './pdu.js';
import { reject } from './pdu.js';

/** spec: EventFilter */
export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

/** spec: RoomEventFilter */
export interface RoomEventFilter extends EventFilter {
  rooms?: string[];
  not_rooms?: string[];
  contains_url?: boolean;
  lazy_load_members?: boolean;
  include_redundant_members?: boolean;
  unread_thread_notifications?: boolean;
}

/** spec: RoomFilter */
export interface RoomFilter {
  rooms?: string[];
  not_rooms?: string[];
  include_leave?: boolean;
  ephemeral?: RoomEventFilter;
  state?: RoomEventFilter;
  timeline?: RoomEventFilter;
  account_data?: RoomEventFilter;
}

/** spec: Filter (the body of POST /user/{userId}/filter) */
export interface Filter {
  event_fields?: string[];
  event_format?: 'client' | 'federation';
  presence?: EventFilter;
  account_data?: EventFilter;
  room?: RoomFilter;
}

/** What a filter looks at: an event's type and sender, and for room events its room and content. */
export interface Filterable {
  type: string;
  sender?: string;
  room_id?: string;
  content?: JsonObject;
}

// ---- parsing ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Invalid extends Error {}

function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function stringList(o: Obj, key: string, path: string, prefix?: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Invalid(`\`${at(path, key)}\` must be an array of strings`);
  if (prefix !== undefined && !v.every((s: string) => s.startsWith(prefix))) throw new Invalid(`Every entry of \`${at(path, key)}\` must start with "${prefix}"`);
  return v as string[];
}

function bool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new Invalid(`\`${at(path, key)}\` must be a boolean`);
  return v;
}

function object(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new Invalid(`\`${path}\` must be an object`);
  return v;
}

function eventFilter(v: unknown, path: string): EventFilter {
  const o = object(v, path);
  const out: EventFilter = {};
  if (o.limit !== undefined) {
    // spec: "must be an integer greater than 0"
    if (typeof o.limit !== 'number' || !Number.isSafeInteger(o.limit) || o.limit < 1) throw new Invalid(`\`${at(path, 'limit')}\` must be an integer greater than 0`);
    out.limit = o.limit;
  }
  const types = stringList(o, 'types', path);
  const notTypes = stringList(o, 'not_types', path);
  const senders = stringList(o, 'senders', path, '@');
  const notSenders = stringList(o, 'not_senders', path, '@');
  if (types) out.types = types;
  if (notTypes) out.not_types = notTypes;
  if (senders) out.senders = senders;
  if (notSenders) out.not_senders = notSenders;
  return out;
}

function roomEventFilter(v: unknown, path: string): RoomEventFilter {
  const o = object(v, path);
  const out: RoomEventFilter = eventFilter(o, path);
  const rooms = stringList(o, 'rooms', path, '!');
  const notRooms = stringList(o, 'not_rooms', path, '!');
  if (rooms) out.rooms = rooms;
  if (notRooms) out.not_rooms = notRooms;
  for (const key of ['contains_url', 'lazy_load_members', 'include_redundant_members', 'unread_thread_notifications'] as const) {
    const b = bool(o, key, path);
    if (b !== undefined) out[key] = b;
  }
  return out;
}

function roomFilter(v: unknown, path: string): RoomFilter {
  const o = object(v, path);
  const out: RoomFilter = {};
  const rooms = stringList(o, 'rooms', path, '!');
  const notRooms = stringList(o, 'not_rooms', path, '!');
  if (rooms) out.rooms = rooms;
  if (notRooms) out.not_rooms = notRooms;
  const includeLeave = bool(o, 'include_leave', path);
  if (includeLeave !== undefined) out.include_leave = includeLeave;
  for (const key of ['ephemeral', 'state', 'timeline', 'account_data'] as const) {
    if (o[key] !== undefined) out[key] = roomEventFilter(o[key], at(path, key));
  }
  return out;
}

export type Parsed<T> = { ok: true; value: T } | Rejection;

function wrap<T>(parse: () => T): Parsed<T> {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof Invalid) return reject('invalid_filter', err.message);
    throw err;
  }
}

/** Validates a Filter against the spec's schema; unknown keys are allowed and ignored. */
export function parseFilter(json: unknown): Parsed<Filter> {
  return wrap(() => {
    if (!isObj(json)) throw new Invalid('A filter must be a JSON object');
    const out: Filter = {};
    const fields = stringList(json, 'event_fields', '');
    if (fields) out.event_fields = fields;
    if (json.event_format !== undefined) {
      if (json.event_format !== 'client' && json.event_format !== 'federation') throw new Invalid('`event_format` must be "client" or "federation"');
      out.event_format = json.event_format;
    }
    if (json.presence !== undefined) out.presence = eventFilter(json.presence, 'presence');
    if (json.account_data !== undefined) out.account_data = eventFilter(json.account_data, 'account_data');
    if (json.room !== undefined) out.room = roomFilter(json.room, 'room');
    return out;
  });
}

/** Validates a RoomEventFilter (the `filter` of /messages and /context). */
export function parseRoomEventFilter(json: unknown): Parsed<RoomEventFilter> {
  return wrap(() => {
    if (!isObj(json)) throw new Invalid('A filter must be a JSON object');
    return roomEventFilter(json, '');
  });
}

// ---- matching ----

/** A `types` list compiled once: exact names in a set, `*` patterns as expressions. */
interface TypeSet { exact: Set<string>; patterns: RegExp[] }

const compiledTypes = new WeakMap<string[], TypeSet>();

function typeSet(list: string[]): TypeSet {
  let c = compiledTypes.get(list);
  if (!c) {
    c = { exact: new Set(), patterns: [] };
    for (const t of list) {
      if (t.includes('*')) c.patterns.push(new RegExp(`^${t.split('*').map(escapeRegExp).join('.*')}$`, 's'));
      else c.exact.add(t);
    }
    compiledTypes.set(list, c);
  }
  return c;
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function inTypes(list: string[], type: string): boolean {
  const c = typeSet(list);
  return c.exact.has(type) || c.patterns.some((p) => p.test(type));
}

/** spec: a `*` in `types` / `not_types` matches any sequence of characters. */
export function matchesType(pattern: string, type: string): boolean {
  return inTypes([pattern], type);
}

/**
 * spec: EventFilter. An event without a sender (typing, receipts) matches `not_senders` but
 * never `senders`: a sender list names whose events to keep.
 */
export function matchesEventFilter(f: EventFilter | undefined, e: Filterable): boolean {
  if (!f) return true;
  if (f.not_types && inTypes(f.not_types, e.type)) return false;
  if (f.types && !inTypes(f.types, e.type)) return false;
  if (f.not_senders && e.sender !== undefined && f.not_senders.includes(e.sender)) return false;
  if (f.senders && (e.sender === undefined || !f.senders.includes(e.sender))) return false;
  return true;
}

/** spec: RoomFilter / RoomEventFilter `rooms` and `not_rooms`: not_rooms wins. */
export function matchesRoom(f: { rooms?: string[]; not_rooms?: string[] } | undefined, roomId: string): boolean {
  if (!f) return true;
  if (f.not_rooms?.includes(roomId)) return false;
  if (f.rooms && !f.rooms.includes(roomId)) return false;
  return true;
}

/** spec: RoomEventFilter: the EventFilter fields, the room lists and `contains_url`. */
export function matchesRoomEventFilter(f: RoomEventFilter | undefined, e: Filterable): boolean {
  if (!f) return true;
  if (!matchesEventFilter(f, e)) return false;
  if (e.room_id !== undefined && !matchesRoom(f, e.room_id)) return false;
  if (f.contains_url !== undefined && f.contains_url !== hasUrl(e.content)) return false;
  return true;
}

function hasUrl(content: JsonObject | undefined): boolean {
  return content !== undefined && Object.hasOwn(content, 'url');
}

/**
 * The parts of a RoomEventFilter that a database can apply exactly, as lists of exact values:
 * `types` only when none is a pattern, the exact entries of `not_types`, and the sender lists.
 * Whatever is pushed down is still checked by matchesRoomEventFilter; this only saves reading
 * rows that would be thrown away.
 */
export function sqlPushdown(f: RoomEventFilter | undefined): { types?: string[]; notTypes?: string[]; senders?: string[]; notSenders?: string[] } {
  if (!f) return {};
  const exactNotTypes = f.not_types?.filter((t) => !t.includes('*'));
  return {
    types: f.types && !f.types.some((t) => t.includes('*')) ? f.types : undefined,
    notTypes: exactNotTypes?.length ? exactNotTypes : undefined,
    senders: f.senders,
    notSenders: f.not_senders,
  };
}

/** Whether a filter can leave out events of some type or sender (so a state event may be missing). */
export function mayExcludeEvents(f: RoomEventFilter | undefined): boolean {
  return f !== undefined && (f.types !== undefined || f.not_types !== undefined || f.senders !== undefined
    || f.not_senders !== undefined || f.contains_url !== undefined || f.rooms !== undefined || f.not_rooms !== undefined);
}

// ---- event_fields ----

/** spec: appendices "Dot-separated property paths": `\.` is a literal dot, `\\` a backslash. */
export function parseFieldPath(path: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '\\' && (path[i + 1] === '.' || path[i + 1] === '\\')) {
      current += path[++i];
    } else if (c === '.') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * spec: Filter `event_fields`: only the listed paths are kept (a path naming an object keeps
 * all of it). Paths that name nothing are skipped.
 */
export function applyEventFields<T extends object>(event: T, fields: readonly string[]): Partial<T> {
  const out: Obj = {};
  // Objects built here; any other object in `out` is the event's own, kept whole, and is never written into.
  const built = new Set<Obj>([out]);
  for (const field of fields) {
    const path = parseFieldPath(field);
    let src: unknown = event;
    for (const key of path) {
      src = isObj(src) && Object.hasOwn(src, key) ? src[key] : undefined;
      if (src === undefined) break;
    }
    if (src === undefined) continue;
    let dst: Obj | undefined = out;
    for (const key of path.slice(0, -1)) {
      if (dst[key] === undefined) {
        const child: Obj = {};
        built.add(child);
        dst[key] = child;
      }
      const next: unknown = dst[key];
      dst = isObj(next) && built.has(next) ? next : undefined;
      if (!dst) break; // a shorter path already kept this whole object
    }
    if (dst) dst[path[path.length - 1]] = src as JsonValue;
  }
  return out as Partial<T>;
}
