// The auth_events list. spec: server-server-api "Auth events selection"; rooms/v1 auth rule 2
// (v12: rules 2 and 3).

import type { RoomVersion } from '../room-versions.js';
import { reject, stateKey, type PDU, type RoomEvent, type StateKey, type Verdict } from '../pdu.js';
import { getOwn, getString, referenceIds, stateKeyOf } from './content.js';
import { CREATE_KEY } from './creators.js';
import { deny, ruleNumbers } from './rules.js';

const OK: Verdict = { ok: true };

/**
 * The (type, state_key) pairs an event's auth_events may hold, per "Auth events selection":
 * the create event (unless v12), power levels, the sender's member event, and for
 * m.room.member the target's member event, join rules (join/invite/knock), the third-party
 * invite named by signed.token (invite), and the authorising user's member event (restricted
 * join). Takes a PDU so that event builders can call it before the event ID exists.
 */
export function authTypesForEvent(version: RoomVersion, event: PDU): Array<[string, string]> {
  if (event.type === 'm.room.create') return [];
  const types: Array<[string, string]> = [];
  if (version.createEventInAuthEvents) types.push(['m.room.create', '']);
  types.push(['m.room.power_levels', '']);
  if (typeof event.sender === 'string') types.push(['m.room.member', event.sender]);
  if (event.type !== 'm.room.member') return types;

  const content: unknown = event.content;
  const target = typeof event.state_key === 'string' ? event.state_key : undefined;
  const membership = getOwn(content, 'membership');
  if (target !== undefined) addMember(types, target);
  if (membership === 'join' || membership === 'invite' || membership === 'knock') types.push(['m.room.join_rules', '']);
  if (membership === 'invite') {
    const token = getString(getOwn(getOwn(content, 'third_party_invite'), 'signed'), 'token');
    if (token !== undefined) types.push(['m.room.third_party_invite', token]);
  }
  if (membership === 'join' && version.restrictedJoinsSupported) {
    const authoriser = getString(content, 'join_authorised_via_users_server');
    if (authoriser !== undefined) addMember(types, authoriser);
  }
  return types;
}

/** Add an m.room.member pair unless present (the target or authoriser may be the sender). */
function addMember(types: Array<[string, string]>, userId: string): void {
  for (const [type, key] of types) if (type === 'm.room.member' && key === userId) return;
  types.push(['m.room.member', userId]);
}

export interface AuthEventsListContext {
  /** Whether an auth event (or, v12, the create event) was itself rejected. Default: none were. */
  isRejected?: (eventId: string) => boolean;
  /** v12 (`roomIdIsCreateEventHash`): the room's m.room.create, found from the room ID, as it is not listed. */
  createEvent?: RoomEvent;
}

/**
 * The rules about the auth_events list itself (rooms/v1 rule 2; rooms/v12 rules 2 and 3).
 * `authEvents` are the events the event's auth_events name, in any order; every listed ID must
 * be supplied. m.room.create events are not subject to these rules (rule 1 allows or rejects them).
 */
export function checkAuthEventsList(
  version: RoomVersion,
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  context: AuthEventsListContext = {},
): Verdict {
  if (event.type === 'm.room.create') return OK;
  const rule = ruleNumbers(version).authEvents;
  const isRejected = context.isRejected ?? neverRejected;

  if (version.roomIdIsCreateEventHash) {
    const problem = checkRoomIdNamesCreateEvent(event, context.createEvent, isRejected);
    if (problem !== undefined) return deny(version, 'room_id_mismatch', String(ruleNumbers(version).createHash), problem);
  }

  const listed: RoomEvent[] = [];
  for (const id of referenceIds(event.auth_events)) {
    const authEvent = id === undefined ? undefined : findById(authEvents, id);
    if (authEvent === undefined) {
      return reject('auth_event_missing', `auth event ${id ?? '(malformed reference)'} was not supplied to checkAuthEventsList`);
    }
    listed.push(authEvent);
  }

  // spec order: 2.1 duplicates, 2.2 selection, 2.3 rejected, 2.4 create present, 2.5 same room.
  const keys = listed.map(keyOf);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] !== undefined && keys.indexOf(keys[i], i + 1) >= 0) {
      return deny(version, 'auth_events_invalid', `${rule}.1`,
        `duplicate auth events for (${listed[i]!.type}, ${listed[i]!.state_key})`);
    }
  }
  const selected = authTypesForEvent(version, event).map(([type, key]) => stateKey(type, key));
  for (let i = 0; i < keys.length; i++) {
    if (keys[i] === undefined || !selected.includes(keys[i]!)) {
      const e = listed[i]!;
      return deny(version, 'auth_events_invalid', `${rule}.2`,
        `auth event ${e.event_id} (${e.type}, ${String(e.state_key)}) is not in the auth events selection`);
    }
  }
  for (const authEvent of listed) {
    if (isRejected(authEvent.event_id)) {
      return deny(version, 'auth_events_invalid', `${rule}.3`, `auth event ${authEvent.event_id} was rejected`);
    }
  }
  if (version.createEventInAuthEvents && !keys.includes(CREATE_KEY)) {
    return deny(version, 'create_missing', `${rule}.4`, 'no m.room.create event among the auth events');
  }
  for (const authEvent of listed) {
    if (authEvent.room_id !== event.room_id) {
      return deny(version, 'room_id_mismatch', `${rule}.5`, `auth event ${authEvent.event_id} is in another room`);
    }
  }
  return OK;
}

function neverRejected(): boolean {
  return false;
}

function findById(events: readonly RoomEvent[], id: string): RoomEvent | undefined {
  for (const event of events) if (event.event_id === id) return event;
  return undefined;
}

/** spec: rooms/v12 rule 2: room_id is an accepted m.room.create's event ID with sigil `!` instead of `$`. */
function checkRoomIdNamesCreateEvent(
  event: RoomEvent,
  create: RoomEvent | undefined,
  isRejected: (eventId: string) => boolean,
): string | undefined {
  if (create === undefined) return 'the m.room.create event named by room_id was not supplied';
  if (create.type !== 'm.room.create' || create.state_key !== '') return 'the supplied create event is not an m.room.create';
  if (typeof event.room_id !== 'string' || !event.room_id.startsWith('!')
      || create.event_id !== `$${event.room_id.slice(1)}`) {
    return 'room_id is not the event ID of the m.room.create event';
  }
  if (isRejected(create.event_id)) return 'the m.room.create event was rejected';
  return undefined;
}

function keyOf(event: RoomEvent): StateKey | undefined {
  const key = stateKeyOf(event);
  return key === undefined || typeof event.type !== 'string' ? undefined : stateKey(event.type, key);
}

/**
 * The state map to authorise an event against its auth events: each auth event keyed by
 * (type, state_key), plus (v12) the create event, which auth_events do not list.
 */
export function authEventsToState(authEvents: readonly RoomEvent[], createEvent?: RoomEvent): Map<StateKey, RoomEvent> {
  const state = new Map<StateKey, RoomEvent>();
  if (createEvent !== undefined) state.set(CREATE_KEY, createEvent);
  for (const authEvent of authEvents) {
    const key = keyOf(authEvent);
    if (key !== undefined) state.set(key, authEvent);
  }
  return state;
}
