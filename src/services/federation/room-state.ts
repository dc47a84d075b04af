// Room state as federation needs it: auth chains, the auth state of an event within a state
// snapshot, and state resolution over stored snapshots (core/state-res works on event IDs and
// a synchronous event source, so the events it may read are loaded first).
// spec: server-server-api "Room State Resolution", rooms/v2 "Auth chain"
import { authTypesForEvent } from '../../core/auth.js';
import { referencedEventId } from '../../core/events.js';
import { stateKey, type RoomEvent, type StateKey, type StateMap } from '../../core/pdu.js';
import type { RoomVersion } from '../../core/room-versions.js';
import { resolveState } from '../../core/state-res/index.js';
import type { EventStore, StoredEvent } from '../../storage/events.js';
import type { NidStateMap } from '../../storage/state.js';

const CREATE = stateKey('m.room.create', '');

/** The events reachable from `eventIds` through auth_events (not the starting events themselves), as stored. */
export async function loadAuthChain(events: EventStore, eventIds: Iterable<string>): Promise<Map<string, StoredEvent>> {
  const out = new Map<string, StoredEvent>();
  const start = await events.getEvents(eventIds);
  let frontier = new Set<string>();
  for (const s of start.values()) for (const ref of s.event.auth_events) frontier.add(referencedEventId(ref));
  while (frontier.size > 0) {
    const loaded = await events.getEvents([...frontier].filter((id) => !out.has(id)));
    frontier = new Set();
    for (const [id, s] of loaded) {
      out.set(id, s);
      for (const ref of s.event.auth_events) {
        const next = referencedEventId(ref);
        if (!out.has(next)) frontier.add(next);
      }
    }
  }
  return out;
}

/** The state events an event's authorisation reads, from a stored snapshot. */
export async function authStateFrom(events: EventStore, version: RoomVersion, state: NidStateMap, event: RoomEvent): Promise<Map<StateKey, RoomEvent>> {
  const keys = [...authTypesForEvent(version, event).map(([t, k]) => stateKey(t, k)), CREATE];
  const wanted = new Map<number, StateKey>();
  for (const k of keys) {
    const nid = state.get(k);
    if (nid !== undefined) wanted.set(nid, k);
  }
  const loaded = await events.getEventsByNid(wanted.keys());
  const out = new Map<StateKey, RoomEvent>();
  for (const [nid, k] of wanted) {
    const e = loaded.get(nid);
    if (e) out.set(k, e.event);
  }
  return out;
}

/**
 * Resolves stored snapshots into one (spec: the room version's state resolution). Every event
 * the algorithm may read — the snapshots' events and their auth chains — is loaded first.
 * Events not stored (or rejected) take no part.
 */
export async function resolveStoredStates(events: EventStore, version: RoomVersion, states: readonly NidStateMap[]): Promise<NidStateMap> {
  if (states.length === 1) return states[0]!;
  const allNids = new Set<number>();
  for (const s of states) for (const nid of s.values()) allNids.add(nid);
  const byNid = await events.getEventsByNid(allNids);
  const idOf = (nid: number) => byNid.get(nid)?.event.event_id;
  const idStates: StateMap[] = states.map((s) => {
    const m: StateMap = new Map();
    for (const [k, nid] of s) {
      const id = idOf(nid);
      if (id !== undefined) m.set(k, id);
    }
    return m;
  });
  const stored = new Map<string, StoredEvent>();
  for (const s of byNid.values()) stored.set(s.event.event_id, s);
  for (const [id, s] of await loadAuthChain(events, stored.keys())) stored.set(id, s);
  const resolved = resolveState(version, idStates, (id) => stored.get(id)?.event, undefined, {
    isRejected: (id) => stored.get(id)?.rejectedReason != null,
  });
  const out: NidStateMap = new Map();
  for (const [k, id] of resolved) {
    const s = stored.get(id);
    if (s) out.set(k, s.nid);
  }
  return out;
}
