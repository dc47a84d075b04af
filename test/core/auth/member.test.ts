// m.room.member. spec: rooms/v1 auth rule 5; rooms/v6 rule 4; rooms/v7 (knock); rooms/v8
// (restricted); rooms/v10 (knock_restricted); rooms/v11 (creator = sender); rooms/v12 rule 5.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ruleNumbers } from '../../../src/core/auth/rules.js';
import { encodeCanonicalJson } from '../../../src/core/json.js';
import type { JsonObject } from '../../../src/core/pdu.js';
import type { RoomVersion } from '../../../src/core/room-versions.js';
import { ALICE, BOB, CAROL, EVE, MOD, TestRoom, VERSIONS, expectAllowed, expectRejected, versionsWhere } from './room.js';

const m = (v: RoomVersion, ...parts: number[]) => [ruleNumbers(v).member, ...parts].join('.');
const sub = (v: RoomVersion) => ruleNumbers(v).memberSub;

describe.each(VERSIONS)('m.room.member basics in v$id', (version) => {
  it('rejects a member event without state_key or membership (rule 4.1)', () => {
    const room = new TestRoom(version, { joinRule: 'public' });
    expectRejected(room.check({ type: 'm.room.member', sender: BOB, content: { membership: 'join' } }), 'membership_invalid', m(version, 1));
    expectRejected(room.check({ type: 'm.room.member', sender: BOB, state_key: BOB, content: {} }), 'membership_invalid', m(version, 1));
    expectAllowed(room.checkMember(BOB, BOB, 'join'));
  });

  it('rejects an unknown membership', () => {
    const room = new TestRoom(version, { joinRule: 'public' });
    expectRejected(room.checkMember(BOB, BOB, 'dance'), 'membership_invalid', m(version, sub(version).unknown));
    expectRejected(room.checkMember(BOB, BOB, 5 as unknown as string), 'membership_invalid', m(version, sub(version).unknown));
  });
});

