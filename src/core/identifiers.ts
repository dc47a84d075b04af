// Identifier grammar: server names, user IDs, room IDs, room aliases, event IDs.
// spec: appendices "Identifier Grammar"

import { isIPv6 } from 'node:net';
import type { EventIdFormat } from './room-versions.js';

/** User IDs, room IDs, room aliases and event IDs are limited to 255 bytes of UTF-8. */
export const MAX_ID_BYTES = 255;

export interface UserIdOptions {
  /**
   * Accept the historical localpart grammar (any code point but `:` and NUL, even empty).
   * Servers MUST accept such senders on events; new registrations must use the current grammar.
   * spec: appendices "Historical User IDs"
   */
  historical?: boolean;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

// spec: appendices "Server Name"
//   server_name = hostname [ ":" port ];  port = 1*5DIGIT
//   hostname = IPv4address / "[" IPv6address "]" / dns-name
//   dns-name = 1*255dns-char;  dns-char = DIGIT / ALPHA / "-" / "."
// Every IPv4address also matches dns-name, so the grammar leaves a dotted quad such as
// 1.2.3.999 valid as a DNS name; we follow the grammar rather than reject it.
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;
const PORT = /^[0-9]{1,5}$/;

export function isValidServerName(name: string): boolean {
  if (typeof name !== 'string' || name.length === 0) return false;
  let host = name;
  let port: string | undefined;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return false;
    host = name.slice(0, close + 1);
    const rest = name.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return false;
      port = rest.slice(1);
    }
    const literal = host.slice(1, -1);
    // RFC 3513 section 2.2 textual form; the grammar's character set excludes zone IDs.
    if (!IPV6_CHARS.test(literal) || !isIPv6(literal)) return false;
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
    }
    if (!DNS_NAME.test(host)) return false;
  }
  return port === undefined || PORT.test(port);
}

// spec: appendices "User Identifiers": user_id_char = DIGIT / a-z / "-" / "." / "=" / "_" / "/" / "+"
const CURRENT_LOCALPART = /^[a-z0-9._=\-/+]+$/;
export function isValidLocalpart(localpart: string, options: UserIdOptions = {}): boolean {
  if (typeof localpart !== 'string') return false;
  // spec: appendices "Historical User IDs": any non-surrogate code point except ":" and NUL.
  return options.historical ? isOpaqueLocalpart(localpart) : CURRENT_LOCALPART.test(localpart);
}

/** `@localpart:server_name`, at most 255 bytes. */
export function isValidUserId(id: string, options: UserIdOptions = {}): boolean {
  const parts = splitSigilled(id, '@');
  return parts !== undefined && isValidLocalpart(parts[0], options) && isValidServerName(parts[1]);
}

// Historical user localparts, and the opaque part of room IDs (with domain), room aliases and
// v1/v2 event IDs: any valid non-surrogate code point except ":" and NUL.
// spec: appendices "Historical User IDs", "Room IDs", "Room Aliases"
const NO_COLON_OR_LONE_SURROGATE = /^[^:\p{Cs}]*$/u;

function isOpaqueLocalpart(s: string): boolean {
  return !s.includes('\u0000') && NO_COLON_OR_LONE_SURROGATE.test(s);
}

/** `#alias:server_name`, at most 255 bytes. */
export function isValidRoomAlias(alias: string): boolean {
  const parts = splitSigilled(alias, '#');
  return parts !== undefined && isOpaqueLocalpart(parts[0]) && isValidServerName(parts[1]);
}

// A reference hash (sha256, 32 bytes) is 43 characters of unpadded base64.
const HASH_ID_STANDARD = /^[A-Za-z0-9+/]{43}$/;
const HASH_ID_URL_SAFE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Event IDs per room version's `eventIdFormat`: 'v1' is `$opaque:server_name`, 'v3' is `$` and
 * the standard unpadded base64 reference hash, 'v4' the URL-safe one. With no format, any of them.
 * spec: appendices "Event IDs"; rooms/v1 "Event IDs"; rooms/v3, rooms/v4 "Event IDs"
 */
export function isValidEventId(id: string, format?: EventIdFormat): boolean {
  if (typeof id !== 'string' || !id.startsWith('$')) return false;
  switch (format) {
    case 'v1':
      return isDomainScoped(id, '$');
    case 'v3':
      return HASH_ID_STANDARD.test(id.slice(1));
    case 'v4':
      return HASH_ID_URL_SAFE.test(id.slice(1));
    default:
      return isDomainScoped(id, '$') || HASH_ID_STANDARD.test(id.slice(1)) || HASH_ID_URL_SAFE.test(id.slice(1));
  }
}

export interface RoomIdOptions {
  /**
   * true: the room version derives the room ID from the create event's reference hash
   * (`!` + URL-safe base64, v12+); false: `!opaque:server_name`; undefined: either.
   */
  hashed?: boolean;
}

/** spec: appendices "Room IDs" */
export function isValidRoomId(id: string, options: RoomIdOptions = {}): boolean {
  if (typeof id !== 'string' || !id.startsWith('!')) return false;
  const hashed = HASH_ID_URL_SAFE.test(id.slice(1));
  if (options.hashed === true) return hashed;
  const scoped = isDomainScoped(id, '!');
  if (options.hashed === false) return scoped;
  return hashed || scoped;
}

/** The server name part of a `&localpart:domain` identifier (after the first `:`), if any. */
export function domainOf(id: string): string | undefined {
  const colon = id.indexOf(':');
  return colon < 0 ? undefined : id.slice(colon + 1);
}

function isDomainScoped(id: string, sigil: string): boolean {
  const parts = splitSigilled(id, sigil);
  return parts !== undefined && isOpaqueLocalpart(parts[0]) && isValidServerName(parts[1]);
}

/** Split `&localpart:domain` at the first colon (localparts cannot contain one). */
function splitSigilled(id: string, sigil: string): [string, string] | undefined {
  if (typeof id !== 'string' || !id.startsWith(sigil) || byteLength(id) > MAX_ID_BYTES) return undefined;
  const colon = id.indexOf(':');
  if (colon < 0) return undefined;
  return [id.slice(1, colon), id.slice(colon + 1)];
}
