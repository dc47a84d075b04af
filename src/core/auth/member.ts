// m.room.member authorization. spec: rooms/v1 auth rule 5; rooms/v6 rule 4 (aliases rule
// removed); rooms/v7 (knock); rooms/v8 (restricted joins, rule 4.2); rooms/v10
// (knock_restricted); rooms/v11 (creator is the create event's sender); rooms/v12 rule 5.

import type { RoomVersion } from '../room-versions.js';
import { stateKey, type JsonObject, type RoomEvent, type Verdict } from '../pdu.js';
import {
  contentOf, domainOf, getOwn, getString, hasOwn, isObject, isValidUserId, membershipOf, referenceIds, stateKeyOf,
} from './content.js';
import { JOIN_RULES_KEY, memberKey, roomCreator, type AuthState } from './creators.js';
import { PowerLevelsView } from './power-levels.js';
import { deny, ruleNumbers, type AuthRejectionCode, type RuleNumbers } from './rules.js';
import { isSignedByThirdPartyInvite } from './third-party-invite.js';

const OK: Verdict = { ok: true };

interface MemberCheck {
  version: RoomVersion;
  numbers: RuleNumbers;
  event: RoomEvent;
  content: JsonObject;
  state: AuthState;
  create: RoomEvent;
  sender: string;
  target: string;
  senderMembership: string | undefined;
  targetMembership: string | undefined;
  levels: PowerLevelsView;
}

export function checkMemberEvent(version: RoomVersion, event: RoomEvent, state: AuthState, create: RoomEvent): Verdict {
  const numbers = ruleNumbers(version);
  const sub = numbers.memberSub;
  const content = contentOf(event);
  const target = stateKeyOf(event);
  if (target === undefined || !hasOwn(content, 'membership')) {
    return deny(version, 'membership_invalid', `${numbers.member}.${sub.fields}`, 'no state_key or no content.membership');
  }
  if (sub.authorisingServer && hasOwn(content, 'join_authorised_via_users_server')
      && !isSignedByAuthorisingServer(event, getOwn(content, 'join_authorised_via_users_server'))) {
    return deny(version, 'authorising_server_unsigned', `${numbers.member}.${sub.authorisingServer}.1`,
      'not signed by the server of join_authorised_via_users_server');
  }
  const sender = typeof event.sender === 'string' ? event.sender : '';
  const check: MemberCheck = {
    version, numbers, event, content, state, create, sender, target,
    senderMembership: membershipOf(state.get(memberKey(sender))),
    targetMembership: membershipOf(state.get(memberKey(target))),
    levels: new PowerLevelsView(version, state),
  };
  switch (getOwn(content, 'membership')) {
    case 'join': return checkJoin(check);
    case 'invite': return checkInvite(check);
    case 'leave': return checkLeave(check);
    case 'ban': return checkBan(check);
    case 'knock': if (version.knockingSupported) return checkKnock(check); break;
  }
  return deny(version, 'membership_invalid', `${numbers.member}.${sub.unknown}`, 'the membership is unknown');
}

/**
 * spec: rooms/v8 rule 4.2.1: "If the event is not validly signed by the homeserver of the user ID
 * denoted by the key, reject." Auth rules see no keys: this checks the event carries a signature
 * from that server; the signature check on receipt must verify it like the sender's.
 */
function isSignedByAuthorisingServer(event: RoomEvent, authoriser: unknown): boolean {
  if (!isValidUserId(authoriser)) return false;
  const signatures = event.signatures as unknown;
  const byServer = getOwn(signatures, domainOf(authoriser)!);
  return isObject(byServer) && Object.keys(byServer).length > 0;
}

function memberRule(c: MemberCheck, ...parts: number[]): string {
  return [c.numbers.member, ...parts].join('.');
}

function denyMember(c: MemberCheck, code: AuthRejectionCode, rule: number[], text: string): Verdict {
  return deny(c.version, code, memberRule(c, ...rule), text);
}

/** Reject if a power level the decision read is malformed (Synapse's int() raises there). */
function malformedLevels(c: MemberCheck, rule: number[]): Verdict | undefined {
  const field = c.levels.malformed;
  if (field === undefined) return undefined;
  return denyMember(c, 'power_levels_invalid', rule, `power level ${field} is not an integer`);
}

