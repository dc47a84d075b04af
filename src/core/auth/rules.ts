// Rejection codes, and the numbering of the spec's authorization rules for each room
// version, so that every rejection names the numbered rule that failed
// (e.g. "rooms/v10 auth rule 4.3.5.2: ...").

import type { RoomVersion } from '../room-versions.js';
import { reject, type Rejection } from '../pdu.js';

export type AuthRejectionCode =
  | 'create_invalid' //            rule 1: the m.room.create event itself
  | 'create_missing' //            no usable m.room.create event to authorise against
  | 'room_id_mismatch' //          v12 rule 2, and auth events from another room
  | 'auth_events_invalid' //       rule 2.1–2.3 (v12: 3.1–3.3): the auth_events list
  | 'auth_event_missing' //        a listed auth event was not supplied by the caller
  | 'room_not_federated' //        m.federate is false and the sender is remote
  | 'aliases_invalid' //           v1–v5: m.room.aliases state_key is not the sender's domain
  | 'membership_invalid' //        m.room.member without state_key/membership, or unknown membership
  | 'authorising_server_unsigned' // v8+: join_authorised_via_users_server's server did not sign
  | 'join_forbidden'
  | 'invite_forbidden'
  | 'leave_forbidden'
  | 'ban_forbidden'
  | 'knock_forbidden'
  | 'third_party_invite_invalid'
  | 'sender_not_joined'
  | 'insufficient_power'
  | 'state_key_forbidden' //       a state_key starting with @ that is not the sender
  | 'power_levels_invalid' //      m.room.power_levels content is malformed
  | 'power_levels_forbidden' //    a power level change the sender may not make
  | 'redaction_forbidden' //       v1–v2 redaction rule
  | 'internal_error'; //           a bug in this module; never expected

export interface AuthRejection extends Rejection {
  code: AuthRejectionCode;
}

/** A rejection whose reason names the room version's numbered rule. */
export function deny(version: RoomVersion, code: AuthRejectionCode, rule: string, text: string): AuthRejection {
  return reject(code, `rooms/v${version.id} auth rule ${rule}: ${text}`) as AuthRejection;
}

/** Rule numbers as they appear in each version's "Authorisation rules" list; 0 = absent. */
export interface RuleNumbers {
  create: number;
  createHash: number; //          v12 rule 2
  authEvents: number;
  federate: number;
  aliases: number; //             v1–v5
  member: number;
  senderJoined: number;
  thirdPartyInvite: number;
  requiredPowerLevel: number;
  stateKeyIsSender: number;
  powerLevels: number;
  redaction: number; //           v1–v2
  otherwise: number;
  createSub: { prevEvents: number; roomId: number; roomVersion: number; creator: number; additionalCreators: number };
  memberSub: {
    fields: number; authorisingServer: number; join: number; invite: number; leave: number;
    ban: number; knock: number; unknown: number;
  };
  joinSub: { creator: number; senderIsTarget: number; banned: number; invite: number; restricted: number; public: number; otherwise: number };
  powerLevelsSub: {
    integerFields: number; integerMaps: number; users: number; creators: number; noPrevious: number;
    namedLevels: number; mapEntriesRemoved: number; mapEntriesAdded: number; usersRemoved: number; usersAdded: number;
  };
}

const cache = new WeakMap<RoomVersion, RuleNumbers>();

export function ruleNumbers(version: RoomVersion): RuleNumbers {
  let numbers = cache.get(version);
  if (numbers === undefined) {
    numbers = computeRuleNumbers(version);
    cache.set(version, numbers);
  }
  return numbers;
}

function computeRuleNumbers(v: RoomVersion): RuleNumbers {
  const createHash = v.roomIdIsCreateEventHash ? 2 : 0;
  const authEvents = createHash ? 3 : 2;
  const federate = authEvents + 1;
  const aliases = v.specialCaseAliasesAuth ? federate + 1 : 0;
  const member = (aliases || federate) + 1;
  const powerLevels = member + 5;
  const redaction = v.redactionDomainCheckDeferred ? 0 : powerLevels + 1;

  const authorisingServer = v.restrictedJoinsSupported ? 2 : 0;
  const join = (authorisingServer || 1) + 1;
  const knock = v.knockingSupported ? join + 4 : 0;

  const restricted = v.restrictedJoinsSupported ? 5 : 0;
  const joinPublic = (restricted || 4) + 1;

  const integerFields = v.integerPowerLevels ? 1 : 0;
  const integerMaps = v.integerPowerLevels ? 2 : 0;
  const users = (integerMaps || 0) + 1;
  const creators = v.privilegedCreators ? users + 1 : 0;
  const noPrevious = (creators || users) + 1;

  return {
    create: 1,
    createHash,
    authEvents,
    federate,
    aliases,
    member,
    senderJoined: member + 1,
    thirdPartyInvite: member + 2,
    requiredPowerLevel: member + 3,
    stateKeyIsSender: member + 4,
    powerLevels,
    redaction,
    otherwise: (redaction || powerLevels) + 1,
    createSub: {
      prevEvents: 1,
      roomId: 2,
      roomVersion: 3,
      creator: v.implicitRoomCreator ? 0 : 4,
      additionalCreators: v.privilegedCreators ? 4 : 0,
    },
    memberSub: {
      fields: 1,
      authorisingServer,
      join,
      invite: join + 1,
      leave: join + 2,
      ban: join + 3,
      knock,
      unknown: (knock || join + 3) + 1,
    },
    joinSub: { creator: 1, senderIsTarget: 2, banned: 3, invite: 4, restricted, public: joinPublic, otherwise: joinPublic + 1 },
    powerLevelsSub: {
      integerFields,
      integerMaps,
      users,
      creators,
      noPrevious,
      namedLevels: noPrevious + 1,
      mapEntriesRemoved: noPrevious + 2,
      mapEntriesAdded: noPrevious + 3,
      usersRemoved: noPrevious + 4,
      usersAdded: noPrevious + 5,
    },
  };
}
