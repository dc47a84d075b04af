// spec: server-server-api "Auth events selection"; rooms/v1 auth rule 2; rooms/v12 rules 2, 3.
import { describe, expect, it } from 'vitest';
import { authEventsToState, authTypesForEvent, authorizeEvent, checkAuthEventsList } from '../../../src/core/auth.js';
import { stateKey, type PDU, type RoomEvent } from '../../../src/core/pdu.js';
import type { RoomVersion } from '../../../src/core/room-versions.js';
import { ALICE, BOB, CAROL, TestRoom, VERSIONS, expectAllowed, expectRejected, versionsWhere } from './room.js';

const sorted = (pairs: Array<[string, string]>) => pairs.map(([t, k]) => `${t}|${k}`).sort();
const withCreate = (version: RoomVersion, pairs: Array<[string, string]>): Array<[string, string]> =>
  version.createEventInAuthEvents ? [['m.room.create', ''], ...pairs] : pairs;

describe('authTypesForEvent', () => {
  const pdu = (over: Partial<PDU>): PDU => ({
    type: 'm.room.message', sender: BOB, content: {}, prev_events: [], auth_events: [], depth: 1,
    origin_server_ts: 1, hashes: { sha256: 'x' }, signatures: {}, ...over,
  });

  describe.each(VERSIONS)('v$id', (version) => {
    it('selects nothing for m.room.create', () => {
      expect(authTypesForEvent(version, pdu({ type: 'm.room.create', state_key: '' }))).toEqual([]);
    });
    it('selects create (not in v12), power levels and the sender for ordinary events', () => {
      expect(sorted(authTypesForEvent(version, pdu({})))).toEqual(
        sorted(withCreate(version, [['m.room.power_levels', ''], ['m.room.member', BOB]])));
    });
    it('adds target and join rules for join/invite/knock, only the target for leave/ban', () => {
      for (const membership of ['join', 'invite', 'knock']) {
        const types = authTypesForEvent(version, pdu({ type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership } }));
        expect(sorted(types)).toEqual(sorted(withCreate(version, [
          ['m.room.power_levels', ''], ['m.room.member', ALICE], ['m.room.member', BOB], ['m.room.join_rules', '']])));
      }
      for (const membership of ['leave', 'ban']) {
        const types = authTypesForEvent(version, pdu({ type: 'm.room.member', sender: ALICE, state_key: BOB, content: { membership } }));
        expect(sorted(types)).toEqual(sorted(withCreate(version, [['m.room.power_levels', ''], ['m.room.member', ALICE], ['m.room.member', BOB]])));
      }
    });
    it('does not repeat the sender when they are the target', () => {
      const types = authTypesForEvent(version, pdu({ type: 'm.room.member', state_key: BOB, content: { membership: 'leave' } }));
      expect(types.filter(([t, k]) => t === 'm.room.member' && k === BOB)).toHaveLength(1);
    });
    it('adds the third-party invite named by signed.token', () => {
      const content = { membership: 'invite', third_party_invite: { display_name: 'x', signed: { mxid: BOB, token: 'tok', signatures: {} } } };
      const types = authTypesForEvent(version, pdu({ type: 'm.room.member', sender: ALICE, state_key: BOB, content }));
      expect(sorted(types)).toContain('m.room.third_party_invite|tok');
    });
    it('never throws on malformed member content', () => {
      for (const content of [null, [], { membership: 5 }, { membership: 'invite', third_party_invite: 'x' }, { membership: 'join', join_authorised_via_users_server: 5 }]) {
        expect(() => authTypesForEvent(version, pdu({ type: 'm.room.member', state_key: BOB, content: content as never }))).not.toThrow();
      }
      expect(() => authTypesForEvent(version, pdu({ type: 'm.room.member', content: { membership: 'join' } }))).not.toThrow();
    });
  });

  it.each(versionsWhere((v) => v.restrictedJoinsSupported))('v$id: adds the authorising user for restricted joins', (version) => {
    const content = { membership: 'join', join_authorised_via_users_server: CAROL };
    expect(sorted(authTypesForEvent(version, pdu({ type: 'm.room.member', state_key: BOB, content })))).toContain(`m.room.member|${CAROL}`);
    const invite = { membership: 'invite', join_authorised_via_users_server: CAROL };
    expect(sorted(authTypesForEvent(version, pdu({ type: 'm.room.member', state_key: BOB, content: invite })))).not.toContain(`m.room.member|${CAROL}`);
  });
  it.each(versionsWhere((v) => !v.restrictedJoinsSupported))('v$id: ignores join_authorised_via_users_server', (version) => {
    const content = { membership: 'join', join_authorised_via_users_server: CAROL };
    expect(sorted(authTypesForEvent(version, pdu({ type: 'm.room.member', state_key: BOB, content })))).not.toContain(`m.room.member|${CAROL}`);
  });
});

