// The timeline and state of the rooms in the join and leave sections of a sync, built for all
// rooms together: one timeline read per room, then the state maps, summaries and state events
// of every room in batches.
// spec: client-server-api GET /sync (`state`, `state_after`, `timeline`, `summary`), "Syncing",
// "Lazy-loading room members"
import { matchesRoom, matchesRoomEventFilter, mayExcludeEvents, type RoomEventFilter } from '../../core/filter.js';
import { splitStateKey, stateKey, type StateKey } from '../../core/pdu.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';
import { streamToken } from '../rooms/timeline.js';
import type { Visibility } from '../rooms/visibility.js';
import type { MemberLedger } from './lazy-members.js';
import type { RoomPlan } from './memberships.js';
import { RoomSummaryReader, type SyncRoomSummary } from './summary.js';
import { newestEvents, type TimelineSlice } from './timeline.js';

export interface RoomBuildOptions {
  userId: string;
  limit: number;
  timelineFilter?: RoomEventFilter;
  stateFilter?: RoomEventFilter;
  /** spec v1.16 `use_state_after`: state after the timeline instead of at its start. */
  useStateAfter: boolean;
  ledger: MemberLedger;
  ignored: ReadonlySet<string>;
  /** Whether summaries are wanted (the join section). */
  summaries: boolean;
}

export interface BuiltRoom {
  plan: RoomPlan;
  timeline: TimelineSlice;
  /** The events of `state` (or `state_after`), in stream order. */
  state: StoredEvent[];
  prevBatch: string;
  summary?: SyncRoomSummary;
}

const EMPTY: NidStateMap = new Map();
const MEMBER = 'm.room.member';
const PARALLEL = 8;

export class RoomBuilder {
  private readonly summaryReader: RoomSummaryReader;

  constructor(private readonly storage: Storage, private readonly visibility: Visibility) {
    this.summaryReader = new RoomSummaryReader(storage);
  }

  async build(plans: RoomPlan[], o: RoomBuildOptions): Promise<BuiltRoom[]> {
    if (plans.length === 0) return [];
    // The timelines; the state at the end of each window and the state the client already has
    // (at `previous`); then the state at each timeline's start (before its first event).
    const [slices, ends, previous] = await Promise.all([
      mapLimit(plans, PARALLEL, (p) => matchesRoom(o.timelineFilter, p.roomId)
        ? newestEvents(this.storage, this.visibility, o.userId, o.ignored, { roomId: p.roomId, after: p.after, upTo: p.upTo, limit: o.limit, filter: o.timelineFilter })
        : Promise.resolve({ events: [], limited: false })),
      this.statesAt(plans.map((p) => [p.roomId, p.upTo])),
      this.statesAt(plans.filter((p) => p.previous !== null).map((p) => [p.roomId, p.previous as number])),
    ]);
    const starts = await Promise.all(plans.map((p, i) => slices[i].events.length ? this.stateBefore(slices[i].events[0]) : ends.get(p.roomId) ?? EMPTY));

    const deltas = plans.map((p, i) => p.stateless ? [] : delta(
      p.previous === null ? EMPTY : previous.get(p.roomId) ?? EMPTY, starts[i], ends.get(p.roomId) ?? EMPTY, slices[i], o));

    // Summaries: for rooms new to the client, or whose members changed.
    const summaryRooms = o.summaries ? plans.filter((p, i) => p.previous === null
      || slices[i].events.some((e) => e.event.type === MEMBER) || deltas[i].some(([k]) => isMember(k))) : [];
    const summaries = await this.summaryReader.summaries(o.userId, summaryRooms.map((p) => ({ roomId: p.roomId, state: ends.get(p.roomId) ?? EMPTY })));

    const lazy = o.stateFilter?.lazy_load_members === true;
    const keys = plans.map((p, i) => {
      if (p.stateless || !matchesRoom(o.stateFilter, p.roomId)) return [];
      let chosen = deltas[i].filter(([k]) => matchesRoomEventFilter(o.stateFilter, { type: splitStateKey(k)[0] }));
      if (lazy) chosen = this.lazyMembers(p, chosen, slices[i], o.useStateAfter ? ends.get(p.roomId) ?? EMPTY : starts[i], summaries.get(p.roomId)?.['m.heroes'] ?? [], o);
      return chosen;
    });

    const loaded = await this.storage.events.getEventsByNid(keys.flatMap((ks) => ks.map(([, nid]) => nid)));
    return plans.map((p, i) => {
      const state = keys[i].map(([, nid]) => loaded.get(nid))
        .filter((e): e is StoredEvent => e !== undefined && matchesRoomEventFilter(o.stateFilter, e.event))
        .sort((a, b) => a.nid - b.nid);
      for (const e of [...state, ...slices[i].events]) if (e.event.type === MEMBER && e.event.state_key !== undefined) o.ledger.record(p.roomId, e.event.state_key, e.nid);
      const first = slices[i].events[0];
      return {
        plan: p, timeline: slices[i], state, summary: summaries.get(p.roomId),
        prevBatch: streamToken(first ? first.nid - 1 : p.upTo),
      };
    });
  }

