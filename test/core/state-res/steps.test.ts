// The steps of state resolution one by one, on small hand-made auth DAGs, and the
// edge cases of resolveState's inputs.
import { describe, expect, it } from 'vitest';
import type { JsonObject, RoomEvent, StateMap } from '../../../src/core/pdu.js';
import { stateKey } from '../../../src/core/pdu.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import { authDifference, conflictedStateSubgraph } from '../../../src/core/state-res/auth-chains.js';
import { createContext } from '../../../src/core/state-res/context.js';
import { AUTH_RULES, resolveState } from '../../../src/core/state-res/index.js';
import { mainlineOrdering, reverseTopologicalPowerOrdering, selectPowerEvents } from '../../../src/core/state-res/v2.js';
import { fixtureEvents, readFixture, stateFromJson } from './fixture-format.js';
import { RoomBuilder, stateAfter } from './room-builder.js';

const V11 = getRoomVersion('11')!;
const ALICE = '@alice:example.com';
const BOB = '@bob:example.com';

/** An event with explicit auth_events, for graph-shaped tests. */
function raw(id: string, auth: string[], fields: Partial<RoomEvent> = {}): RoomEvent {
  return {
    event_id: id, room_id: '!room:example.com', sender: ALICE, origin_server_ts: 0, type: 'm.room.topic', state_key: '',
    content: {}, prev_events: [], auth_events: auth, depth: 1, hashes: { sha256: '' }, signatures: {}, ...fields,
  };
}

function contextOf(events: RoomEvent[], version = V11) {
  const byId = new Map(events.map((e) => [e.event_id, e]));
  return createContext(version, AUTH_RULES, (id) => byId.get(id));
}

describe('conflicted state subgraph (rooms/v12)', () => {
  it('is every event on an auth path between two conflicted events, endpoints included', () => {
    // c1 → a → b → c2 → e, and a → d: only the c1…c2 path counts.
    const events = [
      raw('$c1', ['$a']), raw('$a', ['$b', '$d']), raw('$b', ['$c2']), raw('$c2', ['$e']), raw('$d', []), raw('$e', []),
      raw('$c3', ['$e']),
    ];
    const ctx = contextOf(events);
    const idx = (id: string) => ctx.graph.intern(id);
    const sub = conflictedStateSubgraph(ctx.graph, ['$c1', '$c2', '$c3'].map(idx));
    expect([...sub].map((i) => ctx.graph.id(i)).sort()).toEqual(['$a', '$b', '$c1', '$c2', '$c3']);
  });
});

describe('auth difference (rooms/v2)', () => {
  it('is the union of the full auth chains minus their intersection', () => {
    // Unconflicted u (chain: c). Conflicted key: e1 (chain x, c) vs e2 (chain y, x, c).
    const events = [raw('$c', []), raw('$u', ['$c']), raw('$x', ['$c']), raw('$y', ['$x']), raw('$e1', ['$x']), raw('$e2', ['$y'])];
    const ctx = contextOf(events);
    const s1: StateMap = new Map([['k1', '$e1'], ['k2', '$u']]);
    const s2: StateMap = new Map([['k1', '$e2'], ['k2', '$u']]);
    const diff = authDifference(ctx.graph, [s1, s2], new Map([['k2', '$u']]), ['k1']);
    expect([...diff].map((i) => ctx.graph.id(i))).toEqual(['$y']);
  });

  it('does not count an event the unconflicted state already reaches', () => {
    // y is only behind e2 among the conflicted events, but u reaches it too.
    const events = [raw('$c', []), raw('$y', ['$c']), raw('$u', ['$y']), raw('$e1', ['$c']), raw('$e2', ['$y'])];
    const ctx = contextOf(events);
    const s1: StateMap = new Map([['k1', '$e1'], ['k2', '$u']]);
    const s2: StateMap = new Map([['k1', '$e2'], ['k2', '$u']]);
    expect(authDifference(ctx.graph, [s1, s2], new Map([['k2', '$u']]), ['k1']).size).toBe(0);
  });
});

