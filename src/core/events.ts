// Event format per room version: redaction, event IDs, room IDs (v12), hashing and signing of
// local events, format validation of received PDUs, hash and signature checks.
// spec: rooms/v1..v12 "Redactions", "Event IDs", "Event format";
// server-server-api "PDUs", "Signing Events", "Checks performed on receipt of a PDU".

import type { EventReference, JsonObject, PDU, RoomEvent, Verdict } from './pdu.js';
import { reject } from './pdu.js';
import { getRoomVersion, type RedactionRules, type RoomVersion } from './room-versions.js';
import {
  CanonicalJsonError,
  canonicalJson,
  checkStrictNumberSyntax,
  decodeBase64,
  encodeBase64,
  encodeBase64Url,
  encodeCanonicalJson,
} from './json.js';
import {
  computeContentHash,
  isSignatures,
  sha256,
  signBytes,
  signJson,
  verifyJsonSignature,
  type KeyLookup,
  type SigningKey,
} from './crypto.js';
import { domainOf, isValidEventId, isValidRoomId, isValidUserId } from './identifiers.js';

/** Any event-shaped JSON object: a PDU, a RoomEvent, or untrusted input. */
type EventJson = Readonly<Record<string, unknown>>;

// ---------------------------------------------------------------------------------------------
// Redaction algorithm. spec: rooms/v1 "Redactions" (and v6, v8, v9, v11)

const TOP_LEVEL_V1: ReadonlySet<string> = new Set([
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth',
  'prev_events', 'prev_state', 'auth_events', 'origin', 'origin_server_ts', 'membership',
]);
// v11: `origin`, `membership` and `prev_state` are no longer protected.
const TOP_LEVEL_V11: ReadonlySet<string> = new Set([
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth',
  'prev_events', 'auth_events', 'origin_server_ts',
]);

const POWER_LEVELS_V1 = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];

interface RedactionAlgorithm {
  topLevel: ReadonlySet<string>;
  /** Content keys kept per event type; 'all' keeps the whole content. */
  content: ReadonlyMap<string, readonly string[] | 'all'>;
  /** v11: m.room.member keeps `third_party_invite.signed` (and nothing else of it). */
  keepThirdPartyInviteSigned: boolean;
}

const V1_CONTENT: [string, readonly string[]][] = [
  ['m.room.member', ['membership']],
  ['m.room.create', ['creator']],
  ['m.room.join_rules', ['join_rule']],
  ['m.room.power_levels', POWER_LEVELS_V1],
  ['m.room.aliases', ['aliases']],
  ['m.room.history_visibility', ['history_visibility']],
];
// v6: m.room.aliases loses its protected key.
const V6_CONTENT = V1_CONTENT.filter(([type]) => type !== 'm.room.aliases');
// v8: join rules keep `allow` (restricted rooms).
const V8_CONTENT = withContent(V6_CONTENT, 'm.room.join_rules', ['join_rule', 'allow']);
// v9: member events keep `join_authorised_via_users_server`.
const V9_CONTENT = withContent(V8_CONTENT, 'm.room.member', ['membership', 'join_authorised_via_users_server']);

const REDACTION_ALGORITHMS: Record<RedactionRules, RedactionAlgorithm> = {
  v1: { topLevel: TOP_LEVEL_V1, content: new Map(V1_CONTENT), keepThirdPartyInviteSigned: false },
  v6: { topLevel: TOP_LEVEL_V1, content: new Map(V6_CONTENT), keepThirdPartyInviteSigned: false },
  v8: { topLevel: TOP_LEVEL_V1, content: new Map(V8_CONTENT), keepThirdPartyInviteSigned: false },
  v9: { topLevel: TOP_LEVEL_V1, content: new Map(V9_CONTENT), keepThirdPartyInviteSigned: false },
  v11: {
    topLevel: TOP_LEVEL_V11,
    content: new Map<string, readonly string[] | 'all'>([
      ['m.room.member', ['membership', 'join_authorised_via_users_server']],
      ['m.room.create', 'all'],
      ['m.room.join_rules', ['join_rule', 'allow']],
      ['m.room.power_levels', [...POWER_LEVELS_V1, 'invite']],
      ['m.room.history_visibility', ['history_visibility']],
      ['m.room.redaction', ['redacts']],
    ]),
    keepThirdPartyInviteSigned: true,
  },
};

