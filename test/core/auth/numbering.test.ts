// Rejection reasons name the rule as numbered in each version's spec page. These expectations
// are written out by hand from content/rooms/v*.md (not computed), to catch numbering drift.
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../../src/core/pdu.js';
import { ALICE, BOB, MOD, TestRoom, V } from './room.js';

const reason = (verdict: { ok: boolean; reason?: string }) => (verdict.ok ? 'allowed' : verdict.reason!.replace(/:.*/, ''));

describe('rule numbers in rejection reasons', () => {
  const table: Array<[string, Record<string, string>]> = [
    ['1', { joinOther: 'rooms/v1 auth rule 5.2.2', unknown: 'rooms/v1 auth rule 5.6', notJoined: 'rooms/v1 auth rule 6', power: 'rooms/v1 auth rule 8', usersAdd: 'rooms/v1 auth rule 10.7.1', kick: 'rooms/v1 auth rule 5.4.5' }],
    ['5', { joinOther: 'rooms/v5 auth rule 5.2.2', unknown: 'rooms/v5 auth rule 5.6', notJoined: 'rooms/v5 auth rule 6', power: 'rooms/v5 auth rule 8', usersAdd: 'rooms/v5 auth rule 10.7.1', kick: 'rooms/v5 auth rule 5.4.5' }],
    ['6', { joinOther: 'rooms/v6 auth rule 4.2.2', unknown: 'rooms/v6 auth rule 4.6', notJoined: 'rooms/v6 auth rule 5', power: 'rooms/v6 auth rule 7', usersAdd: 'rooms/v6 auth rule 9.7.1', kick: 'rooms/v6 auth rule 4.4.5' }],
    ['7', { joinOther: 'rooms/v7 auth rule 4.2.2', unknown: 'rooms/v7 auth rule 4.7', notJoined: 'rooms/v7 auth rule 5', power: 'rooms/v7 auth rule 7', usersAdd: 'rooms/v7 auth rule 9.7.1', kick: 'rooms/v7 auth rule 4.4.5' }],
    ['8', { joinOther: 'rooms/v8 auth rule 4.3.2', unknown: 'rooms/v8 auth rule 4.8', notJoined: 'rooms/v8 auth rule 5', power: 'rooms/v8 auth rule 7', usersAdd: 'rooms/v8 auth rule 9.7.1', kick: 'rooms/v8 auth rule 4.5.5' }],
    ['10', { joinOther: 'rooms/v10 auth rule 4.3.2', unknown: 'rooms/v10 auth rule 4.8', notJoined: 'rooms/v10 auth rule 5', power: 'rooms/v10 auth rule 7', usersAdd: 'rooms/v10 auth rule 9.9.1', kick: 'rooms/v10 auth rule 4.5.5' }],
    ['12', { joinOther: 'rooms/v12 auth rule 5.3.2', unknown: 'rooms/v12 auth rule 5.8', notJoined: 'rooms/v12 auth rule 6', power: 'rooms/v12 auth rule 8', usersAdd: 'rooms/v12 auth rule 10.10.1', kick: 'rooms/v12 auth rule 5.5.5' }],
  ];
  it.each(table)('v%s', (id, expected) => {
    const room = new TestRoom(V(id), { joinRule: 'public' });
    room.member(MOD, 'join');
    room.member(BOB, 'join');
    const users: JsonObject = V(id).privilegedCreators ? { [MOD]: 50 } : { [ALICE]: 100, [MOD]: 50 };
    expect({
      joinOther: reason(room.checkMember(ALICE, '@x:x.example', 'join')),
      unknown: reason(room.checkMember(BOB, BOB, 'dance')),
      notJoined: reason(room.check({ type: 'm.room.message', sender: '@x:x.example' })),
      power: reason(room.check({ type: 'm.room.name', sender: BOB, state_key: '' })),
      usersAdd: reason(room.check({ type: 'm.room.power_levels', sender: MOD, state_key: '', content: { users: { ...users, [BOB]: 51 } } })),
      kick: reason(room.checkMember(BOB, MOD, 'leave')),
    }).toEqual(expected);
  });
});