describe('join', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    const join = sub(version).join;
    const j = ruleNumbers(version).joinSub;

    it("allows the creator's first join after the create event, only then (rule join.1)", () => {
      const room = new TestRoom(version, { powerLevels: null, joinRule: null });
      room.state.delete(`m.room.member\u0000${ALICE}`);
      expectAllowed(room.checkMember(ALICE, ALICE, 'join', {}, { prev_events: [room.ref(room.create)] }));
      // With other previous events, the invite rule applies and Alice is not invited.
      expectRejected(room.checkMember(ALICE, ALICE, 'join', {}, { prev_events: [room.ref(room.create), '$other'] }), 'join_forbidden', m(version, join, j.invite));
      // Someone else cannot use the creator's rule.
      expectRejected(room.checkMember(BOB, BOB, 'join', {}, { prev_events: [room.ref(room.create)] }), 'join_forbidden', m(version, join, j.invite));
    });

    it('rejects a join whose sender is not the state_key (rule join.2)', () => {
      const room = new TestRoom(version, { joinRule: 'public' });
      expectRejected(room.checkMember(ALICE, BOB, 'join'), 'join_forbidden', m(version, join, j.senderIsTarget));
    });

    it('rejects a banned user joining a public room (rule join.3)', () => {
      const room = new TestRoom(version, { joinRule: 'public' });
      expectAllowed(room.checkMember(BOB, BOB, 'join'));
      room.member(BOB, 'ban', ALICE);
      expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, join, j.banned));
    });

    it('invite join rule: allows invited or joined users, rejects others (rule join.4)', () => {
      const room = new TestRoom(version, { joinRule: 'invite' });
      expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, join, j.invite));
      room.member(BOB, 'invite', ALICE);
      expectAllowed(room.checkMember(BOB, BOB, 'join'));
      room.member(BOB, 'join');
      expectAllowed(room.checkMember(BOB, BOB, 'join', { displayname: 'Bob' }));
    });

    it('with no m.room.join_rules event, behaves as invite (as Synapse does)', () => {
      const room = new TestRoom(version, { joinRule: null });
      expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, join, j.invite));
      room.member(BOB, 'invite', ALICE);
      expectAllowed(room.checkMember(BOB, BOB, 'join'));
    });

    it('public join rule: allows anyone (rule join.public)', () => {
      const room = new TestRoom(version, { joinRule: 'public' });
      expectAllowed(room.checkMember(BOB, BOB, 'join'));
    });

    it('rejects joins under an unknown or malformed join rule (rule join.otherwise)', () => {
      for (const rule of ['private', 5, null]) {
        const room = new TestRoom(version);
        room.set({ type: 'm.room.join_rules', sender: ALICE, state_key: '', content: { join_rule: rule } as JsonObject });
        room.member(BOB, 'invite', ALICE);
        const verdict = room.checkMember(BOB, BOB, 'join');
        if (rule === null) expectAllowed(verdict); // null reads as absent: invite
        else expectRejected(verdict, 'join_forbidden', m(version, join, j.otherwise));
      }
    });
  });

  it.each(versionsWhere((v) => v.knockingSupported))('v$id: knock join rule lets invited users join (rule join.4, v7+)', (version) => {
    const room = new TestRoom(version, { joinRule: 'knock' });
    expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, sub(version).join, 4));
    room.member(BOB, 'invite', ALICE);
    expectAllowed(room.checkMember(BOB, BOB, 'join'));
  });
  it.each(versionsWhere((v) => !v.knockingSupported))('v$id: knock join rule is unknown, so even invited users cannot join', (version) => {
    const room = new TestRoom(version, { joinRule: 'knock' });
    room.member(BOB, 'invite', ALICE);
    expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, sub(version).join, ruleNumbers(version).joinSub.otherwise));
  });

  it.each(versionsWhere((v) => !v.implicitRoomCreator))("v$id: the creator's first join follows content.creator", (version) => {
    const room = new TestRoom(version, { createContent: { creator: BOB, room_version: version.id }, powerLevels: null, joinRule: null });
    expectAllowed(room.checkMember(BOB, BOB, 'join', {}, { prev_events: [room.ref(room.create)] }));
  });
  it.each(versionsWhere((v) => v.implicitRoomCreator))("v$id: the creator's first join follows the create event's sender", (version) => {
    const room = new TestRoom(version, { createContent: { creator: BOB, room_version: version.id }, powerLevels: null, joinRule: null });
    expectRejected(room.checkMember(BOB, BOB, 'join', {}, { prev_events: [room.ref(room.create)] }), 'join_forbidden');
    room.state.delete(`m.room.member\u0000${ALICE}`);
    expectAllowed(room.checkMember(ALICE, ALICE, 'join', {}, { prev_events: [room.ref(room.create)] }));
  });
  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: additional creators do not get the first-join rule', (version) => {
    const room = new TestRoom(version, { createContent: { room_version: version.id, additional_creators: [BOB] }, powerLevels: null, joinRule: null });
    expectRejected(room.checkMember(BOB, BOB, 'join', {}, { prev_events: [room.ref(room.create)] }), 'join_forbidden');
  });
});