describe('reverse topological power ordering (rooms/v2)', () => {
  it('orders by auth DAG first, then greater sender power, earlier timestamp, smaller event ID', () => {
    const create = raw('$C', [], { type: 'm.room.create', content: { room_version: '11' } });
    const ma = raw('$MA', ['$C'], { type: 'm.room.member', state_key: ALICE, content: { membership: 'join' } });
    const pl = raw('$PL', ['$C', '$MA'], { type: 'm.room.power_levels', content: { users: { [ALICE]: 100, [BOB]: 50 } } });
    const mb = raw('$MB', ['$C', '$PL'], { type: 'm.room.member', state_key: BOB, sender: BOB, content: { membership: 'join' } });
    const jr = (id: string, sender: string, ts: number, auth: string[]): RoomEvent =>
      raw(id, auth, { type: 'm.room.join_rules', sender, origin_server_ts: ts, content: { join_rule: 'public' } });
    const x1 = jr('$X1', BOB, 5, ['$C', '$PL', '$MB']);
    const x3 = jr('$X3', BOB, 5, ['$C', '$PL', '$MB']);
    const x2 = jr('$X2', ALICE, 9, ['$C', '$PL', '$MA']);
    const x0 = jr('$X0', BOB, 7, ['$C', '$PL', '$MB']);
    // Alice's, earliest of all, but authorised by X3: it must come after X3.
    const x4 = jr('$X4', ALICE, 1, ['$C', '$PL', '$MA', '$X3']);
    const ctx = contextOf([create, ma, pl, mb, x0, x1, x2, x3, x4]);
    const set = new Set(['$X0', '$X1', '$X2', '$X3', '$X4'].map((id) => ctx.graph.intern(id)));
    const order = reverseTopologicalPowerOrdering(ctx, set).map((i) => ctx.graph.id(i));
    expect(order).toEqual(['$X2', '$X1', '$X3', '$X4', '$X0']);
  });

  it('v12: creators sort first, with infinite power', () => {
    const v12 = getRoomVersion('12')!;
    const create = raw('$CREATE', [], { type: 'm.room.create', room_id: '!CREATE', content: { room_version: '12', additional_creators: [BOB] } });
    const pl = raw('$PL', [], { type: 'm.room.power_levels', room_id: '!CREATE', content: { users: { '@carol:example.com': 100 } } });
    const jr = (id: string, sender: string, ts: number): RoomEvent =>
      raw(id, ['$PL'], { type: 'm.room.join_rules', room_id: '!CREATE', sender, origin_server_ts: ts, content: { join_rule: 'public' } });
    const ctx = contextOf([create, pl, jr('$J1', '@carol:example.com', 1), jr('$J2', BOB, 2), jr('$J3', ALICE, 3)], v12);
    const set = new Set(['$J1', '$J2', '$J3'].map((id) => ctx.graph.intern(id)));
    expect(reverseTopologicalPowerOrdering(ctx, set).map((i) => ctx.graph.id(i))).toEqual(['$J2', '$J3', '$J1']);
  });
});

describe('power events (rooms/v2 "Algorithm" step 1)', () => {
  it('selects power levels, join rules, kicks and bans, and their auth chain within the full conflicted set', () => {
    const member = (id: string, sender: string, target: string, membership: string, auth: string[]) =>
      raw(id, auth, { type: 'm.room.member', sender, state_key: target, content: { membership } });
    const events = [
      raw('$PL', [], { type: 'm.room.power_levels' }),
      member('$JOIN', BOB, BOB, 'join', ['$PL']),
      member('$LEAVE', BOB, BOB, 'leave', ['$JOIN']),
      member('$KICK', ALICE, BOB, 'leave', ['$JOIN']),
      member('$BAN', ALICE, '@carol:example.com', 'ban', []),
      raw('$TOPIC', ['$PL']),
    ];
    const ctx = contextOf(events);
    const fcs = new Set(events.map((e) => ctx.graph.intern(e.event_id)));
    const selected = [...selectPowerEvents(ctx, fcs)].map((i) => ctx.graph.id(i)).sort();
    expect(selected).toEqual(['$BAN', '$JOIN', '$KICK', '$PL']);
  });
});

describe('mainline ordering (rooms/v2)', () => {
  it('sorts by mainline position (greatest, ∞ first), then timestamp, then event ID', () => {
    const pl = (id: string, auth: string[]) => raw(id, auth, { type: 'm.room.power_levels' });
    const topic = (id: string, ts: number, auth: string[]) => raw(id, auth, { origin_server_ts: ts });
    const events = [
      pl('$P0', []), pl('$P1', ['$P0']), pl('$P2', ['$P1']), pl('$Q1', ['$P0']), pl('$Q2', ['$Q1']),
      topic('$A', 1, ['$P2']), // position 0
      topic('$B', 1, ['$P1']), // position 1
      topic('$C', 5, ['$Q2']), // Q2 → Q1 → P0: position 2
      topic('$E', 3, ['$P0']), // position 2, earlier than C
      topic('$D', 9, []), // no power levels: ∞
      topic('$F', 3, ['$Q1']), // position 2, same timestamp as E, greater ID
    ];
    const ctx = contextOf(events);
    const ids = ['$A', '$B', '$C', '$D', '$E', '$F'].map((id) => ctx.graph.intern(id));
    const sorted = mainlineOrdering(ctx, ids, ctx.graph.intern('$P2')).map((i) => ctx.graph.id(i));
    expect(sorted).toEqual(['$D', '$E', '$F', '$C', '$B', '$A']);
  });
});