function withContent(rules: [string, readonly string[]][], type: string, keys: readonly string[]): [string, readonly string[]][] {
  return rules.map(([t, k]) => [t, t === type ? keys : k]);
}

/**
 * The redaction algorithm of the room version: strip every top-level key not on its list, and
 * every content key not protected for the event's type. The result has no `unsigned`.
 * Works on both federation-format PDUs and RoomEvents (event_id and room_id are kept).
 */
export function redactEvent<T extends EventJson>(event: T, roomVersion: RoomVersion): T {
  return redact(event, roomVersion, false) as unknown as T;
}

function redact(event: EventJson, roomVersion: RoomVersion, forSigning: boolean): JsonObject {
  const algorithm = REDACTION_ALGORITHMS[roomVersion.redactionRules];
  const out: JsonObject = {};
  const dropIds = forSigning ? localOnlyKeys(event, roomVersion) : NO_KEYS;
  for (const key of Object.keys(event)) {
    if (!algorithm.topLevel.has(key) || dropIds.has(key)) continue;
    if (forSigning && key === 'signatures') continue;
    out[key] = event[key] as JsonObject[string];
  }
  out.content = redactContent(event, algorithm);
  return out;
}

function redactContent(event: EventJson, algorithm: RedactionAlgorithm): JsonObject {
  const content = isObject(event.content) ? event.content : {};
  const type = event.type;
  const rule = typeof type === 'string' ? algorithm.content.get(type) : undefined;
  if (rule === 'all') return { ...content };
  const kept: JsonObject = {};
  if (rule !== undefined) {
    for (const key of rule) if (Object.hasOwn(content, key)) kept[key] = content[key]!;
  }
  if (algorithm.keepThirdPartyInviteSigned && type === 'm.room.member') {
    const invite = content.third_party_invite;
    if (isObject(invite) && Object.hasOwn(invite, 'signed')) kept.third_party_invite = { signed: invite.signed! };
  }
  return kept;
}

// ---------------------------------------------------------------------------------------------
// Federation format. A RoomEvent carries IDs that are not on the wire: the event_id in v3+
// (computed from the reference hash) and the room_id of a v12 create event (computed from the
// event's own hash). Hashes and signatures cover the wire form, so those keys are dropped first.

const NO_KEYS: ReadonlySet<string> = new Set();
const EVENT_ID_KEY: ReadonlySet<string> = new Set(['event_id']);
const EVENT_AND_ROOM_ID_KEYS: ReadonlySet<string> = new Set(['event_id', 'room_id']);

/** The m.room.create event of a room (type m.room.create with empty state key). */
export function isCreateEvent(event: EventJson): boolean {
  return event.type === 'm.room.create' && event.state_key === '';
}

function localOnlyKeys(event: EventJson, roomVersion: RoomVersion): ReadonlySet<string> {
  if (roomVersion.eventIdFormat === 'v1') return NO_KEYS;
  return roomVersion.roomIdIsCreateEventHash && isCreateEvent(event) ? EVENT_AND_ROOM_ID_KEYS : EVENT_ID_KEY;
}

/** The event as sent over federation: without the locally computed event_id / v12 create room_id. */
export function toFederationPdu<T extends EventJson>(event: T, roomVersion: RoomVersion): PDU {
  const drop = localOnlyKeys(event, roomVersion);
  if (drop.size === 0) return { ...event } as unknown as PDU;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(event)) if (!drop.has(key)) out[key] = event[key];
  return out as unknown as PDU;
}

// ---------------------------------------------------------------------------------------------
// Hashes and IDs. spec: server-server-api "Calculating the reference hash for an event";
// rooms/v3 and rooms/v4 "Event IDs"; appendices "Room IDs" (v12).

/**
 * Canonical bytes covered by an event's signatures and its reference hash: the redacted
 * federation-format event without `signatures` and `unsigned`. Throws CanonicalJsonError for
 * non-JSON input.
 */
export function eventSigningBytes(event: EventJson, roomVersion: RoomVersion): Buffer {
  return Buffer.from(encodeCanonicalJson(redact(event, roomVersion, true)), 'utf8');
}

/** The reference hash (sha256) of an event. */
export function referenceHash(event: EventJson, roomVersion: RoomVersion): Buffer {
  return sha256(eventSigningBytes(event, roomVersion));
}

