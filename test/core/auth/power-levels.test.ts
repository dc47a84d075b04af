// m.room.power_levels and power level reading. spec: rooms/v1 auth rule 10 (+ "accept values as
// strings/floats"); rooms/v6 rule 9 (notifications); rooms/v10 rule 9 (integers); rooms/v12 rule 10.
import { describe, expect, it } from 'vitest';
import {
  getNamedPowerLevel, getNotificationPowerLevel, getPowerLevel, getRequiredPowerLevel, isCreator, parsePowerLevel, userPowerLevel,
} from '../../../src/core/auth.js';
import { ruleNumbers } from '../../../src/core/auth/rules.js';
import type { JsonObject } from '../../../src/core/pdu.js';
import type { RoomVersion } from '../../../src/core/room-versions.js';
import { ALICE, BOB, CAROL, MOD, TestRoom, VERSIONS, expectAllowed, expectRejected, versionsWhere } from './room.js';

const pl = (v: RoomVersion, n: number, ...more: number[]) => [ruleNumbers(v).powerLevels, n, ...more].join('.');
const s = (v: RoomVersion) => ruleNumbers(v).powerLevelsSub;
/** The creator's own users entry: present before v12 (where it may not be). */
const own = (v: RoomVersion): JsonObject => (v.privilegedCreators ? {} : { [ALICE]: 100 });

function send(room: TestRoom, sender: string, content: JsonObject) {
  return room.check({ type: 'm.room.power_levels', sender, state_key: '', content });
}

describe('parsePowerLevel', () => {
  it.each(versionsWhere((v) => !v.integerPowerLevels))('v$id: integers, integer strings and truncated floats', (version) => {
    const cases: Array<[unknown, number | undefined]> = [
      [50, 50], [-7, -7], ['100', 100], ['000100', 100], ['+100', 100], ['-100', -100], [' 100 ', 100], ['\t-0050\n', -50],
      [50.57, 50], [-1.5, -1], [5.114698e4, 51146],
      ['1.5', undefined], ['1e3', undefined], ['abc', undefined], ['', undefined], ['+-1', undefined], ['1_000', undefined],
      [Infinity, undefined], [NaN, undefined], [true, undefined], [null, undefined], [{}, undefined], [[1], undefined],
    ];
    for (const [value, expected] of cases) expect(parsePowerLevel(version, value), JSON.stringify(value)).toBe(expected);
  });
  it.each(versionsWhere((v) => v.integerPowerLevels))('v$id: JSON integers only', (version) => {
    expect(parsePowerLevel(version, 50)).toBe(50);
    expect(parsePowerLevel(version, -3)).toBe(-3);
    for (const value of ['50', 50.5, true, null, Infinity]) expect(parsePowerLevel(version, value)).toBeUndefined();
  });
});