describe('restricted joins (v8+) and knock_restricted (v10+)', () => {
  const authorised = (room: TestRoom, by: string) =>
    room.checkMember(BOB, BOB, 'join', { join_authorised_via_users_server: by }, {
      signatures: { 'b.example': { 'ed25519:1': 's' }, [by.slice(by.indexOf(':') + 1)]: { 'ed25519:1': 's' } },
    });

  describe.each(versionsWhere((v) => v.restrictedJoinsSupported))('v$id', (version) => {
    const rule = m(version, sub(version).join, 5, 2);
    const restricted = () => {
      const room = new TestRoom(version);
      room.joinRule('restricted', { allow: [{ type: 'm.room_membership', room_id: '!other:a.example' }] });
      return room;
    };

    it('allows a join authorised by a joined user who can invite (rule join.5.3)', () => {
      const room = restricted();
      room.member(MOD, 'join');
      expectAllowed(authorised(room, MOD));
    });
    it('allows invited or joined users without an authoriser (rule join.5.1)', () => {
      const room = restricted();
      room.member(BOB, 'invite', ALICE);
      expectAllowed(room.checkMember(BOB, BOB, 'join'));
    });
    it('rejects a join with no authoriser (rule join.5.2)', () => {
      expectRejected(restricted().checkMember(BOB, BOB, 'join'), 'join_forbidden', rule);
    });
    it('rejects an authoriser who is not joined (rule join.5.2)', () => {
      const room = restricted();
      room.member(MOD, 'invite', ALICE);
      expectRejected(authorised(room, MOD), 'join_forbidden', rule);
    });
    it('rejects an authoriser below the invite level (rule join.5.2)', () => {
      const room = restricted();
      room.powerLevels({ users: version.privilegedCreators ? { [MOD]: 50 } : { [ALICE]: 100, [MOD]: 50 }, invite: 60 });
      room.member(MOD, 'join');
      expectRejected(authorised(room, MOD), 'join_forbidden', rule);
      room.member(CAROL, 'join');
      expectRejected(authorised(room, CAROL), 'join_forbidden', rule);
      // The creator can always authorise (100 before v12, infinite in v12).
      expectAllowed(authorised(room, ALICE));
    });
    it("rejects a join_authorised_via_users_server the authoriser's server did not sign (rule 4.2.1)", () => {
      const room = restricted();
      room.member(CAROL, 'join');
      const unsigned = room.checkMember(BOB, BOB, 'join', { join_authorised_via_users_server: CAROL });
      expectRejected(unsigned, 'authorising_server_unsigned', m(version, 2, 1));
      const notAUser = room.checkMember(BOB, BOB, 'join', { join_authorised_via_users_server: 'carol' });
      expectRejected(notAUser, 'authorising_server_unsigned', m(version, 2, 1));
    });
  });

  it.each(versionsWhere((v) => !v.restrictedJoinsSupported))('v$id: restricted is an unknown join rule; the authoriser key is ignored', (version) => {
    const room = new TestRoom(version);
    room.joinRule('restricted');
    room.member(MOD, 'join');
    expectRejected(authorised(room, MOD), 'join_forbidden', m(version, sub(version).join, ruleNumbers(version).joinSub.otherwise));
    const publicRoom = new TestRoom(version, { joinRule: 'public' });
    expectAllowed(publicRoom.checkMember(BOB, BOB, 'join', { join_authorised_via_users_server: CAROL }));
  });

  it.each(versionsWhere((v) => v.knockRestrictedSupported))('v$id: knock_restricted allows authorised joins', (version) => {
    const room = new TestRoom(version);
    room.joinRule('knock_restricted');
    room.member(MOD, 'join');
    expectAllowed(authorised(room, MOD));
    expectRejected(room.checkMember(BOB, BOB, 'join'), 'join_forbidden', m(version, sub(version).join, 5, 2));
  });
  it.each(versionsWhere((v) => !v.knockRestrictedSupported))('v$id: knock_restricted is an unknown join rule', (version) => {
    const room = new TestRoom(version);
    room.joinRule('knock_restricted');
    room.member(MOD, 'join');
    expectRejected(authorised(room, MOD), 'join_forbidden', m(version, sub(version).join, ruleNumbers(version).joinSub.otherwise));
  });
});

describe('invite', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    const invite = sub(version).invite;
    it('allows a joined sender at the invite level (rule invite.4)', () => {
      expectAllowed(new TestRoom(version).checkMember(ALICE, BOB, 'invite'));
    });
    it('rejects a sender who is not joined (rule invite.2)', () => {
      const room = new TestRoom(version);
      room.member(CAROL, 'invite', ALICE);
      expectRejected(room.checkMember(CAROL, BOB, 'invite'), 'invite_forbidden', m(version, invite, 2));
    });
    it('rejects inviting a joined or banned user (rule invite.3)', () => {
      const room = new TestRoom(version, { joinRule: 'public' });
      room.member(BOB, 'join');
      expectRejected(room.checkMember(ALICE, BOB, 'invite'), 'invite_forbidden', m(version, invite, 3));
      room.member(BOB, 'ban', ALICE);
      expectRejected(room.checkMember(ALICE, BOB, 'invite'), 'invite_forbidden', m(version, invite, 3));
    });
    it('rejects a sender below the invite level (rule invite.5)', () => {
      const room = new TestRoom(version);
      room.powerLevels({ users: { [MOD]: 50 }, invite: 51 });
      room.member(MOD, 'join');
      expectRejected(room.checkMember(MOD, BOB, 'invite'), 'insufficient_power', m(version, invite, 5));
      room.powerLevels({ users: { [MOD]: 50 }, invite: 50 });
      expectAllowed(room.checkMember(MOD, BOB, 'invite'));
    });
  });
});