/** The join rule; with no m.room.join_rules (or no join_rule in it) Synapse assumes `invite`. */
function joinRuleOf(state: AuthState): unknown {
  const joinRules = state.get(JOIN_RULES_KEY);
  const rule = joinRules === undefined ? undefined : getOwn(contentOf(joinRules), 'join_rule');
  return rule ?? 'invite';
}

function isInvitedOrJoined(membership: string | undefined): boolean {
  return membership === 'invite' || membership === 'join';
}

// --- join ---

function checkJoin(c: MemberCheck): Verdict {
  const j = c.numbers.joinSub;
  const join = c.numbers.memberSub.join;
  if (isCreatorsFirstJoin(c)) return OK;
  if (c.sender !== c.target) return denyMember(c, 'join_forbidden', [join, j.senderIsTarget], 'sender does not match state_key');
  if (c.senderMembership === 'ban') return denyMember(c, 'join_forbidden', [join, j.banned], 'sender is banned');

  const joinRule = joinRuleOf(c.state);
  if (joinRule === 'invite' || (c.version.knockingSupported && joinRule === 'knock')) {
    if (isInvitedOrJoined(c.senderMembership)) return OK;
    return denyMember(c, 'join_forbidden', [join, j.invite], `join_rule is ${joinRule} and sender is not invited or joined`);
  }
  if (isRestrictedJoinRule(c.version, joinRule)) return checkRestrictedJoin(c);
  if (joinRule === 'public') return OK;
  return denyMember(c, 'join_forbidden', [join, j.otherwise], `join_rule ${JSON.stringify(joinRule)} does not allow joining`);
}

/** spec: rooms/v1 rule 5.2.1, rooms/v11 rule 4.3.1: the only previous event is the create and state_key is its creator. */
function isCreatorsFirstJoin(c: MemberCheck): boolean {
  const prev = referenceIds(c.event.prev_events);
  return prev.length === 1 && prev[0] === c.create.event_id && c.target === roomCreator(c.version, c.create);
}

function isRestrictedJoinRule(version: RoomVersion, joinRule: unknown): boolean {
  return (version.restrictedJoinsSupported && joinRule === 'restricted')
    || (version.knockRestrictedSupported && joinRule === 'knock_restricted');
}

// spec: rooms/v8 rule 4.3.5; rooms/v10 4.3.5 (also knock_restricted).
function checkRestrictedJoin(c: MemberCheck): Verdict {
  const rule = [c.numbers.memberSub.join, c.numbers.joinSub.restricted, 2];
  if (isInvitedOrJoined(c.senderMembership)) return OK;
  const authoriser = getOwn(c.content, 'join_authorised_via_users_server');
  if (typeof authoriser !== 'string') {
    return denyMember(c, 'join_forbidden', rule, 'no join_authorised_via_users_server');
  }
  if (membershipOf(c.state.get(memberKey(authoriser))) !== 'join') {
    return denyMember(c, 'join_forbidden', rule, 'join_authorised_via_users_server is not a joined member');
  }
  const authoriserLevel = c.levels.userLevel(authoriser);
  const inviteLevel = c.levels.namedLevel('invite');
  const malformed = malformedLevels(c, rule);
  if (malformed) return malformed;
  if (authoriserLevel < inviteLevel) {
    return denyMember(c, 'join_forbidden', rule, 'join_authorised_via_users_server may not invite users');
  }
  return OK;
}

// --- invite ---

function checkInvite(c: MemberCheck): Verdict {
  const invite = c.numbers.memberSub.invite;
  if (hasOwn(c.content, 'third_party_invite')) return checkThirdPartyInvite(c);
  if (c.senderMembership !== 'join') return denyMember(c, 'invite_forbidden', [invite, 2], 'sender is not joined');
  if (c.targetMembership === 'join' || c.targetMembership === 'ban') {
    return denyMember(c, 'invite_forbidden', [invite, 3], `target user's membership is ${c.targetMembership}`);
  }
  const senderLevel = c.levels.userLevel(c.sender);
  const inviteLevel = c.levels.namedLevel('invite');
  const malformed = malformedLevels(c, [invite, 4]);
  if (malformed) return malformed;
  if (senderLevel >= inviteLevel) return OK;
  return denyMember(c, 'insufficient_power', [invite, 5], "sender's power level is below the invite level");
}