describe('reading power levels', () => {
  it.each(versionsWhere((v) => !v.privilegedCreators))('v$id: without power levels the creator has 100, others 0', (version) => {
    const room = new TestRoom(version, { powerLevels: null });
    expect(getPowerLevel(version, room.state, ALICE)).toBe(100);
    expect(getPowerLevel(version, room.state, BOB)).toBe(0);
    expect(isCreator(version, room.state, ALICE)).toBe(true);
    expect(isCreator(version, room.state, BOB)).toBe(false);
  });
  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: creators have infinite power, with or without power levels', (version) => {
    const room = new TestRoom(version, { powerLevels: null, createContent: { room_version: version.id, additional_creators: [CAROL] } });
    expect(getPowerLevel(version, room.state, ALICE)).toBe(Infinity);
    expect(getPowerLevel(version, room.state, CAROL)).toBe(Infinity);
    expect(getPowerLevel(version, room.state, BOB)).toBe(0);
    room.powerLevels({ users_default: 10 });
    expect(getPowerLevel(version, room.state, CAROL)).toBe(Infinity);
    expect(getPowerLevel(version, room.state, BOB)).toBe(10);
    expect(isCreator(version, room.state, CAROL)).toBe(true);
    expect(userPowerLevel(version, ALICE, room.state)).toBe(Infinity);
  });

  it.each(VERSIONS)('v$id: users, users_default and defaults', (version) => {
    const room = new TestRoom(version);
    room.powerLevels({ users: { [MOD]: 50, [CAROL]: null }, users_default: 5 });
    expect(getPowerLevel(version, room.state, MOD)).toBe(50);
    expect(getPowerLevel(version, room.state, BOB)).toBe(5);
    expect(getPowerLevel(version, room.state, CAROL)).toBe(5); // null reads as absent, as in Synapse
    room.powerLevels({});
    expect(getPowerLevel(version, room.state, BOB)).toBe(0);
    expect(getNamedPowerLevel(version, room.state, 'invite')).toBe(0);
    expect(getNamedPowerLevel(version, room.state, 'kick')).toBe(50);
    expect(getNamedPowerLevel(version, room.state, 'ban')).toBe(50);
    expect(getNamedPowerLevel(version, room.state, 'redact')).toBe(50);
    expect(getNotificationPowerLevel(version, room.state)).toBe(50);
    expect(getRequiredPowerLevel(version, room.state, 'm.room.name', true)).toBe(50);
    expect(getRequiredPowerLevel(version, room.state, 'm.room.message', false)).toBe(0);
  });

  it.each(VERSIONS)('v$id: events overrides; inherited object keys are not event types', (version) => {
    const room = new TestRoom(version);
    room.powerLevels({ events: { 'm.room.name': 10, 'm.room.message': 20 }, state_default: 60, events_default: 1 });
    expect(getRequiredPowerLevel(version, room.state, 'm.room.name', true)).toBe(10);
    expect(getRequiredPowerLevel(version, room.state, 'm.room.message', false)).toBe(20);
    expect(getRequiredPowerLevel(version, room.state, 'm.room.topic', true)).toBe(60);
    expect(getRequiredPowerLevel(version, room.state, 'constructor', false)).toBe(1);
    expect(getRequiredPowerLevel(version, room.state, '__proto__', true)).toBe(60);
  });

  it.each(versionsWhere((v) => !v.integerPowerLevels))('v$id: string levels are read like Synapse reads them', (version) => {
    const room = new TestRoom(version);
    room.powerLevels({ users: { [MOD]: ' 075 ' }, ban: '+20', events: { 'm.room.name': '0' } });
    expect(getPowerLevel(version, room.state, MOD)).toBe(75);
    expect(getNamedPowerLevel(version, room.state, 'ban')).toBe(20);
    expect(getRequiredPowerLevel(version, room.state, 'm.room.name', true)).toBe(0);
  });
  it.each(versionsWhere((v) => v.integerPowerLevels))('v$id: string levels are not levels (the helpers fall back to defaults)', (version) => {
    const room = new TestRoom(version);
    room.powerLevels({ users: { [MOD]: '75' }, ban: '20' });
    expect(getPowerLevel(version, room.state, MOD)).toBe(0);
    expect(getNamedPowerLevel(version, room.state, 'ban')).toBe(50);
  });
});

