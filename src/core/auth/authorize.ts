// authorizeEvent: the room version's authorization rules for one event against one state.
// spec: rooms/v1 "Authorisation rules" and each later version's list (rooms/v3, v6, v7, v8,
// v10, v11, v12); the rule numbers in rejection reasons follow each version's list.

import type { RoomVersion } from '../room-versions.js';
import { reject, type RoomEvent, type StateKey, type Verdict } from '../pdu.js';
import { domainOf, getOwn, hasOwn, membershipOf, stateKeyOf } from './content.js';
import { checkCreateEvent } from './create.js';
import { CREATE_KEY, memberKey } from './creators.js';
import { checkMemberEvent } from './member.js';
import { PowerLevelsView } from './power-levels.js';
import { checkPowerLevelsEvent } from './power-levels-event.js';
import { checkRedactionEvent } from './redaction.js';
import { deny, ruleNumbers } from './rules.js';

const OK: Verdict = { ok: true };

/**
 * Check `event` against the authorization rules of `version`, given a state: the event's auth
 * events keyed by (type, state_key) (see authEventsToState), the state before it, or the current
 * state. The state must hold the m.room.create event, in v12 too (where auth_events omit it).
 * The rules about the auth_events list itself are in checkAuthEventsList.
 * Never throws: malformed content is rejected (or read leniently) as the spec and Synapse do.
 */
export function authorizeEvent(version: RoomVersion, event: RoomEvent, authState: ReadonlyMap<StateKey, RoomEvent>): Verdict {
  try {
    return authorize(version, event, authState);
  } catch (error) {
    // Unreachable by design (the property tests check it); a guard so a bug cannot crash callers.
    return reject('internal_error', `authorization failed unexpectedly: ${String(error)}`);
  }
}

function authorize(version: RoomVersion, event: RoomEvent, state: ReadonlyMap<StateKey, RoomEvent>): Verdict {
  const r = ruleNumbers(version);
  if (event.type === 'm.room.create') return checkCreateEvent(version, event);

  const create = state.get(CREATE_KEY);
  const createProblem = checkCreateEventInState(version, event, create);
  if (createProblem !== undefined) return createProblem;

  if (!isFederatedFor(create!, event)) {
    return deny(version, 'room_not_federated', `${r.federate}`,
      "m.federate is false and the sender's domain differs from the create event sender's");
  }
  if (version.specialCaseAliasesAuth && event.type === 'm.room.aliases') return checkAliasesEvent(version, event);
  if (event.type === 'm.room.member') return checkMemberEvent(version, event, state, create!);

  const sender = typeof event.sender === 'string' ? event.sender : '';
  if (membershipOf(state.get(memberKey(sender))) !== 'join') {
    return deny(version, 'sender_not_joined', `${r.senderJoined}`, "the sender's membership is not join");
  }

  const levels = new PowerLevelsView(version, state);
  const senderLevel = levels.userLevel(sender);
  if (event.type === 'm.room.third_party_invite') {
    const inviteLevel = levels.namedLevel('invite');
    if (levels.malformed !== undefined) {
      return deny(version, 'power_levels_invalid', `${r.thirdPartyInvite}.1`, `power level ${levels.malformed} is not an integer`);
    }
    if (senderLevel >= inviteLevel) return OK;
    return deny(version, 'insufficient_power', `${r.thirdPartyInvite}.1`, "the sender's power level is below the invite level");
  }

  const key = stateKeyOf(event);
  const requiredLevel = levels.requiredLevel(event.type, key !== undefined);
  if (levels.malformed !== undefined) {
    return deny(version, 'power_levels_invalid', `${r.requiredPowerLevel}`, `power level ${levels.malformed} is not an integer`);
  }
  if (requiredLevel > senderLevel) {
    return deny(version, 'insufficient_power', `${r.requiredPowerLevel}`,
      `the required power level for ${event.type} (${requiredLevel}) is greater than the sender's (${senderLevel})`);
  }
  if (key !== undefined && key.startsWith('@') && key !== sender) {
    return deny(version, 'state_key_forbidden', `${r.stateKeyIsSender}`, 'state_key starts with @ and is not the sender');
  }
  if (event.type === 'm.room.power_levels') return checkPowerLevelsEvent(version, event, state, senderLevel);
  if (!version.redactionDomainCheckDeferred && event.type === 'm.room.redaction') {
    return checkRedactionEvent(version, event, levels, senderLevel);
  }
  return OK;
}

/**
 * The state must hold the room's create event. v1–v11: it is in the event's room (rule 2.4/2.5);
 * v12: its event ID is the room ID with `$` for `!` (rule 2).
 */
function checkCreateEventInState(version: RoomVersion, event: RoomEvent, create: RoomEvent | undefined): Verdict | undefined {
  const r = ruleNumbers(version);
  const missingRule = version.roomIdIsCreateEventHash ? `${r.createHash}` : `${r.authEvents}.4`;
  if (create === undefined || create.type !== 'm.room.create') {
    return deny(version, 'create_missing', missingRule, 'no m.room.create event in the state');
  }
  if (version.roomIdIsCreateEventHash) {
    const roomId = event.room_id;
    if (typeof roomId !== 'string' || !roomId.startsWith('!') || create.event_id !== `$${roomId.slice(1)}`) {
      return deny(version, 'room_id_mismatch', `${r.createHash}`, 'room_id is not the event ID of the m.room.create event');
    }
  } else if (create.room_id !== event.room_id) {
    return deny(version, 'room_id_mismatch', `${r.authEvents}.5`, 'the m.room.create event is in another room');
  }
  return undefined;
}

/**
 * spec: rooms/v1 auth rule 3: m.federate false and the sender's domain differs from the create
 * event sender's. As in Synapse (`content.get("m.federate", True) is True`), any value other
 * than true counts as not federated.
 */
function isFederatedFor(create: RoomEvent, event: RoomEvent): boolean {
  const content = create.content;
  if (!hasOwn(content, 'm.federate') || getOwn(content, 'm.federate') === true) return true;
  const senderDomain = domainOf(event.sender);
  return senderDomain !== undefined && senderDomain === domainOf(create.sender);
}

/** spec: rooms/v1 auth rule 4 (v1–v5, `specialCaseAliasesAuth`). */
function checkAliasesEvent(version: RoomVersion, event: RoomEvent): Verdict {
  const rule = ruleNumbers(version).aliases;
  const key = stateKeyOf(event);
  if (key === undefined) return deny(version, 'aliases_invalid', `${rule}.1`, 'm.room.aliases has no state_key');
  if (key !== domainOf(event.sender)) {
    return deny(version, 'aliases_invalid', `${rule}.2`, "the sender's domain does not match state_key");
  }
  return OK;
}