  /**
   * spec: "Lazy-loading room members": of the member events, those of the timeline's senders
   * (and of the user, when the client starts afresh, and of the heroes), unless the client has
   * them already; member changes the client has not seen (in a gap) are always kept.
   */
  private lazyMembers(p: RoomPlan, chosen: Array<[StateKey, number]>, slice: TimelineSlice, at: NidStateMap, heroes: string[], o: RoomBuildOptions): Array<[StateKey, number]> {
    const afresh = p.previous === null;
    const wanted = new Set([...slice.events.map((e) => e.event.sender), ...heroes, ...(afresh ? [o.userId] : [])]);
    const redundant = (u: string, nid: number) => !afresh && !o.stateFilter?.include_redundant_members && o.ledger.has(p.roomId, u, nid);
    // With a previous state, every member change in `chosen` is one the client has not seen.
    const out = chosen.filter(([k]) => !isMember(k) || !afresh || wanted.has(splitStateKey(k)[1]));
    const present = new Set(out.map(([k]) => k));
    const inTimeline = new Set(slice.events.map((e) => e.nid));
    for (const u of wanted) {
      const k = stateKey(MEMBER, u);
      const nid = at.get(k);
      if (nid === undefined || present.has(k) || (!o.useStateAfter && inTimeline.has(nid)) || redundant(u, nid)) continue;
      out.push([k, nid]);
    }
    return out;
  }

  /** The state after the last event of each room at or before a position. */
  private async statesAt(at: Array<[string, number]>): Promise<Map<string, NidStateMap>> {
    const out = new Map<string, NidStateMap>();
    const byPosition = new Map<number, string[]>();
    for (const [roomId, position] of at) byPosition.set(position, [...(byPosition.get(position) ?? []), roomId]);
    const nids = new Map<string, number>();
    for (const [position, rooms] of byPosition) for (const [roomId, nid] of await this.storage.sync.lastEventNids(rooms, position)) nids.set(roomId, nid);
    const events = await this.storage.events.getEventsByNid(nids.values());
    for (const [roomId, nid] of nids) {
      const group = events.get(nid)?.stateGroup;
      if (group !== null && group !== undefined) out.set(roomId, await this.storage.state.loadGroup(group));
    }
    return out;
  }

  /** The state before an event: the state after it, with its own state key as it was before. */
  private async stateBefore(e: StoredEvent): Promise<NidStateMap> {
    if (e.stateGroup === null) return EMPTY;
    const after = await this.storage.state.loadGroup(e.stateGroup);
    if (e.event.state_key === undefined) return after;
    const before = new Map(after);
    const k = stateKey(e.event.type, e.event.state_key);
    const replaced = e.replacesState === null ? undefined : await this.storage.events.getEvent(e.replacesState);
    if (replaced) before.set(k, replaced.nid);
    else before.delete(k);
    return before;
  }
}

/**
 * The state entries to send. `state` (spec: "between since and the start of the timeline"):
 * what differs at the timeline's start from what the client has, plus what changed during the
 * timeline without appearing in it (a filter left it out). `state_after`: everything that
 * differs at the end of the timeline from what the client has.
 */
function delta(previous: NidStateMap, start: NidStateMap, end: NidStateMap, slice: TimelineSlice, o: RoomBuildOptions): Array<[StateKey, number]> {
  const out: Array<[StateKey, number]> = [];
  if (o.useStateAfter) {
    for (const [k, nid] of end) if (previous.get(k) !== nid) out.push([k, nid]);
    return out;
  }
  const inTimeline = new Set(slice.events.map((e) => e.nid));
  for (const [k, nid] of start) if (previous.get(k) !== nid) out.push([k, nid]);
  // Without a filter that can leave events out, every state change after the start is in the timeline.
  if (end !== start && mayExcludeEvents(o.timelineFilter)) {
    for (const [k, nid] of end) if (start.get(k) !== nid && previous.get(k) !== nid && !inTimeline.has(nid)) out.push([k, nid]);
  }
  return out;
}

function isMember(k: StateKey): boolean {
  return k.startsWith(`${MEMBER}\u0000`);
}

/** Runs `fn` over `xs` with at most `n` calls in flight, keeping the order. */
async function mapLimit<T, R>(xs: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, xs.length) }, worker));
  return out;
}