/** The event ID for a v3+ event (`$` + reference hash, standard or URL-safe base64 per version). */
export function eventIdFromReferenceHash(hash: Uint8Array, roomVersion: RoomVersion): string {
  return '$' + (roomVersion.eventIdFormat === 'v3' ? encodeBase64(hash) : encodeBase64Url(hash));
}

/**
 * The event's ID: the `event_id` it carries in v1/v2, its reference hash in v3+.
 * Undefined for a v1/v2 event without one.
 */
export function computeEventId(event: EventJson, roomVersion: RoomVersion): string | undefined {
  if (roomVersion.eventIdFormat === 'v1') return typeof event.event_id === 'string' ? event.event_id : undefined;
  return eventIdFromReferenceHash(referenceHash(event, roomVersion), roomVersion);
}

/** Room ID in versions that derive it from the create event: `!` + URL-safe reference hash. */
export function roomIdFromCreateEvent(createEvent: EventJson, roomVersion: RoomVersion): string {
  return '!' + encodeBase64Url(referenceHash(createEvent, roomVersion));
}

/**
 * A v1/v2 event ID, `$opaque:server`. The opaque part comes from `randomness` (at least 16 bytes,
 * supplied by the caller so this module stays deterministic), as letters and digits.
 */
export function legacyEventId(randomness: Uint8Array, serverName: string): string {
  let opaque = '';
  for (const byte of randomness) opaque += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return `$${opaque}:${serverName}`;
}
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** How another event refers to `event` in prev_events / auth_events: [id, {sha256}] in v1/v2, else the ID. */
export function eventReference(event: RoomEvent, roomVersion: RoomVersion): EventReference {
  if (!roomVersion.eventReferencesWithHashes) return event.event_id;
  return [event.event_id, { sha256: encodeBase64(referenceHash(event, roomVersion)) }];
}

/** The event ID in a prev_events / auth_events entry of either shape. */
export function referencedEventId(reference: EventReference): string {
  return typeof reference === 'string' ? reference : reference[0];
}

// ---------------------------------------------------------------------------------------------
// Hashing and signing outgoing events. spec: server-server-api "Adding hashes and signatures to
// outgoing events"

/**
 * Compute the content hash into `hashes.sha256`, then sign the redacted event as `serverName` and
 * copy the signature back. `event` is in federation format; the canonical JSON rules of the room
 * version are enforced. Other servers' signatures already present are kept.
 */
export function hashAndSignEvent<T extends EventJson>(event: T, roomVersion: RoomVersion, serverName: string, key: SigningKey): Verdict<T & Pick<PDU, 'hashes' | 'signatures'>> {
  const valid = canonicalJson(event, { strict: roomVersion.strictCanonicalJson });
  if (!valid.ok) return valid;
  const contentHash = computeContentHash(toFederationPdu(event, roomVersion));
  const hashed = { ...event, hashes: { sha256: encodeBase64(contentHash) } };
  return signEventAs(hashed, roomVersion, serverName, key);
}

/**
 * Add `serverName`'s signature to an already hashed event, leaving its hashes alone: what a
 * resident server does to a restricted-room join, or an invited server to an invite.
 */
export function signEvent<T extends EventJson>(event: T, roomVersion: RoomVersion, serverName: string, key: SigningKey): Verdict<T & Pick<PDU, 'signatures'>> {
  return signEventAs(event, roomVersion, serverName, key);
}

function signEventAs<T extends EventJson>(event: T, roomVersion: RoomVersion, serverName: string, key: SigningKey): Verdict<T & Pick<PDU, 'hashes' | 'signatures'>> {
  // Sign the redacted federation form: what every server can still check once the event is redacted.
  const redacted = redact(event, roomVersion, true);
  if (isSignatures(event.signatures)) redacted.signatures = event.signatures;
  const signed = signJson(redacted, serverName, key);
  if (!signed.ok) return signed;
  return accept({ ...event, signatures: signed.value.signatures } as T & Pick<PDU, 'hashes' | 'signatures'>);
}

/** A success Verdict for a generic value (TypeScript cannot narrow Verdict<T> for unresolved T). */
function accept<T>(value: T): Verdict<T> {
  return { ok: true, value } as unknown as Verdict<T>;
}

