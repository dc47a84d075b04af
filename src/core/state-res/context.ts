// Shared machinery for the state resolution algorithms: the inputs a caller
// supplies, an interned view of the auth DAG, and small helpers named after the
// spec's definitions. Pure: no I/O, no clock.

import type { EventReference, RoomEvent, StateKey, StateMap, Verdict } from '../pdu.js';
import { stateKey } from '../pdu.js';
import type { RoomVersion } from '../room-versions.js';

/** The slice of the authorization rules (src/core/auth.ts) that state resolution uses. */
export interface AuthRules {
  authorizeEvent(version: RoomVersion, event: RoomEvent, authState: ReadonlyMap<StateKey, RoomEvent>): Verdict;
  authTypesForEvent(version: RoomVersion, event: RoomEvent): Array<[string, string]>;
  /** The power level of `userId` given the auth state's create and power levels events. */
  userPowerLevel(version: RoomVersion, userId: string, authState: ReadonlyMap<StateKey, RoomEvent>): number;
}

/**
 * How the caller supplies auth chains (spec: rooms/v2 "Auth chain"). Either
 * - a function giving the auth chain of one event (the events reachable through
 *   `auth_events`, not including the event itself), e.g. backed by an auth chain
 *   index in storage; or
 * - the full auth chain of each state set, precomputed, in the order of the state
 *   sets passed to `resolveState`.
 * In room version 12 the create event is implied by `room_id`; a chain may list it
 * or not, consistently (it is common to every chain, so it never changes the auth
 * difference). When no source is given, chains are walked through `getEvent`,
 * counting the implied create event as an auth event.
 */
export type AuthChainSource =
  | ((eventId: string) => Iterable<string>)
  | ReadonlyArray<ReadonlySet<string>>;

export interface ResolveStateOptions {
  /**
   * Whether an event was rejected. Rejected events are not used from an event's
   * `auth_events` to fill a key missing from the state during iterative auth checks
   * (spec: rooms/v2 "Iterative auth checks", "Rejected events").
   */
  isRejected?: (eventId: string) => boolean;
}

export const CREATE_KEY = stateKey('m.room.create', '');
export const POWER_LEVELS_KEY = stateKey('m.room.power_levels', '');

/** v1–v2 references are `[event_id, hashes]` pairs; v3+ are bare IDs. */
export function referencedEventId(ref: EventReference): string {
  return typeof ref === 'string' ? ref : ref[0];
}

/** A missing event in the interned graph: looked up, not supplied by the caller. */
const MISSING = null;

/**
 * The auth DAG as the algorithms see it: event IDs interned to integer indices,
 * events fetched once, auth edges parsed once. In room versions where the create
 * event is not listed in `auth_events` (v12), it is added as an implied edge.
 */
export class AuthGraph {
  private readonly index = new Map<string, number>();
  private readonly ids: string[] = [];
  private readonly events: Array<RoomEvent | null | undefined> = [];
  private readonly edges: Array<number[] | undefined> = [];
  private readonly powerLevelsEdge: Array<number | undefined> = [];

  constructor(
    readonly version: RoomVersion,
    private readonly lookup: (id: string) => RoomEvent | undefined,
  ) {}