describe('third-party invites', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicKeyB64 = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64').replace(/=+$/, '');
  const other = generateKeyPairSync('ed25519');

  function signedBlock(mxid: string, token: string, key = privateKey): JsonObject {
    const body = { mxid, sender: ALICE, token };
    const signature = sign(null, Buffer.from(encodeCanonicalJson(body)), key).toString('base64').replace(/=+$/, '');
    return { ...body, signatures: { 'id.example': { 'ed25519:0': signature } } };
  }

  function roomWithInvite(version: RoomVersion, content: JsonObject = { public_key: publicKeyB64 }): TestRoom {
    const room = new TestRoom(version);
    room.set({ type: 'm.room.third_party_invite', sender: ALICE, state_key: 'tok', content: { display_name: 'b...', key_validity_url: 'https://id.example/v', ...content } });
    return room;
  }
  const invite = (room: TestRoom, thirdParty: unknown, sender = ALICE, target = BOB) =>
    room.checkMember(sender, target, 'invite', { third_party_invite: thirdParty as JsonObject });

  describe.each(VERSIONS)('v$id', (version) => {
    const r = (n: number) => m(version, sub(version).invite, 1, n);
    it('allows an invite whose signed block verifies with public_key (rule 1.7)', () => {
      expectAllowed(invite(roomWithInvite(version), { display_name: 'b', signed: signedBlock(BOB, 'tok') }));
    });
    it('allows a signature matching any of public_keys', () => {
      const room = roomWithInvite(version, { public_keys: [{ public_key: 'AAAA' }, 5, { public_key: publicKeyB64 }] as JsonObject[] });
      expectAllowed(invite(room, { display_name: 'b', signed: signedBlock(BOB, 'tok') }));
    });
    it('does not require the sender to be joined: the third-party invite event vouches (rule 1.7)', () => {
      const room = roomWithInvite(version);
      room.member(ALICE, 'leave');
      expectAllowed(invite(room, { display_name: 'b', signed: signedBlock(BOB, 'tok') }));
    });
    it('rejects an invite to a banned user (rule 1.1)', () => {
      const room = roomWithInvite(version);
      room.member(BOB, 'ban', ALICE);
      expectRejected(invite(room, { signed: signedBlock(BOB, 'tok') }), 'invite_forbidden', r(1));
    });
    it('rejects a missing signed block (rule 1.2)', () => {
      expectRejected(invite(roomWithInvite(version), { display_name: 'b' }), 'third_party_invite_invalid', r(2));
      expectRejected(invite(roomWithInvite(version), 'nonsense'), 'third_party_invite_invalid', r(2));
    });
    it('rejects a signed block without mxid or token (rule 1.3)', () => {
      const { token: _t, ...noToken } = signedBlock(BOB, 'tok');
      expectRejected(invite(roomWithInvite(version), { signed: noToken }), 'third_party_invite_invalid', r(3));
    });
    it('rejects an mxid other than the state_key (rule 1.4)', () => {
      expectRejected(invite(roomWithInvite(version), { signed: signedBlock(CAROL, 'tok') }), 'third_party_invite_invalid', r(4));
    });
    it('rejects a token with no m.room.third_party_invite (rule 1.5)', () => {
      expectRejected(invite(roomWithInvite(version), { signed: signedBlock(BOB, 'other') }), 'third_party_invite_invalid', r(5));
    });
    it('rejects a sender other than the third-party invite sender (rule 1.6)', () => {
      const room = roomWithInvite(version);
      room.member(MOD, 'join');
      expectRejected(invite(room, { signed: signedBlock(BOB, 'tok') }, MOD), 'third_party_invite_invalid', r(6));
    });
    it('rejects a signature from another key, or a tampered block (rule 1.8)', () => {
      expectRejected(invite(roomWithInvite(version), { signed: signedBlock(BOB, 'tok', other.privateKey) }), 'third_party_invite_invalid', r(8));
      const tampered = { ...signedBlock(BOB, 'tok'), sender: EVE };
      expectRejected(invite(roomWithInvite(version), { signed: tampered }), 'third_party_invite_invalid', r(8));
      const room = roomWithInvite(version, { public_key: 'not base64!' });
      expectRejected(invite(room, { signed: signedBlock(BOB, 'tok') }), 'third_party_invite_invalid', r(8));
    });
  });
});

