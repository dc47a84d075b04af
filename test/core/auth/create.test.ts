// spec: rooms/v1 auth rule 1; rooms/v11 rule 1; rooms/v12 rule 1.
import { describe, expect, it } from 'vitest';
import { authorizeEvent, checkCreateEvent } from '../../../src/core/auth.js';
import type { JsonObject, RoomEvent } from '../../../src/core/pdu.js';
import type { RoomVersion } from '../../../src/core/room-versions.js';
import { ALICE, BOB, VERSIONS, defaultCreateContent, expectAllowed, expectRejected, versionsWhere } from './room.js';

let n = 0;
function createEvent(version: RoomVersion, overrides: Partial<RoomEvent> & { content?: JsonObject } = {}): RoomEvent {
  n++;
  const eventId = version.eventReferencesWithHashes ? `$c${n}:a.example` : `$createHash${n}`;
  const roomId = version.roomIdIsCreateEventHash ? `!${eventId.slice(1)}` : '!room:a.example';
  return {
    event_id: eventId, room_id: roomId, sender: ALICE, type: 'm.room.create', state_key: '',
    content: defaultCreateContent(version, ALICE), prev_events: [], auth_events: [], depth: 1,
    origin_server_ts: 1, hashes: { sha256: 'x' }, signatures: {}, ...overrides,
  };
}
const check = (version: RoomVersion, overrides: Partial<RoomEvent> = {}) =>
  authorizeEvent(version, createEvent(version, overrides), new Map());

describe.each(VERSIONS)('m.room.create in v$id', (version) => {
  it('allows a well-formed create event (rule 1.5 / v11 1.4)', () => {
    expectAllowed(check(version));
    expectAllowed(checkCreateEvent(version, createEvent(version)));
  });

  it('rejects a create event with prev_events (rule 1.1)', () => {
    expectRejected(check(version, { prev_events: ['$x'] }), 'create_invalid', '1.1');
  });

  it('allows an absent room_version, rejects an unrecognised or non-string one (rule 1.3)', () => {
    const base = defaultCreateContent(version, ALICE);
    const { room_version: _omit, ...withoutVersion } = base;
    expectAllowed(check(version, { content: withoutVersion }));
    expectRejected(check(version, { content: { ...base, room_version: '999' } }), 'create_invalid', '1.3');
    expectRejected(check(version, { content: { ...base, room_version: 12 } }), 'create_invalid', '1.3');
  });
});

describe('create event room_id (rule 1.2)', () => {
  it.each(versionsWhere((v) => !v.roomIdIsCreateEventHash))('v$id: allows matching domains, rejects a room_id on another domain', (version) => {
    expectAllowed(check(version, { room_id: '!room:a.example' }));
    expectRejected(check(version, { room_id: '!room:b.example' }), 'create_invalid', '1.2');
    expectRejected(check(version, { room_id: '!nodomain' }), 'create_invalid', '1.2');
  });

  it.each(versionsWhere((v) => v.roomIdIsCreateEventHash))('v$id: rejects a create event that had a room_id (changed in v12)', (version) => {
    expectAllowed(check(version));
    // A room_id kept from the wire cannot be the one derived from the event ID.
    expectRejected(check(version, { room_id: '!room:a.example' }), 'create_invalid', '1.2');
  });
});

describe('content.creator (rule 1.4, v1–v10)', () => {
  it.each(versionsWhere((v) => !v.implicitRoomCreator))('v$id: rejects a create event without creator', (version) => {
    expectRejected(check(version, { content: { room_version: version.id } }), 'create_invalid', '1.4');
  });
  it.each(versionsWhere((v) => v.implicitRoomCreator))('v$id: allows a create event without creator', (version) => {
    expectAllowed(check(version, { content: { room_version: version.id } }));
  });
});

describe('additional_creators (rule 1.4, v12)', () => {
  const bad: unknown[] = ['@bob:b.example', [5], ['bob'], ['@bob'], ['@bob:b.example', null], {}, [`@${'x'.repeat(260)}:b.example`]];
  it.each(versionsWhere((v) => v.privilegedCreators))('v$id: allows an array of user IDs, rejects anything else', (version) => {
    expectAllowed(check(version, { content: { room_version: version.id, additional_creators: [BOB, '@Historical User:c.example'] } }));
    expectAllowed(check(version, { content: { room_version: version.id, additional_creators: [] } }));
    for (const value of bad) {
      const verdict = check(version, { content: { room_version: version.id, additional_creators: value as JsonObject } });
      expectRejected(verdict, 'create_invalid', '1.4');
    }
  });
  it.each(versionsWhere((v) => !v.privilegedCreators))('v$id: ignores additional_creators', (version) => {
    const content = { ...defaultCreateContent(version, ALICE), additional_creators: 'nonsense' };
    expectAllowed(check(version, { content }));
  });
});

describe('malformed create events', () => {
  it.each(VERSIONS)('v$id: never throws', (version) => {
    for (const overrides of [
      { content: null }, { content: [] }, { prev_events: null }, { prev_events: 'x' }, { sender: 5 }, { room_id: undefined },
    ] as unknown as Partial<RoomEvent>[]) {
      const verdict = check(version, overrides);
      expect(typeof verdict.ok).toBe('boolean');
    }
  });
});
