// Reading and evaluating the state resolution fixtures in test/fixtures/state-res/
// (format described in that folder's README.md).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PDU, RoomEvent, StateMap } from '../../../src/core/pdu.js';
import { splitStateKey, stateKey } from '../../../src/core/pdu.js';

export const FIXTURE_DIR = new URL('../../fixtures/state-res/', import.meta.url).pathname;

/** A state map as JSON: type → state_key → event ID. */
export type StateJson = Record<string, Record<string, string>>;

export interface FixtureTest {
  name: string;
  /** Resolve these state sets ... */
  state_sets?: StateJson[];
  /** ... or compute the state before this event from the DAG of `events`. */
  state_before?: string;
  expected: StateJson;
}

export interface Fixture {
  description: string;
  source?: string;
  room_version: string;
  events: PDU[];
  /** Events rejected on receipt (optional). */
  rejected?: string[];
  tests: FixtureTest[];
}

export function listFixtures(): string[] {
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function readFixture(file: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')) as Fixture;
}

export function stateFromJson(json: StateJson): StateMap {
  const map: StateMap = new Map();
  for (const [type, byKey] of Object.entries(json)) {
    for (const [key, id] of Object.entries(byKey)) map.set(stateKey(type, key), id);
  }
  return map;
}

export function stateToJson(map: ReadonlyMap<string, string>): StateJson {
  const json: StateJson = {};
  for (const k of [...map.keys()].sort()) {
    const [type, key] = splitStateKey(k);
    (json[type] ??= {})[key] = map.get(k)!;
  }
  return json;
}

/**
 * The fixture's events as RoomEvents. In room version 12 the create event carries
 * no room_id on the wire; it is the create event's ID with `!` for `$`.
 */
export function fixtureEvents(fixture: Fixture): Map<string, RoomEvent> {
  const events = new Map<string, RoomEvent>();
  for (const pdu of fixture.events) {
    const id = pdu.event_id!;
    const room_id = pdu.room_id ?? `!${id.slice(1)}`;
    events.set(id, { ...pdu, event_id: id, room_id });
  }
  return events;
}

export type Resolver = (stateSets: StateMap[]) => StateMap;

/**
 * spec: rooms/v2 "State resolution": the state before E is the resolution of the
 * states after its prev_events; the state after a state event E adds E (unless E
 * was rejected). Memoised over the DAG.
 */
export function stateBefore(
  eventId: string,
  events: ReadonlyMap<string, RoomEvent>,
  rejected: ReadonlySet<string>,
  resolve: Resolver,
): StateMap {
  const after = new Map<string, StateMap>();
  const prevIds = (ev: RoomEvent): string[] => ev.prev_events.map((r) => (typeof r === 'string' ? r : r[0]));
  const before = (id: string): StateMap => {
    const ev = events.get(id);
    if (!ev) throw new Error(`fixture lacks event ${id}`);
    const prevs = prevIds(ev);
    if (prevs.length === 0) return new Map();
    if (prevs.length === 1) return new Map(stateAfter(prevs[0]));
    return resolve(prevs.map(stateAfter));
  };
  const stateAfter = (id: string): StateMap => {
    let s = after.get(id);
    if (!s) {
      s = before(id);
      const ev = events.get(id)!;
      if (typeof ev.state_key === 'string' && !rejected.has(id)) s.set(stateKey(ev.type, ev.state_key), id);
      after.set(id, s);
    }
    return s;
  };
  return before(eventId);
}