describe('leave', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    const leave = sub(version).leave;
    it('allows leaving from join or invite, rejects from leave or ban (rule leave.1)', () => {
      const room = new TestRoom(version);
      room.member(BOB, 'join');
      expectAllowed(room.checkMember(BOB, BOB, 'leave'));
      room.member(BOB, 'invite', ALICE);
      expectAllowed(room.checkMember(BOB, BOB, 'leave'));
      room.member(BOB, 'leave');
      expectRejected(room.checkMember(BOB, BOB, 'leave'), 'leave_forbidden', m(version, leave, 1));
      room.member(BOB, 'ban', ALICE);
      expectRejected(room.checkMember(BOB, BOB, 'leave'), 'leave_forbidden', m(version, leave, 1));
      expectRejected(room.checkMember(CAROL, CAROL, 'leave'), 'leave_forbidden', m(version, leave, 1));
    });
    it('rejects kicks by a sender who is not joined (rule leave.2)', () => {
      const room = new TestRoom(version);
      room.member(BOB, 'join');
      room.member(ALICE, 'leave');
      expectRejected(room.checkMember(ALICE, BOB, 'leave'), 'leave_forbidden', m(version, leave, 2));
    });
    it('unban needs the ban level (rule leave.3)', () => {
      const room = new TestRoom(version);
      room.member(BOB, 'ban', ALICE);
      room.member(MOD, 'join');
      room.powerLevels({ users: { [MOD]: 50 }, ban: 60, kick: 0 });
      expectRejected(room.checkMember(MOD, BOB, 'leave'), 'insufficient_power', m(version, leave, 3));
      room.powerLevels({ users: { [MOD]: 50 }, ban: 50, kick: 0 });
      expectAllowed(room.checkMember(MOD, BOB, 'leave'));
    });
    it('kick needs the kick level and more power than the target (rules leave.4, leave.5)', () => {
      const room = new TestRoom(version);
      room.member(MOD, 'join');
      room.member(BOB, 'join');
      room.member(CAROL, 'join');
      room.powerLevels({ users: { [MOD]: 50, [CAROL]: 50 }, kick: 50 });
      expectAllowed(room.checkMember(MOD, BOB, 'leave'));
      expectRejected(room.checkMember(MOD, CAROL, 'leave'), 'insufficient_power', m(version, leave, 5));
      room.powerLevels({ users: { [MOD]: 50 }, kick: 51 });
      expectRejected(room.checkMember(MOD, BOB, 'leave'), 'insufficient_power', m(version, leave, 5));
    });
  });

  it.each(versionsWhere((v) => v.knockingSupported))('v$id: a knocking user may rescind the knock', (version) => {
    const room = new TestRoom(version, { joinRule: 'knock' });
    room.member(BOB, 'knock');
    expectAllowed(room.checkMember(BOB, BOB, 'leave'));
  });
  it.each(versionsWhere((v) => !v.knockingSupported))('v$id: a knock membership (unknown here) does not allow leaving', (version) => {
    const room = new TestRoom(version);
    room.member(BOB, 'knock');
    expectRejected(room.checkMember(BOB, BOB, 'leave'), 'leave_forbidden', m(version, sub(version).leave, 1));
  });
});

describe('ban', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    const ban = sub(version).ban;
    it('allows a joined sender at the ban level above the target (rule ban.2)', () => {
      const room = new TestRoom(version);
      room.member(MOD, 'join');
      expectAllowed(room.checkMember(MOD, BOB, 'ban'));
      expectAllowed(room.checkMember(ALICE, MOD, 'ban'));
    });
    it('rejects a sender who is not joined (rule ban.1)', () => {
      const room = new TestRoom(version);
      room.member(MOD, 'leave');
      expectRejected(room.checkMember(MOD, BOB, 'ban'), 'ban_forbidden', m(version, ban, 1));
    });
    it('rejects a sender below the ban level or not above the target (rule ban.3)', () => {
      const room = new TestRoom(version);
      room.member(MOD, 'join');
      room.member(CAROL, 'join');
      room.powerLevels({ users: { [MOD]: 50, [CAROL]: 50 }, ban: 50 });
      expectRejected(room.checkMember(MOD, CAROL, 'ban'), 'insufficient_power', m(version, ban, 3));
      room.powerLevels({ users: { [MOD]: 50 }, ban: 51 });
      expectRejected(room.checkMember(MOD, BOB, 'ban'), 'insufficient_power', m(version, ban, 3));
    });
  });
});

