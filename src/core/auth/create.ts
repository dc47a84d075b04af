// spec: rooms/v1 auth rule 1 (m.room.create); rooms/v11 rule 1 (no `creator`);
// rooms/v12 rule 1 (no room_id, additional_creators).

import { getRoomVersion, type RoomVersion } from '../room-versions.js';
import type { RoomEvent, Verdict } from '../pdu.js';
import { contentOf, domainOf, getOwn, hasOwn, isValidUserId, referenceIds } from './content.js';
import { deny, ruleNumbers } from './rules.js';

export function checkCreateEvent(version: RoomVersion, event: RoomEvent): Verdict {
  const r = ruleNumbers(version);
  const sub = r.createSub;
  const content = contentOf(event);
  const rule = (n: number) => `${r.create}.${n}`;

  if (referenceIds(event.prev_events).length > 0) {
    return deny(version, 'create_invalid', rule(sub.prevEvents), 'm.room.create has prev_events');
  }
  if (version.roomIdIsCreateEventHash) {
    if (!hasNoWireRoomId(event)) {
      return deny(version, 'create_invalid', rule(sub.roomId), 'm.room.create has a room_id');
    }
  } else if (domainOf(event.room_id) === undefined || domainOf(event.room_id) !== domainOf(event.sender)) {
    return deny(version, 'create_invalid', rule(sub.roomId), "the room_id's domain does not match the sender's");
  }
  if (hasOwn(content, 'room_version') && !isRecognisedRoomVersion(getOwn(content, 'room_version'))) {
    return deny(version, 'create_invalid', rule(sub.roomVersion), 'content.room_version is not a recognised version');
  }
  if (sub.creator && !hasOwn(content, 'creator')) {
    return deny(version, 'create_invalid', rule(sub.creator), 'content has no creator');
  }
  if (sub.additionalCreators && hasOwn(content, 'additional_creators')
      && !isUserIdArray(getOwn(content, 'additional_creators'))) {
    return deny(version, 'create_invalid', rule(sub.additionalCreators),
      'content.additional_creators is not an array of valid user IDs');
  }
  return { ok: true };
}

/**
 * v12: the create event carries no room_id on the wire; a RoomEvent has the derived one
 * (`!` + the event ID's hash). A room_id kept from the wire cannot equal it, since the
 * reference hash covers the room_id field.
 */
function hasNoWireRoomId(event: RoomEvent): boolean {
  return typeof event.event_id === 'string' && typeof event.room_id === 'string'
    && event.event_id.startsWith('$') && event.room_id === `!${event.event_id.slice(1)}`;
}

function isRecognisedRoomVersion(value: unknown): boolean {
  return typeof value === 'string' && getRoomVersion(value) !== undefined;
}

// spec: rooms/v12 rule 1.4: "the same user ID validation applied to sender".
function isUserIdArray(value: unknown): boolean {
  return Array.isArray(value) && value.every(isValidUserId);
}
