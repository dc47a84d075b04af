// State resolution v1 (room version 1). spec: rooms/v1 "State resolution".
// Known to reset state in some cases; kept for room version 1 only.

import { createHash } from 'node:crypto';
import type { RoomEvent, StateKey, StateMap } from '../pdu.js';
import { stateKey, splitStateKey } from '../pdu.js';
import { LayeredState, POWER_LEVELS_KEY, type ResolutionContext, keyOf } from './context.js';

export interface SeparatedStateV1 {
  unconflicted: StateMap;
  /** Each conflicted key with the distinct event IDs the state sets give it. */
  conflicted: Map<StateKey, Set<string>>;
}

/**
 * spec: rooms/v1: "A conflict occurs between states where those states have
 * different event_ids for the same (event_type, state_key)". A key that only some
 * state sets have is not a conflict and joins the union.
 */
export function separateStateSetsV1(stateSets: readonly StateMap[]): SeparatedStateV1 {
  const unconflicted: StateMap = new Map();
  const conflicted = new Map<StateKey, Set<string>>();
  for (const set of stateSets) {
    for (const [key, id] of set) {
      const ids = conflicted.get(key);
      if (ids) {
        ids.add(id);
        continue;
      }
      const current = unconflicted.get(key);
      if (current !== undefined && current !== id) {
        unconflicted.delete(key);
        conflicted.set(key, new Set([current, id]));
      } else {
        unconflicted.set(key, id);
      }
    }
  }
  return { unconflicted, conflicted };
}

/** Sort keys for the v1 orderings: depth and sha1(event_id) as lowercase hex. */
interface V1Order {
  event: RoomEvent;
  id: string;
  depth: number;
  sha1: string;
}

function v1Order(id: string, event: RoomEvent): V1Order {
  return {
    event,
    id,
    depth: typeof event.depth === 'number' ? event.depth : 0,
    sha1: createHash('sha1').update(id, 'utf8').digest('hex'),
  };
}

/** The auth state for `event` in state R: R at each key the authorization rules need. */
function authStateIn(ctx: ResolutionContext, event: RoomEvent, state: LayeredState): Map<StateKey, RoomEvent> {
  const authState = new Map<StateKey, RoomEvent>();
  for (const [type, sk] of ctx.auth.authTypesForEvent(ctx.version, event)) {
    const key = stateKey(type, sk);
    const id = state.get(key);
    const ev = id === undefined ? undefined : ctx.graph.eventById(id);
    if (ev) authState.set(key, ev);
  }
  return authState;
}

function allowedIn(ctx: ResolutionContext, event: RoomEvent, state: LayeredState): boolean {
  return ctx.auth.authorizeEvent(ctx.version, event, authStateIn(ctx, event, state)).ok;
}

/**
 * spec: rooms/v1, the power levels / join rules / member passes: sort by ascending
 * depth then descending sha1(event_id); take the first; take each next one while
 * it is allowed in R updated with the one before it; stop at the first refusal.
 */
function resolveAuthConflict(ctx: ResolutionContext, candidates: V1Order[], state: LayeredState): string {
  const sorted = [...candidates].sort((a, b) =>
    a.depth !== b.depth ? a.depth - b.depth : a.sha1 > b.sha1 ? -1 : a.sha1 < b.sha1 ? 1 : 0,
  );
  const key = keyOf(sorted[0].event)!;
  const trial = new LayeredState(state);
  let accepted = sorted[0].id;
  for (const next of sorted.slice(1)) {
    trial.set(key, accepted);
    if (!allowedIn(ctx, next.event, trial)) break;
    accepted = next.id;
  }
  return accepted;
}

/**
 * spec: rooms/v1, other conflicts: the event with the highest depth and lowest
 * sha1(event_id) that is allowed in R. The spec does not say what happens when none
 * is; like Synapse, the last in that order (the lowest depth) is taken.
 */
function resolveOtherConflict(ctx: ResolutionContext, candidates: V1Order[], state: LayeredState): string {
  const sorted = [...candidates].sort((a, b) =>
    a.depth !== b.depth ? b.depth - a.depth : a.sha1 < b.sha1 ? -1 : a.sha1 > b.sha1 ? 1 : 0,
  );
  for (const candidate of sorted) {
    if (allowedIn(ctx, candidate.event, state)) return candidate.id;
  }
  return sorted[sorted.length - 1].id;
}

/**
 * spec: rooms/v1 "State resolution". R starts as the union of the state sets
 * without the conflicting events; then power levels, join rules and member
 * conflicts are resolved in that order, each pass against R as the previous
 * passes left it, and finally all other conflicts. Within a pass each key is
 * resolved against the same R, so the result does not depend on key order.
 * Events that the caller cannot supply take no part.
 */
export function resolveStateV1(ctx: ResolutionContext, stateSets: readonly StateMap[]): StateMap {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const { unconflicted, conflicted } = separateStateSetsV1(stateSets);
  if (conflicted.size === 0) return unconflicted;

  const state = new LayeredState(unconflicted);
  const conflicts = new Map<StateKey, V1Order[]>();
  for (const [key, ids] of conflicted) {
    const candidates: V1Order[] = [];
    for (const id of ids) {
      const ev = ctx.graph.eventById(id);
      if (ev) candidates.push(v1Order(id, ev));
    }
    if (candidates.length === 1) state.set(key, candidates[0].id);
    else if (candidates.length > 1) conflicts.set(key, candidates);
  }

  const pass = (
    keys: StateKey[],
    resolve: (ctx: ResolutionContext, candidates: V1Order[], state: LayeredState) => string,
  ): void => {
    const winners = keys.map((key) => [key, resolve(ctx, conflicts.get(key)!, state)] as const);
    for (const [key, id] of winners) {
      state.set(key, id);
      conflicts.delete(key);
    }
  };
  const keysOfType = (type: string): StateKey[] => [...conflicts.keys()].filter((k) => splitStateKey(k)[0] === type);

  pass(conflicts.has(POWER_LEVELS_KEY) ? [POWER_LEVELS_KEY] : [], resolveAuthConflict);
  pass(keysOfType('m.room.join_rules'), resolveAuthConflict);
  pass(keysOfType('m.room.member'), resolveAuthConflict);
  pass([...conflicts.keys()], resolveOtherConflict);

  const resolved: StateMap = new Map(unconflicted);
  for (const [key, id] of state.changes) resolved.set(key, id);
  return resolved;
}