describe('resolveState inputs', () => {
  // A small room version 11 room with Alice (100), Bob (50) and Charlie joined.
  function smallRoom(versionId = '11') {
    const version = getRoomVersion(versionId)!;
    const room = new RoomBuilder(version, ALICE);
    let state: StateMap = new Map();
    let prev: string[] = [];
    let depth = 0;
    const add = (name: string, sender: string, type: string, key: string, content: JsonObject, on = state, prevs = prev) => {
      const ev = room.add({ name, sender, type, state_key: key, content }, prevs, on, ++depth);
      return { ev, after: stateAfter(on, ev) };
    };
    const chain = (name: string, sender: string, type: string, key: string, content: JsonObject) => {
      const { ev, after } = add(name, sender, type, key, content);
      state = after;
      prev = [ev.event_id];
      return ev;
    };
    chain('CREATE', ALICE, 'm.room.create', '', {});
    chain('MA', ALICE, 'm.room.member', ALICE, { membership: 'join' });
    chain('PL', ALICE, 'm.room.power_levels', '', { users: { [ALICE]: 100, [BOB]: 50 } });
    chain('JR', ALICE, 'm.room.join_rules', '', { join_rule: 'public' });
    chain('MB', BOB, 'm.room.member', BOB, { membership: 'join' });
    chain('MC', '@charlie:example.com', 'm.room.member', '@charlie:example.com', { membership: 'join' });
    return { version, room, base: state, prev, add };
  }

  it('resolves no state sets to the empty state', () => {
    expect(resolveState(V11, [], () => undefined).size).toBe(0);
  });

  it('leaves out conflicted events that getEvent cannot supply', () => {
    const { version, room, base, prev, add } = smallRoom();
    const t1 = add('T1', ALICE, 'm.room.topic', '', { topic: 'one' }, base, prev).after;
    const missing = new Map(base).set(stateKey('m.room.topic', ''), '$NOWHERE');
    const resolved = resolveState(version, [t1, missing], (id) => room.events.get(id));
    expect(resolved.get(stateKey('m.room.topic', ''))).toBe('$T1');
  });

  it('returns a new map and does not modify the state sets', () => {
    const { version, room, base, prev, add } = smallRoom();
    const a = add('TA', ALICE, 'm.room.topic', '', { topic: 'a' }, base, prev).after;
    const b = add('TB', BOB, 'm.room.topic', '', { topic: 'b' }, base, prev).after;
    const [aCopy, bCopy] = [new Map(a), new Map(b)];
    const resolved = resolveState(version, [a, b], (id) => room.events.get(id));
    expect(resolved).not.toBe(a);
    expect(resolved).not.toBe(b);
    expect(a).toEqual(aCopy);
    expect(b).toEqual(bCopy);
    // Same power level: the later timestamp is applied last and wins.
    expect(resolved.get(stateKey('m.room.topic', ''))).toBe('$TB');
  });

  it('does not use rejected auth events in the iterative auth checks', () => {
    const fixture = readFixture('v2.1-rejected-auth-event.json');
    const events = fixtureEvents(fixture);
    const sets = fixture.tests[0].state_sets!.map(stateFromJson);
    const version = getRoomVersion(fixture.room_version)!;
    const joinRules = stateKey('m.room.join_rules', '');
    const withRejection = resolveState(version, sets, (id) => events.get(id), undefined, { isRejected: (id) => id === '$MA' });
    const without = resolveState(version, sets, (id) => events.get(id));
    expect(withRejection.has(joinRules)).toBe(false);
    expect(without.get(joinRules)).toBe('$JR');
  });

  it('v1: when no candidate of an ordinary conflict is allowed, takes the one with the lowest depth', () => {
    const { version, room, base, prev, add } = smallRoom('1');
    // Bob and Charlie each set a topic on their fork, then leave; both forks agree they have left.
    const CHARLIE = '@charlie:example.com';
    const tb = add('TB', BOB, 'm.room.topic', '', { topic: 'b' }, base, prev);
    const lb = add('LB', BOB, 'm.room.member', BOB, { membership: 'leave' }, tb.after, [tb.ev.event_id]);
    const x = add('X', ALICE, 'm.room.name', '', { name: 'deeper' }, base, prev);
    const tc = add('TC', CHARLIE, 'm.room.topic', '', { topic: 'c' }, x.after, [x.ev.event_id]);
    const lc = add('LC', CHARLIE, 'm.room.member', CHARLIE, { membership: 'leave' }, tc.after, [tc.ev.event_id]);
    const bothLeft = (s: StateMap) => new Map(s)
      .set(stateKey('m.room.member', BOB), lb.ev.event_id)
      .set(stateKey('m.room.member', CHARLIE), lc.ev.event_id);
    const resolved = resolveState(version, [bothLeft(lb.after), bothLeft(lc.after)], (id) => room.events.get(id));
    expect(tb.ev.depth).toBeLessThan(tc.ev.depth);
    expect(resolved.get(stateKey('m.room.topic', ''))).toBe(tb.ev.event_id);
  });
});
