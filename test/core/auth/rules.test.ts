// The rules outside create/member/power levels: the create event in the state, m.federate,
// aliases (v1–v5), sender membership, m.room.third_party_invite, required power level,
// state_key @-rule, redactions (v1–v2 rule; v3+ "Handling redactions").
import { describe, expect, it } from 'vitest';
import { authorizeEvent, redactsOf, userCanRedact } from '../../../src/core/auth.js';
import { ruleNumbers } from '../../../src/core/auth/rules.js';
import { stateKey, type JsonObject, type RoomEvent } from '../../../src/core/pdu.js';
import { ALICE, BOB, CAROL, MOD, TestRoom, V, VERSIONS, expectAllowed, expectRejected, versionsWhere } from './room.js';

const r = ruleNumbers;

describe('the create event in the state', () => {
  it.each(VERSIONS)('v$id: rejects when the state has no m.room.create', (version) => {
    const room = new TestRoom(version);
    room.state.delete(stateKey('m.room.create', ''));
    expectRejected(room.check({ type: 'm.room.message', sender: ALICE }), 'create_missing',
      version.roomIdIsCreateEventHash ? '2' : `${r(version).authEvents}.4`);
  });
  it.each(versionsWhere((v) => !v.roomIdIsCreateEventHash))('v$id: rejects a create event from another room (rule 2.5)', (version) => {
    const room = new TestRoom(version);
    const event = room.event({ type: 'm.room.message', sender: ALICE, room_id: '!other:a.example' });
    expectRejected(authorizeEvent(version, event, room.state), 'room_id_mismatch', '2.5');
  });
  it.each(versionsWhere((v) => v.roomIdIsCreateEventHash))('v$id: rejects a room_id that is not the create event ID (rule 2)', (version) => {
    const room = new TestRoom(version);
    for (const roomId of ['!someOtherHash', `$${room.create.event_id.slice(1)}`, room.create.event_id]) {
      const event = room.event({ type: 'm.room.message', sender: ALICE, room_id: roomId });
      expectRejected(authorizeEvent(version, event, room.state), 'room_id_mismatch', '2');
    }
    expectAllowed(room.check({ type: 'm.room.message', sender: ALICE }));
  });
});

describe('m.federate (rule 3; v12 rule 4)', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    const fed = `${r(version).federate}`;
    const room = (federate: unknown) => {
      const t = new TestRoom(version, {
        joinRule: 'public',
        createContent: { ...(version.implicitRoomCreator ? {} : { creator: ALICE }), 'm.federate': federate as boolean },
      });
      t.member(BOB, 'join');
      t.member('@dave:a.example', 'join');
      return t;
    };
    it('rejects remote senders when m.federate is false, allows local ones', () => {
      const t = room(false);
      expectRejected(t.check({ type: 'm.room.message', sender: BOB }), 'room_not_federated', fed);
      expectRejected(t.checkMember(CAROL, CAROL, 'join'), 'room_not_federated', fed);
      expectAllowed(t.check({ type: 'm.room.message', sender: '@dave:a.example' }));
    });
    it('allows remote senders when m.federate is true or absent', () => {
      expectAllowed(room(true).check({ type: 'm.room.message', sender: BOB }));
      const t = new TestRoom(version, { joinRule: 'public' });
      t.member(BOB, 'join');
      expectAllowed(t.check({ type: 'm.room.message', sender: BOB }));
    });
    it('treats any non-true m.federate as false, as Synapse does', () => {
      expectRejected(room('false').check({ type: 'm.room.message', sender: BOB }), 'room_not_federated', fed);
      expectRejected(room(0).check({ type: 'm.room.message', sender: BOB }), 'room_not_federated', fed);
    });
  });
});

describe('m.room.aliases', () => {
  it.each(versionsWhere((v) => v.specialCaseAliasesAuth))('v$id: any server may set its own aliases, even without joining (rule 4)', (version) => {
    const room = new TestRoom(version);
    expectAllowed(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'b.example', content: { aliases: ['#x:b.example'] } }));
    expectRejected(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'a.example', content: {} }), 'aliases_invalid', '4.2');
    expectRejected(room.check({ type: 'm.room.aliases', sender: BOB, content: {} }), 'aliases_invalid', '4.1');
  });
  it.each(versionsWhere((v) => !v.specialCaseAliasesAuth))('v$id: aliases are an ordinary state event (rule 4 removed in v6)', (version) => {
    const room = new TestRoom(version);
    expectRejected(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'b.example', content: {} }), 'sender_not_joined');
    room.member(BOB, 'join');
    expectRejected(room.check({ type: 'm.room.aliases', sender: BOB, state_key: 'b.example', content: {} }), 'insufficient_power');
    expectAllowed(room.check({ type: 'm.room.aliases', sender: ALICE, state_key: 'b.example', content: {} }));
  });
});