describe('m.room.power_levels content checks', () => {
  describe.each(VERSIONS)('v$id', (version) => {
    it('rejects users that is not an object of user IDs to levels (rule users)', () => {
      const room = new TestRoom(version);
      for (const users of [[], 'x', null, { bob: 10 }, { '@bob': 10 }, { [BOB]: 'ten' }, { [BOB]: true }] as unknown[]) {
        expectRejected(send(room, ALICE, { users: users as JsonObject }), 'power_levels_invalid', pl(version, s(version).users));
      }
      expectAllowed(send(room, ALICE, { users: { ...own(version), [BOB]: 10, '@Old Style:b.example': 5 } }));
      expectAllowed(send(room, ALICE, { ...(version.privilegedCreators ? {} : { users: own(version) }) }));
    });

    it('allows the first power levels event whatever its levels (rule "no previous")', () => {
      const room = new TestRoom(version, { powerLevels: null });
      expectAllowed(send(room, ALICE, { users: { [BOB]: 1000 }, ban: 1000, events: { 'm.room.name': 1000 } }));
    });
  });

  it.each(versionsWhere((v) => !v.integerPowerLevels))('v$id: accepts string levels (before v10)', (version) => {
    const room = new TestRoom(version);
    expectAllowed(send(room, ALICE, { users: { ...own(version), [BOB]: '10' }, ban: '50', events: { 'm.room.name': '50' }, notifications: { room: '50' } }));
  });
  it.each(versionsWhere((v) => v.integerPowerLevels))('v$id: rejects string levels (rules 1, 2, 3 added in v10)', (version) => {
    const room = new TestRoom(version);
    const base = { users: own(version) };
    expectRejected(send(room, ALICE, { ...base, ban: '50' }), 'power_levels_invalid', pl(version, s(version).integerFields));
    expectRejected(send(room, ALICE, { ...base, users_default: 1.5 }), 'power_levels_invalid', pl(version, s(version).integerFields));
    expectRejected(send(room, ALICE, { ...base, events: { 'm.room.name': '50' } }), 'power_levels_invalid', pl(version, s(version).integerMaps));
    expectRejected(send(room, ALICE, { ...base, notifications: 'x' }), 'power_levels_invalid', pl(version, s(version).integerMaps));
    expectRejected(send(room, ALICE, { users: { ...own(version), [BOB]: '10' } }), 'power_levels_invalid', pl(version, s(version).users));
    expectAllowed(send(room, ALICE, { ...base, ban: 50, events: { 'm.room.name': 50 }, notifications: { room: 50 } }));
  });

  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: rejects creators in users (rule 10.4)', (version) => {
    const room = new TestRoom(version, { createContent: { room_version: version.id, additional_creators: [CAROL] } });
    expectRejected(send(room, ALICE, { users: { [ALICE]: 100 } }), 'power_levels_invalid', pl(version, 4));
    expectRejected(send(room, ALICE, { users: { [CAROL]: 100 } }), 'power_levels_invalid', pl(version, 4));
    expectAllowed(send(room, ALICE, { users: { [BOB]: 100 } }));
  });
  it.each(versionsWhere((v) => !v.privilegedCreators))('v$id: the creator may be in users', (version) => {
    expectAllowed(send(new TestRoom(version), ALICE, { users: { [ALICE]: 100, [BOB]: 1 } }));
  });
});