/** What a local server fills in to create an event; IDs, hashes and signatures are computed. */
export interface EventTemplate {
  type: string;
  state_key?: string;
  sender: string;
  content: JsonObject;
  /** Omitted for the create event in room versions whose room ID is its hash (v12). */
  room_id?: string;
  /** In the room version's shape: [id, {sha256}] pairs in v1/v2 (see eventReference), IDs after. */
  prev_events: EventReference[];
  auth_events: EventReference[];
  depth: number;
  origin_server_ts: number;
  /** For m.room.redaction; placed top-level or in content as the room version says. */
  redacts?: string;
  unsigned?: JsonObject;
}

export interface EventSigner {
  serverName: string;
  key: SigningKey;
}

/**
 * Build, hash and sign a local event. `randomness` (at least 16 bytes) is required only for
 * room versions 1 and 2, whose event IDs are random. The result passed the same format checks
 * as a received PDU (size, IDs, number rules) and carries its event_id (and v12 create room_id).
 */
export function buildEvent(template: EventTemplate, roomVersion: RoomVersion, signer: EventSigner, randomness?: Uint8Array): Verdict<RoomEvent> {
  if (domainOf(template.sender) !== signer.serverName) {
    return reject('M_FORBIDDEN', `${signer.serverName} cannot create events for sender ${template.sender}`);
  }
  const pdu: Record<string, unknown> = {
    type: template.type,
    sender: template.sender,
    content: template.content,
    prev_events: template.prev_events,
    auth_events: template.auth_events,
    depth: template.depth,
    origin_server_ts: template.origin_server_ts,
  };
  if (template.room_id !== undefined) pdu.room_id = template.room_id;
  if (template.state_key !== undefined) pdu.state_key = template.state_key;
  if (template.redacts !== undefined) {
    if (!roomVersion.redactsInContent) pdu.redacts = template.redacts;
    else if (template.content.redacts === undefined) pdu.content = { ...template.content, redacts: template.redacts };
    else if (template.content.redacts !== template.redacts) return reject('M_INVALID_PARAM', 'redacts given twice with different values');
  }
  if (roomVersion.eventIdFormat === 'v1') {
    if (randomness === undefined || randomness.length < 16) {
      return reject('M_INVALID_PARAM', `room version ${roomVersion.id} event IDs need at least 16 random bytes`);
    }
    pdu.event_id = legacyEventId(randomness, signer.serverName);
  }
  return hashSignAndCheck(pdu, roomVersion, signer, template.unsigned);
}

/**
 * What hashAndSignEvent and then parsePdu would do to a new local event, encoding it to canonical
 * JSON once in full and once redacted instead of three and two times: the content hash's input is
 * the whole event (so its length gives the wire size), and the signed bytes are the reference
 * hash's input (so their hash gives the event ID).
 */
function hashSignAndCheck(pdu: Record<string, unknown>, rv: RoomVersion, signer: EventSigner, unsigned: JsonObject | undefined): Verdict<RoomEvent> {
  let hashInput: string;
  try {
    hashInput = encodeCanonicalJson(pdu, { strict: rv.strictCanonicalJson });
  } catch (e) {
    if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
    if (e instanceof RangeError) return reject('M_BAD_JSON', 'event JSON is too deeply nested');
    throw e;
  }
  const hashes = { sha256: encodeBase64(sha256(hashInput)) };
  const hashed = { ...pdu, hashes };
  const signingBytes = eventSigningBytes(hashed, rv);
  const signatures = { [signer.serverName]: { [signer.key.keyId]: encodeBase64(signBytes(signingBytes, signer.key)) } };
  const signed: Record<string, unknown> = unsigned === undefined ? { ...hashed, signatures } : { ...hashed, signatures, unsigned };

  // The wire form is the hashed input plus the keys added since; object key order does not change a length.
  let size = Buffer.byteLength(hashInput, 'utf8') + Buffer.byteLength(`,"hashes":${encodeCanonicalJson(hashes)},"signatures":${encodeCanonicalJson(signatures)}`, 'utf8');
  if (unsigned !== undefined) size += Buffer.byteLength(`,"unsigned":${encodeCanonicalJson(unsigned)}`, 'utf8');
  if (size > MAX_PDU_BYTES) return reject('M_TOO_LARGE', `event is ${size} bytes; the limit is ${MAX_PDU_BYTES}`);
  const format = checkFormat(signed as JsonObject, rv);
  if (!format.ok) return format;

  if (rv.eventIdFormat !== 'v1') signed.event_id = eventIdFromReferenceHash(sha256(signingBytes), rv);
  if (rv.roomIdIsCreateEventHash && isCreateEvent(signed)) signed.room_id = '!' + (signed.event_id as string).slice(1);
  return { ok: true, value: signed as unknown as RoomEvent };
}

