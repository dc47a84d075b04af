// authorizeEvent must never throw: malformed events and state get a verdict, never an exception
// (and never the internal_error safety net).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authTypesForEvent, authorizeEvent, checkAuthEventsList, getPowerLevel, getRequiredPowerLevel } from '../../../src/core/auth.js';
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../../../src/core/pdu.js';
import { ALICE, BOB, MOD, TestRoom, VERSIONS } from './room.js';

const TYPES = ['m.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.join_rules', 'm.room.third_party_invite',
  'm.room.redaction', 'm.room.aliases', 'm.room.message', 'constructor', '__proto__'];
const USERS = [ALICE, BOB, MOD, '@x', 'x', '', '__proto__'];

const jsonish = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom<unknown>('join', 'invite', 'leave', 'ban', 'knock', 'public', 'restricted', 'knock_restricted', '50', ' 7 ', 'x', 1.5, -0, Infinity, NaN),
);
const content = fc.dictionary(
  fc.constantFrom('membership', 'join_rule', 'users', 'events', 'notifications', 'users_default', 'state_default', 'events_default',
    'ban', 'kick', 'invite', 'redact', 'third_party_invite', 'join_authorised_via_users_server', 'creator', 'additional_creators',
    'room_version', 'm.federate', 'redacts', 'public_key', 'public_keys', 'signed', '__proto__', 'constructor'),
  fc.oneof(jsonish, fc.dictionary(fc.constantFrom(...USERS, 'm.room.message', 'room', 'mxid', 'token', 'signatures', 'signed'), jsonish)),
);
const eventArb = fc.record({
  type: fc.constantFrom(...TYPES),
  sender: fc.oneof(fc.constantFrom(...USERS), fc.constant(5 as unknown as string)),
  state_key: fc.option(fc.constantFrom(...USERS, '', 'tok'), { nil: undefined }),
  content: fc.oneof(content, fc.constantFrom(null, [], 'x') as fc.Arbitrary<unknown>),
  prev_events: fc.oneof(fc.array(fc.string(), { maxLength: 2 }), fc.constantFrom(null, 'x', [[5]]) as fc.Arbitrary<unknown>),
  redacts: fc.option(fc.oneof(fc.string(), fc.integer()), { nil: undefined }),
  signatures: fc.oneof(fc.constant({}), fc.constantFrom(null, 'x') as fc.Arbitrary<unknown>, fc.dictionary(fc.string(), fc.dictionary(fc.string(), fc.string()))),
});

describe('malformed input never throws', () => {
  it.each(VERSIONS)('v$id: random events against a random state', (version) => {
    fc.assert(fc.property(eventArb, fc.array(eventArb, { maxLength: 8 }), (spec, stateSpecs) => {
      const room = new TestRoom(version);
      for (const s of stateSpecs) {
        const event = room.event(s as never);
        const key = typeof event.state_key === 'string' ? event.state_key : '';
        room.state.set(stateKey(String(event.type), key), event);
      }
      const event = room.event(spec as never);
      const verdict = authorizeEvent(version, event, room.state);
      expect(verdict.ok === true || (typeof verdict.code === 'string' && verdict.code !== 'internal_error')).toBe(true);
      authTypesForEvent(version, event);
      checkAuthEventsList(version, event, [...room.state.values()], { createEvent: room.create });
      getPowerLevel(version, room.state, String(event.sender));
      getRequiredPowerLevel(version, room.state, String(event.type), true);
    }), { numRuns: 300 });
  });

  it.each(VERSIONS)('v$id: hand-picked malformed shapes', (version) => {
    const room = new TestRoom(version, { joinRule: 'restricted' });
    room.member(BOB, 'join');
    const cases: Array<Partial<RoomEvent> & JsonObject> = [
      { type: 'm.room.member', sender: BOB, state_key: BOB, content: null as unknown as JsonObject },
      { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'invite', third_party_invite: { signed: { mxid: BOB, token: 5, signatures: 'x' } } } },
      { type: 'm.room.member', sender: BOB, state_key: BOB, content: { membership: 'invite', third_party_invite: { signed: { mxid: BOB, token: 'tok', signatures: { s: 'x' } } } } },
      { type: 'm.room.member', sender: MOD, state_key: MOD, content: { membership: 'join', join_authorised_via_users_server: ['x'] } },
      { type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: null, events: [], notifications: 5 } },
      { type: 'm.room.power_levels', sender: ALICE, state_key: '', content: { users: { ['__proto__']: 5 } } },
      { type: 'm.room.message', sender: 5 as unknown as string, content: { body: {} } },
      { type: 'm.room.redaction', sender: BOB, content: [] as unknown as JsonObject, redacts: {} as unknown as string },
      { type: 'm.room.aliases', sender: BOB, state_key: 7 as unknown as string, content: {} },
      { type: 'm.room.create', sender: BOB, state_key: '', content: { creator: {}, room_version: [], additional_creators: [{}] }, prev_events: 5 as unknown as [] },
    ];
    for (const spec of cases) {
      const event = room.event(spec as never);
      const verdict = authorizeEvent(version, event, room.state);
      if (!verdict.ok) expect(verdict.code).not.toBe('internal_error');
    }
    // Malformed state: non-object power levels content, join rules content, member content.
    const broken = new Map<StateKey, RoomEvent>(room.state);
    for (const type of ['m.room.power_levels', 'm.room.join_rules', 'm.room.create']) {
      const event = broken.get(stateKey(type, ''))!;
      broken.set(stateKey(type, ''), { ...event, content: 'x' as unknown as JsonObject });
    }
    const bob = broken.get(stateKey('m.room.member', BOB))!;
    broken.set(stateKey('m.room.member', BOB), { ...bob, content: [] as unknown as JsonObject });
    for (const spec of cases) {
      const verdict = authorizeEvent(version, room.event(spec as never), broken);
      if (!verdict.ok) expect(verdict.code).not.toBe('internal_error');
    }
  });
});
