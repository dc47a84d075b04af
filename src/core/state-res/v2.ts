// State resolution v2 (room versions 2–11) and v2.1 (room version 12).
// spec: rooms/v2 "State resolution"; rooms/v12 "State resolution".
// Events are handled as integer indices of the context's AuthGraph.

import type { RoomEvent, StateKey, StateMap } from '../pdu.js';
import { stateKey } from '../pdu.js';
import { authDifference, conflictedStateSubgraph } from './auth-chains.js';
import {
  type AuthChainSource,
  CREATE_KEY,
  LayeredState,
  POWER_LEVELS_KEY,
  type ResolutionContext,
  compareStrings,
  isPowerEvent,
  keyOf,
} from './context.js';
import { MinHeap } from './heap.js';

export interface SeparatedState {
  unconflicted: StateMap;
  /** Each conflicted key with the distinct event IDs the state sets give it. */
  conflicted: Map<StateKey, Set<string>>;
}

/**
 * spec: rooms/v2 "Unconflicted state map and conflicted state set": a key is
 * unconflicted only if every state set has it with the same event; a key that
 * some state set lacks is conflicted.
 */
export function separateStateSets(stateSets: readonly StateMap[]): SeparatedState {
  const unconflicted: StateMap = new Map();
  const conflicted = new Map<StateKey, Set<string>>();
  const first = stateSets[0];
  const n = stateSets.length;
  const collect = (key: StateKey): Set<string> => {
    const ids = new Set<string>();
    for (const set of stateSets) {
      const id = set.get(key);
      if (id !== undefined) ids.add(id);
    }
    return ids;
  };
  for (const [key, id] of first) {
    let same = true;
    for (let i = 1; i < n && same; i++) same = stateSets[i].get(key) === id;
    if (same) unconflicted.set(key, id);
    else conflicted.set(key, collect(key));
  }
  for (let i = 1; i < n; i++) {
    for (const key of stateSets[i].keys()) {
      if (!first.has(key) && !conflicted.has(key)) conflicted.set(key, collect(key));
    }
  }
  return { unconflicted, conflicted };
}

/**
 * The sender's power level "when looking at their auth_events" (spec: rooms/v2
 * "Reverse topological power ordering"): the power levels and create events among
 * the event's auth events (in v12 the create event is implied by the room ID).
 */
function senderPowerLevel(ctx: ResolutionContext, i: number): number {
  const { graph } = ctx;
  const ev = graph.event(i)!;
  const authState = new Map<StateKey, RoomEvent>();
  const create = graph.createEventFor(i);
  if (create) authState.set(CREATE_KEY, create);
  const pl = graph.powerLevelsAuthEvent(i);
  if (pl >= 0) authState.set(POWER_LEVELS_KEY, graph.event(pl)!);
  const level = ctx.auth.userPowerLevel(ctx.version, ev.sender, authState);
  return Number.isNaN(level) ? 0 : level;
}

/**
 * spec: rooms/v2 "Algorithm", step 1: the power events of the full conflicted set,
 * enlarged by the events of their auth chains that are in the full conflicted set.
 * Like Synapse and Ruma, the auth chain is followed through events of the full
 * conflicted set only (so X is closed under auth edges within the set); a path
 * that left the set and came back could only end at a conflicted event that every
 * auth chain already contains.
 */
export function selectPowerEvents(ctx: ResolutionContext, fullConflictedSet: ReadonlySet<number>): Set<number> {
  const { graph } = ctx;
  const selected = new Set<number>();
  const stack: number[] = [];
  for (const x of fullConflictedSet) {
    if (isPowerEvent(graph.event(x)!)) stack.push(x);
  }
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (selected.has(x)) continue;
    selected.add(x);
    for (const a of graph.authEdges(x)) {
      if (fullConflictedSet.has(a) && !selected.has(a)) stack.push(a);
    }
  }
  return selected;
}

/**
 * spec: rooms/v2 "Reverse topological power ordering": Kahn's algorithm over the
 * auth DAG restricted to `events`, earliest first, taking at each step the
 * candidate whose sender has the greatest power level, then the smallest
 * origin_server_ts, then the smallest event ID.
 */