describe('m.room.power_levels changes', () => {
  // MOD (50) edits; the current levels are set per test.
  function modRoom(version: RoomVersion, current: JsonObject): TestRoom {
    const room = new TestRoom(version);
    room.member(MOD, 'join');
    room.powerLevels({ state_default: 0, ...current, users: { ...own(version), [MOD]: 50, ...((current.users as JsonObject) ?? {}) } });
    return room;
  }
  const users = (version: RoomVersion, extra: JsonObject = {}) => ({ ...own(version), [MOD]: 50, ...extra });

  describe.each(VERSIONS)('v$id', (version) => {
    const sub = s(version);
    it('top-level levels: within the sender\'s level allowed; current or new above it rejected', () => {
      const room = modRoom(version, { ban: 40 });
      expectAllowed(send(room, MOD, { state_default: 0, ban: 50, users: users(version) }));
      expectAllowed(send(room, MOD, { state_default: 0, users: users(version) })); // removing ban (40)
      expectRejected(send(room, MOD, { state_default: 0, ban: 51, users: users(version) }), 'power_levels_forbidden', pl(version, sub.namedLevels, 2));
      const high = modRoom(version, { kick: 60 });
      expectRejected(send(high, MOD, { state_default: 0, kick: 10, users: users(version) }), 'power_levels_forbidden', pl(version, sub.namedLevels, 1));
      expectRejected(send(high, MOD, { state_default: 0, users: users(version) }), 'power_levels_forbidden', pl(version, sub.namedLevels, 1));
      expectAllowed(send(high, MOD, { state_default: 0, kick: 60, users: users(version) })); // unchanged
    });

    it('events: entries above the sender cannot be changed, added or removed', () => {
      const room = modRoom(version, { events: { 'm.room.name': 60, 'm.room.topic': 10 } });
      const events = { 'm.room.name': 60 };
      expectAllowed(send(room, MOD, { state_default: 0, users: users(version), events: { ...events, 'm.room.topic': 50, 'm.room.avatar': 50 } }));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version), events: { 'm.room.topic': 10 } }), 'power_levels_forbidden', pl(version, sub.mapEntriesRemoved, 1));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version), events: { 'm.room.name': 50, 'm.room.topic': 10 } }), 'power_levels_forbidden', pl(version, sub.mapEntriesRemoved, 1));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version), events: { ...events, 'm.room.topic': 10, 'm.room.avatar': 51 } }), 'power_levels_forbidden', pl(version, sub.mapEntriesAdded, 1));
    });

    it('users: others at or above the sender cannot be changed; nobody can be raised above the sender', () => {
      const room = modRoom(version, { users: { [BOB]: 50, [CAROL]: 10 } });
      expectAllowed(send(room, MOD, { state_default: 0, users: users(version, { [BOB]: 50, [CAROL]: 50 }) }));
      expectAllowed(send(room, MOD, { state_default: 0, users: users(version, { [BOB]: 50 }) })); // remove Carol (10)
      expectRejected(send(room, MOD, { state_default: 0, users: users(version, { [BOB]: 49, [CAROL]: 10 }) }), 'power_levels_forbidden', pl(version, sub.usersRemoved, 1));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version, { [CAROL]: 10 }) }), 'power_levels_forbidden', pl(version, sub.usersRemoved, 1));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version, { [BOB]: 50, [CAROL]: 51 }) }), 'power_levels_forbidden', pl(version, sub.usersAdded, 1));
    });

    it('users: the sender may lower their own level but not raise it', () => {
      const room = modRoom(version, {});
      expectAllowed(send(room, MOD, { state_default: 0, users: users(version, { [MOD]: 20 }) }));
      expectRejected(send(room, MOD, { state_default: 0, users: users(version, { [MOD]: 51 }) }), 'power_levels_forbidden', pl(version, sub.usersAdded, 1));
    });
  });

  it.each(versionsWhere((v) => v.limitNotificationsPowerLevels))('v$id: notifications are checked like events (v6+)', (version) => {
    const room = modRoom(version, { notifications: { room: 60 } });
    expectRejected(send(room, MOD, { state_default: 0, users: users(version), notifications: { room: 0 } }), 'power_levels_forbidden', pl(version, s(version).mapEntriesRemoved, 1));
    const low = modRoom(version, { notifications: { room: 20 } });
    expectAllowed(send(low, MOD, { state_default: 0, users: users(version), notifications: { room: 50 } }));
    expectRejected(send(low, MOD, { state_default: 0, users: users(version), notifications: { room: 51 } }), 'power_levels_forbidden', pl(version, s(version).mapEntriesAdded, 1));
  });
  it.each(versionsWhere((v) => !v.limitNotificationsPowerLevels))('v$id: notifications are not checked (before v6)', (version) => {
    const room = modRoom(version, { notifications: { room: 60 } });
    expectAllowed(send(room, MOD, { state_default: 0, users: users(version), notifications: { room: 100, other: 'x' } }));
  });

  it.each(versionsWhere((v) => !v.integerPowerLevels))('v$id: a malformed level makes old and new incomparable (Synapse\'s int() raises)', (version) => {
    const room = modRoom(version, { ban: 'fifty' });
    expectRejected(send(room, MOD, { state_default: 0, users: users(version) }), 'power_levels_invalid', pl(version, s(version).namedLevels));
    const fine = modRoom(version, { ban: '40' });
    expectAllowed(send(fine, MOD, { state_default: 0, users: users(version), ban: 40 })); // "40" == 40: unchanged
    expectRejected(send(fine, MOD, { state_default: 0, users: users(version), events: 'x' }), 'power_levels_invalid', pl(version, s(version).namedLevels));
  });

  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: creators have infinite power over power levels', (version) => {
    const room = new TestRoom(version, { createContent: { room_version: version.id, additional_creators: [CAROL] } });
    room.member(CAROL, 'join');
    room.powerLevels({ users: { [MOD]: 1_000_000 }, ban: 1_000_000 });
    expectAllowed(send(room, CAROL, { users: { [MOD]: 0 }, ban: 2 ** 53 - 1, events: { 'm.room.name': 2 ** 53 - 1 } }));
    room.member(MOD, 'join');
    expectRejected(send(room, MOD, { users: { [MOD]: 1_000_000 }, ban: 2_000_000 }), 'power_levels_forbidden', pl(version, 6, 2));
    expectRejected(send(room, MOD, { users: { [MOD]: 1_000_000, [CAROL]: 0 } }), 'power_levels_invalid', pl(version, 4));
  });
});