describe.each(VERSIONS)('default rules in v$id', (version) => {
  const n = r(version);
  it('rejects events from senders who are not joined', () => {
    const room = new TestRoom(version);
    room.member(BOB, 'invite', ALICE);
    expectRejected(room.check({ type: 'm.room.message', sender: BOB }), 'sender_not_joined', `${n.senderJoined}`);
    expectRejected(room.check({ type: 'm.room.message', sender: CAROL }), 'sender_not_joined', `${n.senderJoined}`);
    room.member(BOB, 'join');
    expectAllowed(room.check({ type: 'm.room.message', sender: BOB, content: { body: 'hi' } }));
  });

  it('m.room.third_party_invite needs the invite level', () => {
    const room = new TestRoom(version);
    room.member(BOB, 'join');
    const invite = { type: 'm.room.third_party_invite', sender: BOB, state_key: 'tok', content: { public_key: 'x' } };
    expectAllowed(room.check(invite));
    room.powerLevels({ users: version.privilegedCreators ? {} : { [ALICE]: 100 }, invite: 1, state_default: 100 });
    expectRejected(room.check(invite), 'insufficient_power', `${n.thirdPartyInvite}.1`);
    // It is exempt from the required power level (state_default 100 here).
    room.member(MOD, 'join');
    room.powerLevels({ users: { ...(version.privilegedCreators ? {} : { [ALICE]: 100 }), [MOD]: 1 }, invite: 1, state_default: 100 });
    expectAllowed(room.check({ ...invite, sender: MOD }));
  });

  it('enforces the required power level of the event type', () => {
    const room = new TestRoom(version);
    room.member(BOB, 'join');
    room.member(MOD, 'join');
    expectRejected(room.check({ type: 'm.room.name', sender: BOB, state_key: '', content: { name: 'x' } }), 'insufficient_power', `${n.requiredPowerLevel}`);
    expectAllowed(room.check({ type: 'm.room.name', sender: MOD, state_key: '', content: { name: 'x' } }));
    room.powerLevels({ users: { [MOD]: 50 }, events: { 'm.room.message': 10, 'm.room.name': 0 }, events_default: 0 });
    expectRejected(room.check({ type: 'm.room.message', sender: BOB }), 'insufficient_power', `${n.requiredPowerLevel}`);
    expectAllowed(room.check({ type: 'm.room.name', sender: BOB, state_key: '', content: { name: 'x' } }));
    expectAllowed(room.check({ type: 'm.reaction', sender: BOB }));
  });

  it('rejects state_keys naming another user (the @ rule)', () => {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    expectRejected(room.check({ type: 'm.custom', sender: MOD, state_key: BOB }), 'state_key_forbidden', `${n.stateKeyIsSender}`);
    expectAllowed(room.check({ type: 'm.custom', sender: MOD, state_key: MOD }));
    expectAllowed(room.check({ type: 'm.custom', sender: MOD, state_key: 'not@user' }));
  });

  it('rejects state events whose required level reads a malformed power level', () => {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    room.powerLevels({ users: { [MOD]: 50 }, state_default: 'lots' });
    expectRejected(room.check({ type: 'm.room.topic', sender: MOD, state_key: '' }), 'power_levels_invalid', `${n.requiredPowerLevel}`);
  });
});

describe('redactions', () => {
  const setUp = (id: string) => {
    const room = new TestRoom(V(id));
    room.member(BOB, 'join');
    room.member('@dave:a.example', 'join');
    return room;
  };
  it.each(['1', '2'])('v%s: rule 11: the redact level, or the same event ID domain', (id) => {
    const room = setUp(id);
    const redaction = (sender: string, redacts: unknown) => room.check({ type: 'm.room.redaction', sender, redacts, content: {} });
    expectAllowed(redaction(ALICE, '$x:b.example')); // 100 >= redact 50
    expectAllowed(redaction(BOB, '$x:b.example')); // same domain
    expectRejected(redaction(BOB, '$x:a.example'), 'redaction_forbidden', '11.3');
    expectRejected(redaction(BOB, undefined), 'redaction_forbidden', '11.3');
    expectRejected(redaction(BOB, 5), 'redaction_forbidden', '11.3');
  });
  it.each(versionsWhere((v) => v.redactionDomainCheckDeferred))('v$id: the auth rules do not check the redact level (checked when applied)', (version) => {
    const room = setUp(version.id);
    const content: JsonObject = version.redactsInContent ? { redacts: '$x:a.example' } : {};
    expectAllowed(room.check({ type: 'm.room.redaction', sender: BOB, redacts: '$x:a.example', content }));
    room.powerLevels({ users: version.privilegedCreators ? {} : { [ALICE]: 100 }, events: { 'm.room.redaction': 10 } });
    expectRejected(room.check({ type: 'm.room.redaction', sender: BOB, content }), 'insufficient_power');
  });

  it.each(VERSIONS)('v$id: userCanRedact', (version) => {
    const room = setUp(version.id);
    const original = room.event({ type: 'm.room.message', sender: '@dave:a.example' });
    const redaction = (sender: string, target: RoomEvent) => room.event({
      type: 'm.room.redaction', sender,
      ...(version.redactsInContent ? { content: { redacts: target.event_id } } : { redacts: target.event_id, content: {} }),
    });
    expect(redactsOf(version, redaction(BOB, original))).toBe(original.event_id);
    expect(userCanRedact(version, room.state, redaction(ALICE, original), original)).toBe(true); // redact level
    expect(userCanRedact(version, room.state, redaction(BOB, original), original)).toBe(false);
    const own = room.event({ type: 'm.room.message', sender: BOB });
    // v3+: same sender domain; v1–v2: same event ID domain ($n:b.example).
    expect(userCanRedact(version, room.state, redaction(BOB, own), own)).toBe(true);
    const other = room.event({ type: 'm.room.message', sender: ALICE });
    expect(userCanRedact(version, room.state, redaction(BOB, original), other)).toBe(false); // not the named event
  });
});