export function reverseTopologicalPowerOrdering(ctx: ResolutionContext, events: ReadonlySet<number>): number[] {
  const { graph } = ctx;
  const power = new Map<number, number>();
  const ts = new Map<number, number>();
  const remaining = new Map<number, number>();
  const dependents = new Map<number, number[]>();
  for (const x of events) {
    power.set(x, senderPowerLevel(ctx, x));
    ts.set(x, graph.event(x)!.origin_server_ts);
    let outdegree = 0;
    for (const a of graph.authEdges(x)) {
      if (!events.has(a)) continue;
      outdegree++;
      const list = dependents.get(a);
      if (list) list.push(x);
      else dependents.set(a, [x]);
    }
    remaining.set(x, outdegree);
  }
  const heap = new MinHeap((a, b) => {
    const pa = power.get(a)!;
    const pb = power.get(b)!;
    if (pa !== pb) return pa > pb;
    const ta = ts.get(a)!;
    const tb = ts.get(b)!;
    if (ta !== tb) return ta < tb;
    return compareStrings(graph.id(a), graph.id(b)) < 0;
  });
  for (const [x, outdegree] of remaining) if (outdegree === 0) heap.push(x);
  const ordered: number[] = [];
  for (let x = heap.pop(); x !== undefined; x = heap.pop()) {
    ordered.push(x);
    for (const d of dependents.get(x) ?? []) {
      const left = remaining.get(d)! - 1;
      remaining.set(d, left);
      if (left === 0) heap.push(d);
    }
  }
  return ordered;
}

/** The event's auth events by (type, state_key), leaving out rejected ones. */
function usableAuthEvents(ctx: ResolutionContext, i: number): Map<StateKey, RoomEvent> {
  const byKey = new Map<StateKey, RoomEvent>();
  for (const a of ctx.graph.authEdges(i)) {
    const aev = ctx.graph.event(a);
    if (!aev || ctx.isRejected(ctx.graph.id(a))) continue;
    const key = keyOf(aev);
    if (key !== undefined) byKey.set(key, aev);
  }
  return byKey;
}

/**
 * spec: rooms/v2 "Iterative auth checks": apply each event in turn to `state` if
 * the authorization rules allow it against `state`, taking any key the rules need
 * that `state` lacks from the event's own (non-rejected) auth events. In v12 the
 * create event, implied by the room ID, is always supplied.
 */
export function iterativeAuthChecks(ctx: ResolutionContext, events: readonly number[], state: LayeredState): void {
  const { graph, version } = ctx;
  for (const i of events) {
    const ev = graph.event(i);
    const key = ev && keyOf(ev);
    if (!ev || key === undefined) continue;
    const authState = new Map<StateKey, RoomEvent>();
    let fromAuthEvents: Map<StateKey, RoomEvent> | undefined;
    for (const [type, sk] of ctx.auth.authTypesForEvent(version, ev)) {
      const k = stateKey(type, sk);
      const current = state.get(k);
      const cev = current === undefined ? undefined : graph.eventById(current);
      if (cev) {
        authState.set(k, cev);
        continue;
      }
      fromAuthEvents ??= usableAuthEvents(ctx, i);
      const aev = fromAuthEvents.get(k);
      if (aev) authState.set(k, aev);
    }
    const impliedCreate = graph.impliedCreateEventId(ev);
    if (impliedCreate !== undefined && !authState.has(CREATE_KEY)) {
      const create = graph.eventById(impliedCreate);
      if (create) authState.set(CREATE_KEY, create);
    }
    if (ctx.auth.authorizeEvent(version, ev, authState).ok) state.set(key, graph.id(i));
  }
}

/**
 * spec: rooms/v2 "Mainline ordering": sorts `events` by mainline position based on
 * the power levels event `powerLevels` (greatest position first; ∞ when an event's
 * power levels chain never meets the mainline), then origin_server_ts, then event
 * ID. Positions are memoised along every power levels chain walked.
 */
