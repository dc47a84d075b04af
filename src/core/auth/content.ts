// Defensive readers for event JSON. The authorization rules must never throw, even for
// events whose content has the wrong shape, so every lookup goes through these.

import { isValidUserId as isValidUserIdentifier } from '../identifiers.js';
import type { EventReference, JsonObject, JsonValue, RoomEvent } from '../pdu.js';

const hasOwnProperty = Object.prototype.hasOwnProperty;

/** A JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own-property lookup, so keys such as `constructor` or `__proto__` never hit the prototype. */
export function getOwn(obj: unknown, key: string): JsonValue | undefined {
  if (!isObject(obj) || !hasOwnProperty.call(obj, key)) return undefined;
  return obj[key];
}

export function hasOwn(obj: unknown, key: string): boolean {
  return isObject(obj) && hasOwnProperty.call(obj, key);
}

export function getString(obj: unknown, key: string): string | undefined {
  const value = getOwn(obj, key);
  return typeof value === 'string' ? value : undefined;
}

/** The event's content, or an empty object if it is malformed. */
export function contentOf(event: RoomEvent): JsonObject {
  return isObject(event.content) ? event.content : {};
}

/** A state event is one with a string `state_key`. */
export function stateKeyOf(event: RoomEvent): string | undefined {
  return typeof event.state_key === 'string' ? event.state_key : undefined;
}

/** `content.membership` of an m.room.member event, if it is a string. */
export function membershipOf(event: RoomEvent | undefined): string | undefined {
  return event === undefined ? undefined : getString(event.content, 'membership');
}

/** The event ID in a reference: a bare ID (v3+) or an [id, hashes] pair (v1–v2). */
export function referenceId(ref: EventReference | unknown): string | undefined {
  if (typeof ref === 'string') return ref;
  if (Array.isArray(ref) && typeof ref[0] === 'string') return ref[0];
  return undefined;
}

/** The event IDs of a list of references; malformed entries are kept as undefined. */
export function referenceIds(refs: unknown): Array<string | undefined> {
  return Array.isArray(refs) ? refs.map(referenceId) : [];
}

/** The domain of a user, room (v1–v11) or event (v1–v2) ID: everything after the first `:`. */
export function domainOf(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  const colon = id.indexOf(':');
  return colon < 0 ? undefined : id.slice(colon + 1);
}

/**
 * A user ID as servers must accept it on events: historical localparts allowed (any code point
 * but `:` and NUL, even empty), a valid server name, at most 255 bytes.
 * spec: appendices "User Identifiers", "Historical User IDs".
 */
export function isValidUserId(id: unknown): id is string {
  return typeof id === 'string' && isValidUserIdentifier(id, { historical: true });
}
