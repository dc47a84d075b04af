// Benchmark: authorization rule checks per second on one core.
// Run: node --import tsx bench/core-auth.ts [seconds-per-measurement]
//
// A room of 1,000 joined members with a realistic power levels event (Element's defaults plus
// a few dozen users); we time authorizeEvent for an m.room.message and for an m.room.member
// join (public room), against the full state and against the event's own auth events, and
// the auth_events list check. Room versions 10 and 12 (infinite-power creators).

import { authEventsToState, authTypesForEvent, authorizeEvent, checkAuthEventsList } from '../src/core/auth.js';
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../src/core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../src/core/room-versions.js';

const seconds = Number(process.argv[2] ?? 2);
const CREATOR = '@alice:example.org';
const hashId = (n: number) => `$${Buffer.alloc(32, n % 256).toString('base64url').slice(0, 40)}${n}`;

function realisticPowerLevels(version: RoomVersion): JsonObject {
  const users: JsonObject = version.privilegedCreators ? {} : { [CREATOR]: 100 };
  for (let i = 0; i < 40; i++) users[`@moderator${i}:server${i % 7}.example`] = i < 5 ? 100 : 50;
  return {
    users, users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0, historical: 100,
    events: {
      'm.room.name': 50, 'm.room.power_levels': 100, 'm.room.history_visibility': 100, 'm.room.canonical_alias': 50,
      'm.room.avatar': 50, 'm.room.tombstone': 150, 'm.room.server_acl': 100, 'm.room.encryption': 100, 'm.room.topic': 50,
      'm.room.pinned_events': 50, 'm.space.child': 50, 'm.reaction': 0, 'm.room.redaction': 0, 'im.vector.modular.widgets': 50,
    },
    notifications: { room: 50 },
  };
}

function buildRoom(version: RoomVersion) {
  let n = 0;
  const createId = hashId(n++);
  const roomId = version.roomIdIsCreateEventHash ? `!${createId.slice(1)}` : '!room:example.org';
  const event = (type: string, sender: string, content: JsonObject, extra: Partial<RoomEvent> = {}): RoomEvent => ({
    event_id: hashId(n++), room_id: roomId, sender, type, content, prev_events: [hashId(n - 2)], auth_events: [],
    depth: n, origin_server_ts: 1_700_000_000_000 + n, hashes: { sha256: 'x' }, signatures: {}, ...extra,
  });
  const state = new Map<StateKey, RoomEvent>();
  const put = (e: RoomEvent) => state.set(stateKey(e.type, e.state_key!), e);
  const createContent: JsonObject = version.implicitRoomCreator ? { room_version: version.id } : { creator: CREATOR, room_version: version.id };
  const create = event('m.room.create', CREATOR, createContent, { event_id: createId, state_key: '', prev_events: [] });
  put(create);
  put(event('m.room.member', CREATOR, { membership: 'join', displayname: 'Alice' }, { state_key: CREATOR }));
  put(event('m.room.power_levels', CREATOR, realisticPowerLevels(version), { state_key: '' }));
  put(event('m.room.join_rules', CREATOR, { join_rule: 'public' }, { state_key: '' }));
  put(event('m.room.history_visibility', CREATOR, { history_visibility: 'shared' }, { state_key: '' }));
  for (let i = 0; i < 1000; i++) {
    const user = `@user${i}:server${i % 50}.example`;
    put(event('m.room.member', user, { membership: 'join', displayname: `User ${i}` }, { state_key: user }));
  }
  const sender = '@user42:server42.example';
  const newcomer = '@newcomer:elsewhere.example';
  const message = event('m.room.message', sender, { msgtype: 'm.text', body: 'Yes, about ten minutes ago. Rollback plan is in the runbook.' });
  const join = event('m.room.member', newcomer, { membership: 'join', displayname: 'Newcomer', avatar_url: 'mxc://elsewhere.example/abc' }, { state_key: newcomer });
  const withAuthEvents = (e: RoomEvent) => {
    const authEvents = authTypesForEvent(version, e)
      .map(([type, key]) => state.get(stateKey(type, key)))
      .filter((a): a is RoomEvent => a !== undefined);
    return { event: { ...e, auth_events: authEvents.map((a) => a.event_id) }, authEvents };
  };
  return { state, create, message: withAuthEvents(message), join: withAuthEvents(join) };
}

function measure(label: string, fn: () => boolean): void {
  for (let i = 0; i < 20_000; i++) if (!fn()) throw new Error(`${label}: rejected`);
  let ops = 0;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
  }
  const perSecond = ops / ((performance.now() - start) / 1000);
  console.log(`${label.padEnd(58)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} /s`);
}

for (const id of ['10', '12']) {
  const version = getRoomVersion(id)!;
  const room = buildRoom(version);
  const messageAuthState = authEventsToState(room.message.authEvents, room.create);
  const joinAuthState = authEventsToState(room.join.authEvents, room.create);
  const context = { createEvent: room.create };
  console.log(`room version ${id} (${room.state.size} state events)`);
  measure('  authorizeEvent m.room.message vs current state', () => authorizeEvent(version, room.message.event, room.state).ok);
  measure('  authorizeEvent m.room.member join vs current state', () => authorizeEvent(version, room.join.event, room.state).ok);
  measure('  authorizeEvent m.room.message vs its auth events', () => authorizeEvent(version, room.message.event, messageAuthState).ok);
  measure('  authorizeEvent m.room.member join vs its auth events', () => authorizeEvent(version, room.join.event, joinAuthState).ok);
  measure('  checkAuthEventsList m.room.message', () => checkAuthEventsList(version, room.message.event, room.message.authEvents, context).ok);
  measure('  checkAuthEventsList m.room.member join', () => checkAuthEventsList(version, room.join.event, room.join.authEvents, context).ok);
}