describe('checkAuthEventsList', () => {
  /** A room where Bob is joined, and a message from Bob with the right auth events. */
  function setUp(version: RoomVersion) {
    const room = new TestRoom(version);
    const bob = room.member(BOB, 'join');
    const get = (type: string, key = '') => room.state.get(stateKey(type, key))!;
    const authEvents = [get('m.room.power_levels'), bob, ...(version.createEventInAuthEvents ? [room.create] : [])];
    const message = (auth: RoomEvent[] = authEvents) => room.event({ type: 'm.room.message', sender: BOB, auth_events: auth.map((e) => room.ref(e)) });
    return { room, bob, get, authEvents, message, context: { createEvent: room.create } };
  }
  const numbers = (version: RoomVersion) => (version.roomIdIsCreateEventHash ? 3 : 2);

  describe.each(VERSIONS)('v$id', (version) => {
    const rule = (n: number) => `${numbers(version)}.${n}`;
    it('allows the auth events the selection names, and they authorise the event', () => {
      const { room, authEvents, message, context } = setUp(version);
      const event = message();
      expectAllowed(checkAuthEventsList(version, event, authEvents, context));
      expectAllowed(authorizeEvent(version, event, authEventsToState(authEvents, room.create)));
    });
    it('allows fewer auth events than selected (each is "if any")', () => {
      const { authEvents, message, context, bob } = setUp(version);
      const fewer = authEvents.filter((e) => e !== bob);
      expectAllowed(checkAuthEventsList(version, message(fewer), fewer, context));
    });
    it('rejects duplicate (type, state_key) entries (rule 2.1)', () => {
      const { room, authEvents, message, context } = setUp(version);
      const second = room.member(BOB, 'join');
      const list = [...authEvents, second];
      expectRejected(checkAuthEventsList(version, message(list), list, context), 'auth_events_invalid', rule(1));
    });
    it('rejects entries the selection does not name (rule 2.2)', () => {
      const { get, authEvents, message, context } = setUp(version);
      const list = [...authEvents, get('m.room.join_rules')];
      expectRejected(checkAuthEventsList(version, message(list), list, context), 'auth_events_invalid', rule(2));
    });
    it('rejects rejected entries (rule 2.3)', () => {
      const { bob, authEvents, message, context } = setUp(version);
      const verdict = checkAuthEventsList(version, message(), authEvents, { ...context, isRejected: (id) => id === bob.event_id });
      expectRejected(verdict, 'auth_events_invalid', rule(3));
    });
    it('rejects auth events from another room (rule 2.5)', () => {
      const { bob, authEvents, message, context } = setUp(version);
      const foreign = { ...bob, room_id: '!elsewhere:b.example' };
      const list = authEvents.map((e) => (e === bob ? foreign : e));
      expectRejected(checkAuthEventsList(version, message(list), list, context), 'room_id_mismatch', rule(5));
    });
    it('reports auth events the caller did not supply', () => {
      const { authEvents, message, context } = setUp(version);
      expectRejected(checkAuthEventsList(version, message(), authEvents.slice(1), context), 'auth_event_missing');
    });
    it('does not apply to m.room.create', () => {
      const { room } = setUp(version);
      expectAllowed(checkAuthEventsList(version, room.create, []));
    });
  });

  it.each(versionsWhere((v) => v.createEventInAuthEvents))('v$id: requires the create event among the entries (rule 2.4)', (version) => {
    const { authEvents, message, room } = setUp(version);
    const list = authEvents.filter((e) => e !== room.create);
    expectRejected(checkAuthEventsList(version, message(list), list), 'create_missing', '2.4');
  });

  describe.each(versionsWhere((v) => !v.createEventInAuthEvents))('v$id (create implied by room_id)', (version) => {
    it('rejects a listed create event (rule 3.2)', () => {
      const { authEvents, message, context, room } = setUp(version);
      const list = [...authEvents, room.create];
      expectRejected(checkAuthEventsList(version, message(list), list, context), 'auth_events_invalid', '3.2');
    });
    it('rejects when the create event is unknown, rejected, or not the one room_id names (rule 2)', () => {
      const { authEvents, message, context, room } = setUp(version);
      expectRejected(checkAuthEventsList(version, message(), authEvents), 'room_id_mismatch', '2');
      expectRejected(checkAuthEventsList(version, message(), authEvents, { ...context, isRejected: (id) => id === room.create.event_id }), 'room_id_mismatch', '2');
      const otherCreate = { ...room.create, event_id: '$anotherCreateHash' };
      expectRejected(checkAuthEventsList(version, message(), authEvents, { createEvent: otherCreate }), 'room_id_mismatch', '2');
      expectRejected(checkAuthEventsList(version, message(), authEvents, { createEvent: authEvents[0] }), 'room_id_mismatch', '2');
    });
  });
});