describe('knock', () => {
  describe.each(versionsWhere((v) => v.knockingSupported))('v$id', (version) => {
    const knock = sub(version).knock;
    it('allows knocking on a knock room (rule knock.3)', () => {
      expectAllowed(new TestRoom(version, { joinRule: 'knock' }).checkMember(BOB, BOB, 'knock'));
    });
    it('rejects knocking when the join rule is not knock (rule knock.1)', () => {
      for (const joinRule of ['invite', 'public', 'restricted']) {
        expectRejected(new TestRoom(version, { joinRule }).checkMember(BOB, BOB, 'knock'), 'knock_forbidden', m(version, knock, 1));
      }
    });
    it('rejects knocking for someone else (rule knock.2)', () => {
      expectRejected(new TestRoom(version, { joinRule: 'knock' }).checkMember(ALICE, BOB, 'knock'), 'knock_forbidden', m(version, knock, 2));
    });
    it('rejects knocks from banned, invited or joined users (rule knock.4)', () => {
      for (const membership of ['ban', 'invite', 'join']) {
        const room = new TestRoom(version, { joinRule: 'knock' });
        room.member(BOB, membership, membership === 'join' ? BOB : ALICE);
        expectRejected(room.checkMember(BOB, BOB, 'knock'), 'knock_forbidden', m(version, knock, 4));
      }
      const room = new TestRoom(version, { joinRule: 'knock' });
      room.member(BOB, 'leave');
      expectAllowed(room.checkMember(BOB, BOB, 'knock'));
    });
  });

  it.each(versionsWhere((v) => !v.knockingSupported))('v$id: knock is an unknown membership', (version) => {
    expectRejected(new TestRoom(version, { joinRule: 'knock' }).checkMember(BOB, BOB, 'knock'), 'membership_invalid', m(version, sub(version).unknown));
  });
  it.each(versionsWhere((v) => v.knockRestrictedSupported))('v$id: knocking on a knock_restricted room is allowed', (version) => {
    expectAllowed(new TestRoom(version, { joinRule: 'knock_restricted' }).checkMember(BOB, BOB, 'knock'));
  });
  it.each(versionsWhere((v) => v.knockingSupported && !v.knockRestrictedSupported))('v$id: knocking on knock_restricted is rejected', (version) => {
    expectRejected(new TestRoom(version, { joinRule: 'knock_restricted' }).checkMember(BOB, BOB, 'knock'), 'knock_forbidden', m(version, sub(version).knock, 1));
  });
});

describe('v12 creators in membership', () => {
  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: nobody can kick or ban a creator, a creator can kick anyone', (version) => {
    const room = new TestRoom(version, { createContent: { room_version: version.id, additional_creators: [CAROL] } });
    room.member(CAROL, 'join');
    room.member(MOD, 'join');
    room.powerLevels({ users: { [MOD]: 9000 } });
    expectRejected(room.checkMember(MOD, CAROL, 'ban'), 'insufficient_power');
    expectRejected(room.checkMember(MOD, ALICE, 'leave'), 'insufficient_power');
    expectRejected(room.checkMember(ALICE, CAROL, 'ban'), 'insufficient_power'); // infinite is not above infinite
    expectAllowed(room.checkMember(CAROL, MOD, 'ban'));
  });
  it.each(versionsWhere((v) => !v.privilegedCreators))('v$id: the creator has only their power level', (version) => {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    room.powerLevels({ users: { [MOD]: 9000, [ALICE]: 100 } });
    expectAllowed(room.checkMember(MOD, ALICE, 'ban'));
  });
});

describe('membership with malformed power levels', () => {
  it.each(versionsWhere((v) => !v.integerPowerLevels))('v$id: integer strings work, other strings reject the decision that reads them', (version) => {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    room.powerLevels({ users: { [MOD]: ' +50 ' }, ban: '0050', kick: 'fifty' });
    expectAllowed(room.checkMember(MOD, BOB, 'ban'));
    room.member(BOB, 'join');
    expectRejected(room.checkMember(MOD, BOB, 'leave'), 'power_levels_invalid');
    expect(room.checkMember(BOB, BOB, 'leave').ok).toBe(true); // reads no power level
  });
  it.each(versionsWhere((v) => v.integerPowerLevels))('v$id: string power levels in state are not power levels', (version) => {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    room.powerLevels({ users: { [MOD]: 50 }, ban: '0' });
    expectRejected(room.checkMember(MOD, BOB, 'ban'), 'power_levels_invalid');
  });
});