// ---------------------------------------------------------------------------------------------
// Format checks on received PDUs. spec: server-server-api "Checks performed on receipt of a PDU"
// step 1; rooms/* "Event format" (data/api/server-server/definitions/pdu_v*.yaml);
// client-server-api "Size limits".

/** spec: client-server-api "Size limits": the canonical JSON federation event, signatures included. */
export const MAX_PDU_BYTES = 65_536;
/** spec: client-server-api "Size limits" for `type` and `state_key`. */
export const MAX_TYPE_BYTES = 255;
export const MAX_STATE_KEY_BYTES = 255;
/** spec: pdu_v1 "auth_events": at most 10; "prev_events": at most 20. */
export const MAX_AUTH_EVENTS = 10;
export const MAX_PREV_EVENTS = 20;
// depth "must be less than the maximum value for an integer": 2^63 - 1 before v6, 2^53 - 1 once
// canonical JSON is enforced (rooms/v6 "Event format").
const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63;

/**
 * Validate a received PDU against the event format of `roomVersion` (a RoomVersion or its ID)
 * and return it as a RoomEvent with its event_id (and, for a v12 create event, room_id)
 * computed. `input` is the parsed JSON object, or the raw JSON text/bytes: raw input lets
 * strict room versions also reject numbers written as `1.0` or `1e3`, which parsing hides.
 * Never throws; every problem is a typed rejection.
 */
export function parsePdu(input: unknown, roomVersion: RoomVersion | string): Verdict<RoomEvent> {
  const version = typeof roomVersion === 'string' ? getRoomVersion(roomVersion) : roomVersion;
  if (version === undefined) return reject('M_UNSUPPORTED_ROOM_VERSION', `unknown room version ${JSON.stringify(roomVersion)}`);
  try {
    return parseWithVersion(input, version);
  } catch (e) {
    if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
    if (e instanceof RangeError) return reject('M_BAD_JSON', 'event JSON is too deeply nested');
    throw e;
  }
}

function parseWithVersion(input: unknown, rv: RoomVersion): Verdict<RoomEvent> {
  let pdu: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    let text: string;
    try {
      // Invalid UTF-8 would otherwise become U+FFFD and hash as something the sender never sent.
      text = typeof input === 'string' ? input : UTF8.decode(input);
    } catch {
      return reject('M_NOT_JSON', 'event is not valid UTF-8');
    }
    if (rv.strictCanonicalJson) {
      const numbers = checkStrictNumberSyntax(text);
      if (!numbers.ok) return numbers;
    }
    try {
      pdu = JSON.parse(text);
    } catch {
      return reject('M_NOT_JSON', 'event is not valid JSON');
    }
  }
  if (!isObject(pdu)) return reject('M_BAD_JSON', 'event must be a JSON object');

  const canonical = canonicalJson(pdu, { strict: rv.strictCanonicalJson });
  if (!canonical.ok) return canonical;
  const size = Buffer.byteLength(canonical.value, 'utf8');
  if (size > MAX_PDU_BYTES) return reject('M_TOO_LARGE', `event is ${size} bytes; the limit is ${MAX_PDU_BYTES}`);

  const format = checkFormat(pdu, rv);
  if (!format.ok) return format;

  const event: Record<string, unknown> = { ...pdu };
  if (rv.eventIdFormat !== 'v1') {
    event.event_id = eventIdFromReferenceHash(referenceHash(pdu, rv), rv);
  }
  if (rv.roomIdIsCreateEventHash && isCreateEvent(pdu)) {
    event.room_id = '!' + (event.event_id as string).slice(1);
  }
  return { ok: true, value: event as unknown as RoomEvent };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bad(reason: string): Verdict<never> {
  return reject('M_BAD_JSON', reason);
}