// spec: rooms/v1 rule 5.3.1; rooms/v6+ rule 4.3.1 / 4.4.1 (v8+) / 5.4.1 (v12).
function checkThirdPartyInvite(c: MemberCheck): Verdict {
  const rule = (n: number) => [c.numbers.memberSub.invite, 1, n];
  const fail = (n: number, text: string) => denyMember(c, 'third_party_invite_invalid', rule(n), text);
  if (c.targetMembership === 'ban') return denyMember(c, 'invite_forbidden', rule(1), 'target user is banned');
  const signed = getOwn(getOwn(c.content, 'third_party_invite'), 'signed');
  if (!isObject(signed)) return fail(2, 'content.third_party_invite has no signed object');
  if (!hasOwn(signed, 'mxid') || !hasOwn(signed, 'token')) return fail(3, 'signed has no mxid or no token');
  if (getOwn(signed, 'mxid') !== c.target) return fail(4, 'signed.mxid does not match state_key');
  const token = getString(signed, 'token');
  const invite = token === undefined ? undefined : c.state.get(stateKey('m.room.third_party_invite', token));
  if (invite === undefined) return fail(5, 'no m.room.third_party_invite with state_key matching signed.token');
  if (invite.sender !== c.sender) return fail(6, 'sender does not match the sender of m.room.third_party_invite');
  if (isSignedByThirdPartyInvite(signed, invite)) return OK;
  return fail(8, "no signature in signed matches the third-party invite's public keys");
}

// --- leave ---

function checkLeave(c: MemberCheck): Verdict {
  const leave = c.numbers.memberSub.leave;
  if (c.sender === c.target) {
    const m = c.senderMembership;
    if (m === 'invite' || m === 'join' || (c.version.knockingSupported && m === 'knock')) return OK;
    return denyMember(c, 'leave_forbidden', [leave, 1], `sender cannot leave from membership ${m ?? 'none'}`);
  }
  if (c.senderMembership !== 'join') return denyMember(c, 'leave_forbidden', [leave, 2], 'sender is not joined');
  const senderLevel = c.levels.userLevel(c.sender);
  if (c.targetMembership === 'ban') {
    const banLevel = c.levels.namedLevel('ban');
    const malformed = malformedLevels(c, [leave, 3]);
    if (malformed) return malformed;
    if (senderLevel < banLevel) {
      return denyMember(c, 'insufficient_power', [leave, 3], "target is banned and sender's power level is below the ban level");
    }
  }
  const targetLevel = c.levels.userLevel(c.target);
  const kickLevel = c.levels.namedLevel('kick');
  const malformed = malformedLevels(c, [leave, 4]);
  if (malformed) return malformed;
  if (senderLevel >= kickLevel && targetLevel < senderLevel) return OK;
  return denyMember(c, 'insufficient_power', [leave, 5],
    "sender's power level is below the kick level or not above the target's");
}

// --- ban ---

function checkBan(c: MemberCheck): Verdict {
  const ban = c.numbers.memberSub.ban;
  if (c.senderMembership !== 'join') return denyMember(c, 'ban_forbidden', [ban, 1], 'sender is not joined');
  const senderLevel = c.levels.userLevel(c.sender);
  const targetLevel = c.levels.userLevel(c.target);
  const banLevel = c.levels.namedLevel('ban');
  const malformed = malformedLevels(c, [ban, 2]);
  if (malformed) return malformed;
  if (senderLevel >= banLevel && targetLevel < senderLevel) return OK;
  return denyMember(c, 'insufficient_power', [ban, 3],
    "sender's power level is below the ban level or not above the target's");
}

// --- knock (v7+) ---

function checkKnock(c: MemberCheck): Verdict {
  const knock = c.numbers.memberSub.knock;
  const joinRule = joinRuleOf(c.state);
  const knockable = joinRule === 'knock' || (c.version.knockRestrictedSupported && joinRule === 'knock_restricted');
  if (!knockable) return denyMember(c, 'knock_forbidden', [knock, 1], `join_rule ${JSON.stringify(joinRule)} does not allow knocking`);
  if (c.sender !== c.target) return denyMember(c, 'knock_forbidden', [knock, 2], 'sender does not match state_key');
  const m = c.senderMembership;
  if (m !== 'ban' && m !== 'invite' && m !== 'join') return OK;
  return denyMember(c, 'knock_forbidden', [knock, 4], `sender's membership is ${m}`);
}
