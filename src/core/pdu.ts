// The shape of a persistent data unit (room event) shared by every module in core/.
// spec: server-server-api "PDUs"; rooms/v1 "Event format", rooms/v3 "Event format".

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject { [key: string]: JsonValue }

/** v1–v2 reference: [event_id, { sha256: hash }]; v3+: bare event ID. */
export type EventReference = string | [string, { sha256?: string }];

export interface PDU {
  /** Present on the wire only in v1–v2; in v3+ it is computed and attached locally. */
  event_id?: string;
  /** Absent on the create event of room version 12. */
  room_id?: string;
  sender: string;
  origin?: string;
  origin_server_ts: number;
  type: string;
  state_key?: string;
  content: JsonObject;
  prev_events: EventReference[];
  auth_events: EventReference[];
  depth: number;
  hashes: { sha256: string };
  signatures: Record<string, Record<string, string>>;
  unsigned?: JsonObject;
  redacts?: string;
  [key: string]: unknown;
}

/** A PDU whose event ID (and, in v12, room ID) has been computed. */
export interface RoomEvent extends PDU {
  event_id: string;
  room_id: string;
}

/** State is keyed by (type, state_key); core uses this string form for map keys. */
export type StateKey = string;
export function stateKey(type: string, key: string): StateKey {
  return `${type}\u0000${key}`;
}
export function splitStateKey(k: StateKey): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}

/** A map from (type, state_key) to event ID. */
export type StateMap = Map<StateKey, string>;

/** Typed rejection: core functions never throw for bad input, they return one of these. */
export interface Rejection { ok: false; code: string; reason: string }
export type Verdict<T = void> = ({ ok: true } & (T extends void ? object : { value: T })) | Rejection;

export function reject(code: string, reason: string): Rejection {
  return { ok: false, code, reason };
}