  /** The integer index of an event ID, allocating one if new. */
  intern(id: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      i = this.ids.length;
      this.index.set(id, i);
      this.ids.push(id);
      this.events.push(undefined);
      this.edges.push(undefined);
      this.powerLevelsEdge.push(undefined);
    }
    return i;
  }

  id(i: number): string {
    return this.ids[i];
  }

  /** The event at index `i`, or undefined if the caller cannot supply it. */
  event(i: number): RoomEvent | undefined {
    let ev = this.events[i];
    if (ev === undefined) {
      ev = this.lookup(this.ids[i]) ?? MISSING;
      this.events[i] = ev;
    }
    return ev ?? undefined;
  }

  eventById(id: string): RoomEvent | undefined {
    return this.event(this.intern(id));
  }

  /** Indices of the event's auth events (plus the implied create event in v12). */
  authEdges(i: number): number[] {
    let out = this.edges[i];
    if (out === undefined) {
      out = [];
      const ev = this.event(i);
      if (ev) {
        for (const ref of ev.auth_events) {
          const a = this.intern(referencedEventId(ref));
          if (!out.includes(a)) out.push(a);
        }
        const createId = this.impliedCreateEventId(ev);
        if (createId !== undefined) {
          const c = this.intern(createId);
          if (!out.includes(c)) out.push(c);
        }
      }
      this.edges[i] = out;
    }
    return out;
  }

  /**
   * v12: the create event is implied by `room_id` (`!` + the create event's ID
   * without its `$`); spec: rooms/v12 "Authorisation rules", rule 2.
   */
  impliedCreateEventId(ev: RoomEvent): string | undefined {
    if (this.version.createEventInAuthEvents) return undefined;
    if (ev.type === 'm.room.create' && ev.state_key === '') return undefined;
    if (typeof ev.room_id !== 'string' || !ev.room_id.startsWith('!')) return undefined;
    return `$${ev.room_id.slice(1)}`;
  }

  /** The room's create event as this event sees it: implied (v12) or among its auth events. */
  createEventFor(i: number): RoomEvent | undefined {
    const ev = this.event(i);
    if (!ev) return undefined;
    const implied = this.impliedCreateEventId(ev);
    if (implied !== undefined) return this.eventById(implied);
    for (const a of this.authEdges(i)) {
      const aev = this.event(a);
      if (aev && aev.type === 'm.room.create' && aev.state_key === '') return aev;
    }
    return undefined;
  }

  /** The index of the `m.room.power_levels` event among the event's auth events, or -1. */
  powerLevelsAuthEvent(i: number): number {
    let p = this.powerLevelsEdge[i];
    if (p === undefined) {
      p = -1;
      for (const a of this.authEdges(i)) {
        const aev = this.event(a);
        if (aev && aev.type === 'm.room.power_levels' && aev.state_key === '') {
          p = a;
          break;
        }
      }
      this.powerLevelsEdge[i] = p;
    }
    return p;
  }
}

/** Everything one resolution needs, threaded through the algorithm's steps. */
export interface ResolutionContext {
  readonly version: RoomVersion;
  readonly auth: AuthRules;
  readonly graph: AuthGraph;
  readonly isRejected: (eventId: string) => boolean;
}

export function createContext(
  version: RoomVersion,
  auth: AuthRules,
  getEvent: (id: string) => RoomEvent | undefined,
  options: ResolveStateOptions = {},
): ResolutionContext {
  return {
    version,
    auth,
    graph: new AuthGraph(version, getEvent),
    isRejected: options.isRejected ?? (() => false),
  };
}

/**
 * spec: rooms/v2 "Power events": power levels, join rules, and kicks/bans
 * (a leave or ban whose sender is not its target).
 */
export function isPowerEvent(ev: RoomEvent): boolean {
  if (ev.state_key === undefined) return false;
  if (ev.type === 'm.room.power_levels' || ev.type === 'm.room.join_rules') return ev.state_key === '';
  if (ev.type === 'm.room.member') {
    const membership = ev.content.membership;
    return (membership === 'leave' || membership === 'ban') && ev.sender !== ev.state_key;
  }
  return false;
}

/** The (type, state_key) of a state event, or undefined for a message event. */
export function keyOf(ev: RoomEvent): StateKey | undefined {
  return typeof ev.state_key === 'string' ? stateKey(ev.type, ev.state_key) : undefined;
}

/**
 * A state map under construction: a read-only base with changes layered on top,
 * so that a 10,000-entry unconflicted state is not copied to be extended.
 */
export interface StateLookup {
  get(key: StateKey): string | undefined;
}
export class LayeredState implements StateLookup {
  readonly changes = new Map<StateKey, string>();
  constructor(private readonly base: StateLookup = new Map()) {}
  get(key: StateKey): string | undefined {
    return this.changes.get(key) ?? this.base.get(key);
  }
  set(key: StateKey, eventId: string): void {
    this.changes.set(key, eventId);
  }
}

/**
 * Compares strings by code point, the order the spec's "event_id is less than"
 * uses (and Synapse's and Ruma's, by str and by UTF-8 bytes). JavaScript's `<`
 * compares UTF-16 code units, which differs only between surrogates and U+E000–U+FFFF.
 */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xSurrogate = x >= 0xd800 && x <= 0xdfff;
      const ySurrogate = y >= 0xd800 && y <= 0xdfff;
      if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : 1;
}

export type { StateMap };
