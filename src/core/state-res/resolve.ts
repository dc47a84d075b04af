// Dispatch to the room version's state resolution algorithm, with the
// authorization rules passed in (index.ts supplies the real ones from auth.ts).

import type { RoomEvent, StateMap } from '../pdu.js';
import type { RoomVersion } from '../room-versions.js';
import { type AuthChainSource, type AuthRules, type ResolveStateOptions, createContext } from './context.js';
import { resolveStateV1 } from './v1.js';
import { resolveStateV2 } from './v2.js';

export function resolveStateWith(
  auth: AuthRules,
  version: RoomVersion,
  stateSets: readonly StateMap[],
  getEvent: (id: string) => RoomEvent | undefined,
  authChains?: AuthChainSource,
  options?: ResolveStateOptions,
): StateMap {
  const ctx = createContext(version, auth, getEvent, options);
  switch (version.stateRes) {
    case 'v1':
      return resolveStateV1(ctx, stateSets);
    case 'v2':
    case 'v2.1':
      return resolveStateV2(ctx, stateSets, authChains);
  }
}