function checkFormat(pdu: JsonObject, rv: RoomVersion): Verdict {
  const { type, sender, content, hashes, signatures } = pdu;

  if (typeof type !== 'string') return bad('type must be a string');
  if (Buffer.byteLength(type, 'utf8') > MAX_TYPE_BYTES) return bad(`type exceeds ${MAX_TYPE_BYTES} bytes`);
  if (Object.hasOwn(pdu, 'state_key')) {
    if (typeof pdu.state_key !== 'string') return bad('state_key must be a string');
    if (Buffer.byteLength(pdu.state_key, 'utf8') > MAX_STATE_KEY_BYTES) return bad(`state_key exceeds ${MAX_STATE_KEY_BYTES} bytes`);
  }
  // Historical localparts are allowed: servers must accept such senders on events.
  // spec: appendices "Historical User IDs"
  if (typeof sender !== 'string' || !isValidUserId(sender, { historical: true })) return bad('sender must be a valid user ID');
  if (!isObject(content)) return bad('content must be an object');

  // room_id: absent from the v12 create event, whose ID is the room ID; required elsewhere.
  const hashedRoomIds = rv.roomIdIsCreateEventHash;
  if (hashedRoomIds && isCreateEvent(pdu)) {
    if (Object.hasOwn(pdu, 'room_id')) return bad(`the create event has no room_id in room version ${rv.id}`);
  } else if (typeof pdu.room_id !== 'string' || !isValidRoomId(pdu.room_id, { hashed: hashedRoomIds })) {
    return bad('room_id must be a valid room ID');
  }

  // event_id: on the wire in v1/v2 only; v3+ servers compute it. spec: rooms/v3 "Event format"
  if (rv.eventIdFormat === 'v1') {
    if (typeof pdu.event_id !== 'string' || !isValidEventId(pdu.event_id, 'v1')) return bad('event_id must be a valid event ID');
  } else if (Object.hasOwn(pdu, 'event_id')) {
    return bad(`event_id is not part of the event format in room version ${rv.id}`);
  }

  const ts = pdu.origin_server_ts;
  if (typeof ts !== 'number' || !Number.isInteger(ts) || ts < INT64_MIN || ts >= INT64_LIMIT) {
    return bad('origin_server_ts must be an integer');
  }
  const depth = pdu.depth;
  const depthInRange = rv.strictCanonicalJson ? (d: number) => d <= Number.MAX_SAFE_INTEGER : (d: number) => d < INT64_LIMIT;
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 0 || !depthInRange(depth)) {
    return bad('depth must be a non-negative integer within range');
  }

  const prev = checkReferences(pdu.prev_events, 'prev_events', MAX_PREV_EVENTS, rv);
  if (!prev.ok) return prev;
  const auth = checkReferences(pdu.auth_events, 'auth_events', MAX_AUTH_EVENTS, rv);
  if (!auth.ok) return auth;

  if (!isObject(hashes) || typeof hashes.sha256 !== 'string') return bad('hashes.sha256 must be a string');
  if (!isSignatures(signatures)) return bad('signatures must map server names to objects of key ID to signature');
  if (Object.hasOwn(pdu, 'unsigned') && !isObject(pdu.unsigned)) return bad('unsigned must be an object');

  // Top-level `redacts` is part of the format until v11 moved it into content.
  if (!rv.redactsInContent && Object.hasOwn(pdu, 'redacts')) {
    if (typeof pdu.redacts !== 'string' || !isValidEventId(pdu.redacts, rv.eventIdFormat)) return bad('redacts must be a valid event ID');
  }
  return { ok: true };
}