export function mainlineOrdering(ctx: ResolutionContext, events: readonly number[], powerLevels: number | undefined): number[] {
  const { graph } = ctx;
  const mainline = new Map<number, number>();
  for (let p = powerLevels ?? -1, i = 0; p >= 0 && !mainline.has(p); p = graph.powerLevelsAuthEvent(p), i++) {
    mainline.set(p, i);
  }

  // Position reached by walking down from power levels event `p` (p itself included).
  const memo = new Map<number, number>();
  const positionFrom = (start: number): number => {
    const path = new Set<number>();
    let position = Infinity;
    for (let p = start; p >= 0 && !path.has(p); p = graph.powerLevelsAuthEvent(p)) {
      const onMainline = mainline.get(p) ?? memo.get(p);
      if (onMainline !== undefined) {
        position = onMainline;
        break;
      }
      path.add(p);
    }
    for (const p of path) memo.set(p, position);
    return position;
  };

  const keys = new Map<number, { position: number; ts: number; id: string }>();
  for (const e of events) {
    keys.set(e, {
      position: positionFrom(graph.powerLevelsAuthEvent(e)),
      ts: graph.event(e)!.origin_server_ts,
      id: graph.id(e),
    });
  }
  return [...events].sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    if (ka.position !== kb.position) return ka.position > kb.position ? -1 : 1;
    if (ka.ts !== kb.ts) return ka.ts < kb.ts ? -1 : 1;
    return compareStrings(ka.id, kb.id);
  });
}

/**
 * spec: rooms/v2 "Algorithm" (and rooms/v12 for v2.1). Events that `getEvent`
 * cannot supply take no part in the resolution.
 */
export function resolveStateV2(ctx: ResolutionContext, stateSets: readonly StateMap[], authChains?: AuthChainSource): StateMap {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const { graph } = ctx;
  const isV21 = ctx.version.stateRes === 'v2.1';

  const { unconflicted, conflicted } = separateStateSets(stateSets);
  if (conflicted.size === 0) return unconflicted;

  // spec: "Full conflicted set": conflicted state set ∪ auth difference (∪ conflicted state subgraph in v2.1).
  const conflictedEvents: number[] = [];
  for (const ids of conflicted.values()) for (const id of ids) conflictedEvents.push(graph.intern(id));
  const fullConflictedSet = new Set(conflictedEvents);
  for (const x of authDifference(graph, stateSets, unconflicted, conflicted.keys(), authChains)) fullConflictedSet.add(x);
  if (isV21) for (const x of conflictedStateSubgraph(graph, conflictedEvents)) fullConflictedSet.add(x);
  for (const x of fullConflictedSet) {
    const ev = graph.event(x);
    if (!ev || keyOf(ev) === undefined) fullConflictedSet.delete(x);
  }

  // Step 1: power events and their auth chains, in reverse topological power ordering.
  const powerEvents = selectPowerEvents(ctx, fullConflictedSet);
  const sortedPowerEvents = reverseTopologicalPowerOrdering(ctx, powerEvents);

  // Step 2: iterative auth checks from the unconflicted state (v2) or an empty state (v2.1).
  const partial = new LayeredState(isV21 ? new Map() : unconflicted);
  iterativeAuthChecks(ctx, sortedPowerEvents, partial);

  // Step 3: the remaining events in mainline order of the partially resolved power levels.
  const remaining = [...fullConflictedSet].filter((x) => !powerEvents.has(x));
  const resolvedPowerLevels = partial.get(POWER_LEVELS_KEY);
  const sortedRemaining = mainlineOrdering(
    ctx,
    remaining,
    resolvedPowerLevels === undefined ? undefined : graph.intern(resolvedPowerLevels),
  );

  // Step 4: iterative auth checks on top of the partially resolved state.
  iterativeAuthChecks(ctx, sortedRemaining, partial);

  // Step 5: the unconflicted state map wins over anything the steps above wrote.
  // (`unconflicted` is ours, and no longer read as the base of `partial`.)
  const resolved = unconflicted;
  for (const [key, id] of partial.changes) if (!resolved.has(key)) resolved.set(key, id);
  return resolved;
}
