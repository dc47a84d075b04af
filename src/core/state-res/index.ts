// State resolution: v1 (room version 1), v2 (room versions 2–11) and v2.1 (room
// version 12), chosen by the room version's `stateRes` flag.
// spec: rooms/v1, rooms/v2, rooms/v12 "State resolution". Pure: no I/O, no clock.

import { authTypesForEvent, authorizeEvent, userPowerLevel } from '../auth.js';
import type { RoomEvent, StateMap } from '../pdu.js';
import type { RoomVersion } from '../room-versions.js';
import type { AuthChainSource, AuthRules, ResolveStateOptions } from './context.js';
import { resolveStateWith } from './resolve.js';

export type { AuthChainSource, AuthRules, ResolveStateOptions } from './context.js';

/** The authorization rules of src/core/auth.ts, as state resolution uses them. */
export const AUTH_RULES: AuthRules = { authorizeEvent, authTypesForEvent, userPowerLevel };

/**
 * Resolves a set of room states into one.
 *
 * - `stateSets`: the states to resolve (e.g. the states after each prev event).
 * - `getEvent`: supplies the events of the state sets and of their auth chains
 *   (rejected ones included). Events it cannot supply take no part.
 * - `authChains`: optional precomputed auth chains (per event, or per state set);
 *   without them they are walked through `getEvent`, which then must supply the
 *   auth chains of every state event. With them, the unconflicted events' auth
 *   chains are not walked (`getEvent` still supplies the conflicted events, what
 *   lies behind them, and the events the auth checks read). v1 does not use them.
 * - `options.isRejected`: which events were rejected, so that they are not used
 *   as auth events during the iterative auth checks.
 *
 * Returns a new map; the inputs are not modified.
 */
export function resolveState(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  getEvent: (id: string) => RoomEvent | undefined,
  authChains?: AuthChainSource,
  options?: ResolveStateOptions,
): StateMap {
  return resolveStateWith(AUTH_RULES, version, stateSets, getEvent, authChains, options);
}
