// Benchmark: resolve two forks of a 10,000-member room with 100 conflicting state
// events. Run: node --import tsx bench/core-state-res.ts
//
// The room: create, the creator's join, power levels, public join rules and 10,000
// joins. Then two forks of 50 state events each, all conflicting: a topic, a name, a
// power levels change, 30 display name changes (20 of the same users on both sides),
// and 17 kicks on one side, 17 leaves on the other.
// Prints the median of several runs for room versions 1 (v1), 11 (v2) and 12 (v2.1);
// for v2 and v2.1 walking the auth chains and with a precomputed per-event lookup.

import { performance } from 'node:perf_hooks';
import type { JsonObject, RoomEvent, StateMap } from '../src/core/pdu.js';
import { stateKey } from '../src/core/pdu.js';
import { getRoomVersion } from '../src/core/room-versions.js';
import { type AuthChainSource, resolveState } from '../src/core/state-res/index.js';
import { type EventSpec, RoomBuilder } from '../test/core/state-res/room-builder.js';

const MEMBERS = 10_000;
const RUNS = 15;
const ALICE = '@alice:example.com';
const BOB = '@bob:example.com';
const user = (i: number): string => `@user${i}:example.com`;

interface Room {
  events: Map<string, RoomEvent>;
  forkA: StateMap;
  forkB: StateMap;
}

function buildRoom(versionId: string): Room {
  const version = getRoomVersion(versionId)!;
  const room = new RoomBuilder(version, ALICE);
  let head: string[] = [];
  let depth = 0;
  /** Appends one event to the chain, updating `state` in place. */
  const append = (spec: EventSpec, state: StateMap): void => {
    const ev = room.add(spec, head, state, ++depth);
    head = [ev.event_id];
    if (typeof ev.state_key === 'string') state.set(stateKey(ev.type, ev.state_key), ev.event_id);
  };
  const member = (name: string, sender: string, target: string, content: JsonObject): EventSpec => ({
    name, sender, type: 'm.room.member', state_key: target, content,
  });

  const base: StateMap = new Map();
  append({ name: 'CREATE', sender: ALICE, type: 'm.room.create', state_key: '', content: {} }, base);
  append(member('MA', ALICE, ALICE, { membership: 'join' }), base);
  append({ name: 'PL', sender: ALICE, type: 'm.room.power_levels', state_key: '', content: { users: { [ALICE]: 100, [BOB]: 50 } } }, base);
  append({ name: 'JR', sender: ALICE, type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } }, base);
  append(member('MB', BOB, BOB, { membership: 'join' }), base);
  for (let i = 0; i < MEMBERS; i++) append(member(`M${i}`, user(i), user(i), { membership: 'join' }), base);

  // Each side: topic, name, power levels and 47 membership changes, 50 state events on 50 keys.
  const forkHead = head;
  const forkDepth = depth;
  const fork = (side: 'A' | 'B'): StateMap => {
    const s = new Map(base);
    head = forkHead;
    depth = forkDepth;
    const admin = side === 'A' ? ALICE : BOB;
    append({ name: `${side}T`, sender: admin, type: 'm.room.topic', state_key: '', content: { topic: side } }, s);
    append({ name: `${side}N`, sender: admin, type: 'm.room.name', state_key: '', content: { name: side } }, s);
    const first = side === 'A' ? 1 : 11;
    for (let i = first; i < first + 30; i++) {
      append(member(`${side}D${i}`, user(i), user(i), { membership: 'join', displayname: `${side}${i}` }), s);
    }
    for (let i = 0; i < 17; i++) {
      if (side === 'A') append(member(`AK${i}`, ALICE, user(100 + i), { membership: 'leave' }), s);
      else append(member(`BL${i}`, user(200 + i), user(200 + i), { membership: 'leave' }), s);
    }
    const promoted = side === 'A' ? user(1) : user(2);
    append({ name: `${side}PL`, sender: ALICE, type: 'm.room.power_levels', state_key: '', content: { users: { [ALICE]: 100, [BOB]: 50, [promoted]: 50 } } }, s);
    return s;
  };
  const forkA = fork('A');
  const forkB = fork('B');
  return { events: room.events, forkA, forkB };
}

function perEventAuthChains(events: Map<string, RoomEvent>): AuthChainSource {
  const memo = new Map<string, Set<string>>();
  const chain = (id: string): Set<string> => {
    let c = memo.get(id);
    if (!c) {
      c = new Set();
      for (const ref of events.get(id)?.auth_events ?? []) {
        const a = typeof ref === 'string' ? ref : ref[0];
        c.add(a);
        for (const x of chain(a)) c.add(x);
      }
      memo.set(id, c);
    }
    return c;
  };
  return chain;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

for (const versionId of ['1', '11', '12']) {
  const version = getRoomVersion(versionId)!;
  const { events, forkA, forkB } = buildRoom(versionId);
  let conflicting = 0; // conflicted keys
  for (const [k, v] of forkA) if (forkB.get(k) !== v) conflicting++;
  for (const k of forkB.keys()) if (!forkA.has(k)) conflicting++;

  const chains = perEventAuthChains(events);
  for (const id of events.keys()) (chains as (id: string) => Set<string>)(id); // precomputed, as storage would hold them

  const sources = version.stateRes === 'v1'
    ? [['no auth chains (v1)', undefined] as const]
    : [['walked auth chains', undefined] as const, ['per-event auth chain lookup', chains] as const];
  for (const [label, source] of sources) {
    const times: number[] = [];
    let resolved: StateMap = new Map();
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      resolved = resolveState(version, [forkA, forkB], (id) => events.get(id), source);
      times.push(performance.now() - t0);
    }
    console.log(
      `room version ${versionId} (${version.stateRes}), ${events.size} events, ${forkA.size}/${forkB.size} state entries, ` +
      `${conflicting} conflicted keys, ${label}: median ${median(times).toFixed(1)} ms ` +
      `(min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}, ${RUNS} runs); resolved ${resolved.size} entries`,
    );
  }
}