function checkReferences(value: unknown, field: string, max: number, rv: RoomVersion): Verdict {
  if (!Array.isArray(value)) return bad(`${field} must be an array`);
  if (value.length > max) return bad(`${field} has more than ${max} entries`);
  for (const entry of value) {
    if (rv.eventReferencesWithHashes) {
      // v1/v2: [event_id, { sha256: hash }]. spec: pdu_v1.yaml
      if (!Array.isArray(entry) || entry.length !== 2) return bad(`${field} entries must be [event_id, hashes] pairs`);
      const [id, hash] = entry as unknown[];
      if (typeof id !== 'string' || !isValidEventId(id, rv.eventIdFormat)) return bad(`${field} holds an invalid event ID`);
      if (!isObject(hash) || typeof hash.sha256 !== 'string') return bad(`${field} entries need a sha256 hash`);
    } else if (typeof entry !== 'string' || !isValidEventId(entry, rv.eventIdFormat)) {
      return bad(`${field} holds an invalid event ID`);
    }
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Checks on received events. spec: server-server-api "Validating hashes and signatures on
// received events"

/** Whether the event's `hashes.sha256` matches its content hash (of the federation form). */
export function checkContentHash(event: EventJson, roomVersion: RoomVersion): boolean {
  const hashes = event.hashes;
  if (!isObject(hashes) || typeof hashes.sha256 !== 'string') return false;
  const expected = decodeBase64(hashes.sha256);
  if (expected === undefined) return false;
  try {
    return expected.equals(computeContentHash(toFederationPdu(event, roomVersion)));
  } catch (e) {
    if (e instanceof CanonicalJsonError) return false;
    throw e;
  }
}

/**
 * Check the content hash. A mismatch means we were given (or someone tampered with) a redacted
 * copy, and the spec says to continue with the redacted event: `redact` says whether that
 * happened and `event` is the event to use from here on.
 */
export function verifyEventHashes(event: RoomEvent, roomVersion: RoomVersion): { redact: boolean; event: RoomEvent } {
  if (checkContentHash(event, roomVersion)) return { redact: false, event };
  return { redact: true, event: redactEvent(event, roomVersion) };
}

/**
 * The servers whose signatures an event needs: the sender's server (except for invites from a
 * third-party invite, which another server may send); in v1/v2 also the server in the event ID;
 * and for a join authorised by a resident user (restricted rooms) that user's server.
 */
export function requiredSignatureServers(event: EventJson, roomVersion: RoomVersion): Verdict<string[]> {
  const servers = new Set<string>();
  const content = isObject(event.content) ? event.content : {};
  const isMember = event.type === 'm.room.member';
  const sender = typeof event.sender === 'string' ? domainOf(event.sender) : undefined;
  if (sender === undefined) return reject('M_BAD_JSON', 'sender has no server name');
  const thirdPartyInvite = isMember && content.membership === 'invite' && Object.hasOwn(content, 'third_party_invite');
  if (!thirdPartyInvite) servers.add(sender);
  if (roomVersion.eventIdFormat === 'v1') {
    const eventServer = typeof event.event_id === 'string' ? domainOf(event.event_id) : undefined;
    if (eventServer === undefined) return reject('M_BAD_JSON', 'event_id has no server name');
    servers.add(eventServer);
  }
  if (roomVersion.restrictedJoinsSupported && isMember && content.membership === 'join' && Object.hasOwn(content, 'join_authorised_via_users_server')) {
    const via = content.join_authorised_via_users_server;
    if (typeof via !== 'string' || !isValidUserId(via, { historical: true })) {
      return reject('M_BAD_JSON', 'join_authorised_via_users_server must be a user ID');
    }
    servers.add(domainOf(via)!);
  }
  return { ok: true, value: [...servers] };
}

/**
 * Check the signatures an event needs (see requiredSignatureServers) over its redacted form.
 * `lookup` returns the verify keys the caller already holds; unknown keys are skipped, keys that
 * expired before origin_server_ts are skipped, and from room version 5 so are keys whose
 * valid_until_ts is earlier (spec: rooms/v5 "Signing key validity period"). Each required
 * server needs at least one valid signature and no invalid one from a known key.
 */
export function verifyEventSignatures(event: EventJson, roomVersion: RoomVersion, lookup: KeyLookup): Verdict {
  const servers = requiredSignatureServers(event, roomVersion);
  if (!servers.ok) return servers;
  let bytes: Buffer;
  try {
    bytes = eventSigningBytes(event, roomVersion);
  } catch (e) {
    if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
    if (e instanceof RangeError) return reject('M_BAD_JSON', 'event JSON is too deeply nested');
    throw e;
  }
  const ts = typeof event.origin_server_ts === 'number' ? event.origin_server_ts : undefined;
  const validity = { ts, enforceValidUntil: roomVersion.enforceKeyValidity };
  for (const server of servers.value) {
    const verdict = verifyJsonSignature(event, server, lookup, validity, bytes);
    if (!verdict.ok) return verdict;
  }
  return { ok: true };
}

/**
 * Verify the signature of one server, whether or not it is required (auth rules ask this of the
 * server of `join_authorised_via_users_server`).
 */
export function verifyEventSignatureFrom(event: EventJson, roomVersion: RoomVersion, serverName: string, lookup: KeyLookup): Verdict {
  let bytes: Buffer;
  try {
    bytes = eventSigningBytes(event, roomVersion);
  } catch (e) {
    if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
    throw e;
  }
  const ts = typeof event.origin_server_ts === 'number' ? event.origin_server_ts : undefined;
  return verifyJsonSignature(event, serverName, lookup, { ts, enforceValidUntil: roomVersion.enforceKeyValidity }, bytes);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
