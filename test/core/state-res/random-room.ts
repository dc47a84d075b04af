// Random room DAGs for property tests: a small room whose forks are driven by a list
// of commands (so fast-check can shrink them). Only events the authorization rules
// allow against the state before them are added, as a server would.

import { authorizeEvent } from '../../../src/core/auth.js';
import type { JsonObject, RoomEvent, StateMap } from '../../../src/core/pdu.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import { resolveState } from '../../../src/core/state-res/index.js';
import { type EventSpec, RoomBuilder, stateAfter } from './room-builder.js';

export const USERS = ['@alice:example.com', '@bob:example.com', '@charlie:example.com', '@dave:example.com', '@eve:example.com'];
const ALICE = USERS[0];

export interface Command {
  tip: number;
  action: number;
  actor: number;
  target: number;
  value: number;
  /** Keep the tip the event was built on as a tip of its own (a fork). */
  fork: boolean;
  /** Merge two tips instead of adding a state event. */
  merge: boolean;
}

export interface Tip {
  id: string;
  depth: number;
  state: StateMap;
}

export interface RandomRoom {
  versionId: string;
  events: Map<string, RoomEvent>;
  tips: Tip[];
}

const LEVELS = [0, 10, 50, 100];

function stateEventFor(c: Command, name: string): EventSpec {
  const actor = USERS[c.actor % USERS.length];
  const target = USERS[c.target % USERS.length];
  const member = (sender: string, who: string, membership: string): EventSpec => ({
    name, sender, type: 'm.room.member', state_key: who, content: { membership },
  });
  switch (c.action % 9) {
    case 0:
      return { name, sender: actor, type: 'm.room.topic', state_key: '', content: { topic: `t${c.value}` } };
    case 1:
      return { name, sender: actor, type: 'm.room.name', state_key: '', content: { name: `n${c.value}` } };
    case 2: {
      const users: JsonObject = { [ALICE]: 100 };
      USERS.slice(1).forEach((u, i) => {
        users[u] = LEVELS[(c.value >> (2 * i)) % LEVELS.length];
      });
      return { name, sender: actor, type: 'm.room.power_levels', state_key: '', content: { users } };
    }
    case 3:
      return { name, sender: actor, type: 'm.room.join_rules', state_key: '', content: { join_rule: c.value % 2 ? 'invite' : 'public' } };
    case 4:
      return member(actor, actor, 'join');
    case 5:
      return member(actor, actor, 'leave');
    case 6:
      return member(actor, target, 'leave');
    case 7:
      return member(actor, target, 'ban');
    default:
      return member(actor, target, 'invite');
  }
}

export function buildRandomRoom(versionId: string, commands: readonly Command[]): RandomRoom {
  const version = getRoomVersion(versionId)!;
  const room = new RoomBuilder(version, ALICE, 1_000, 3); // timestamps tie, so event IDs break ties
  const getEvent = (id: string) => room.events.get(id);
  let n = 0;

  // Builds the event if the rules allow it against `state`; returns the new tip.
  const tryAdd = (spec: EventSpec, prevs: Tip[], state: StateMap): Tip | undefined => {
    const depth = Math.max(0, ...prevs.map((p) => p.depth)) + 1;
    const authState = new Map<string, RoomEvent>();
    for (const [key, id] of state) authState.set(key, room.events.get(id)!);
    const candidate: RoomEvent = {
      event_id: room.eventId(spec.name), room_id: room.roomId, sender: spec.sender, origin_server_ts: 0, type: spec.type,
      ...(spec.state_key !== undefined ? { state_key: spec.state_key } : {}),
      content: room.contentFor(spec), prev_events: prevs.map((p) => p.id), auth_events: [], depth, hashes: { sha256: '' }, signatures: {},
    };
    if (spec.type !== 'm.room.create' && !authorizeEvent(version, candidate, authState).ok) return undefined;
    const ev = room.add(spec, prevs.map((p) => p.id), state, depth);
    return { id: ev.event_id, depth, state: stateAfter(state, ev) };
  };

  let tip: Tip = { id: '', depth: 0, state: new Map() };
  const chain = (spec: EventSpec): void => {
    const next = tryAdd(spec, tip.id ? [tip] : [], tip.state);
    if (!next) throw new Error(`setup event ${spec.name} refused`);
    tip = next;
  };
  chain({ name: 'CREATE', sender: ALICE, type: 'm.room.create', state_key: '', content: {} });
  chain({ name: 'MA', sender: ALICE, type: 'm.room.member', state_key: ALICE, content: { membership: 'join' } });
  chain({ name: 'PL', sender: ALICE, type: 'm.room.power_levels', state_key: '', content: { users: { [ALICE]: 100, [USERS[1]]: 50, [USERS[2]]: 10 } } });
  chain({ name: 'JR', sender: ALICE, type: 'm.room.join_rules', state_key: '', content: { join_rule: 'public' } });
  for (const u of USERS.slice(1, 4)) chain({ name: `J${u.slice(1, 3)}`, sender: u, type: 'm.room.member', state_key: u, content: { membership: 'join' } });

  const tips: Tip[] = [tip];
  for (const c of commands) {
    const i = c.tip % tips.length;
    if (c.merge && tips.length >= 2) {
      const j = (i + 1) % tips.length;
      const [a, b] = [tips[i], tips[j]];
      // A message merging the two forks; the state after it is the resolved state.
      const state = resolveState(version, [a.state, b.state], getEvent);
      const depth = Math.max(a.depth, b.depth) + 1;
      const spec: EventSpec = { name: `E${n++}`, sender: ALICE, type: 'm.room.message', content: { body: 'merge' } };
      const merged: Tip = { id: room.add(spec, [a.id, b.id], state, depth).event_id, depth, state };
      tips.splice(Math.max(i, j), 1);
      tips.splice(Math.min(i, j), 1, merged);
      continue;
    }
    // If the rules refuse the actor, Alice (the creator) tries the same action, so that
    // most commands do add an event.
    const next = tryAdd(stateEventFor(c, `E${n}`), [tips[i]], tips[i].state)
      ?? tryAdd(stateEventFor({ ...c, actor: 0 }, `E${n}`), [tips[i]], tips[i].state);
    if (!next) continue;
    n++;
    if (c.fork && tips.length < 4) tips.push(next);
    else tips[i] = next;
  }
  return { versionId, events: room.events, tips };
}
