// The table of room versions (spec: rooms/*). Every version-dependent rule in
// Weft reads a flag from here; no code elsewhere compares version numbers.

export type EventIdFormat = 'v1' | 'v3' | 'v4';
/** v1: original algorithm; v6: aliases lose meaning; v8: join_rules keep `allow`;
 *  v9: join_authorised_via_users_server kept; v11: the clarified algorithm (create content kept,
 *  redacts in content, ...). spec: rooms/v1, v6, v8, v9, v11 "Redactions" */
export type RedactionRules = 'v1' | 'v6' | 'v8' | 'v9' | 'v11';
export type StateResAlgorithm = 'v1' | 'v2' | 'v2.1';

export interface RoomVersion {
  readonly id: string;
  readonly stable: boolean;
  readonly eventIdFormat: EventIdFormat;
  readonly redactionRules: RedactionRules;
  readonly stateRes: StateResAlgorithm;
  /** v1–v5: m.room.aliases events have their own auth rule (rule 4). */
  readonly specialCaseAliasesAuth: boolean;
  /** v1–v2: auth_events / prev_events are [event_id, {hashes}] pairs. */
  readonly eventReferencesWithHashes: boolean;
  /** v3+: m.room.redaction events are checked at the domain level when served, not in auth rules. */
  readonly redactionDomainCheckDeferred: boolean;
  /** v5+: signing keys must be valid at origin_server_ts. */
  readonly enforceKeyValidity: boolean;
  /** v6+: canonical JSON forbids floats and integers outside [-(2^53)+1, 2^53-1]. */
  readonly strictCanonicalJson: boolean;
  /** v6+: the `notifications` key of power levels is checked in auth rules. */
  readonly limitNotificationsPowerLevels: boolean;
  /** v7+ */
  readonly knockingSupported: boolean;
  /** v8+ */
  readonly restrictedJoinsSupported: boolean;
  /** v10+ */
  readonly knockRestrictedSupported: boolean;
  /** v10+: power level values must be integers (not strings). */
  readonly integerPowerLevels: boolean;
  /** v11+: `redacts` moves into content; create event has no `creator` requirement. */
  readonly redactsInContent: boolean;
  /** v11+: m.room.create's `creator` field is not used; the sender is the creator. */
  readonly implicitRoomCreator: boolean;
  /** v12+: creators (sender + additional_creators) have infinite power. */
  readonly privilegedCreators: boolean;
  /** v12+: room ID is `!` + URL-safe base64 reference hash of the create event; create has no room_id. */
  readonly roomIdIsCreateEventHash: boolean;
  /** v12+: the create event is not listed in auth_events (it is implied by room_id). */
  readonly createEventInAuthEvents: boolean;
}

const v1: RoomVersion = {
  id: '1',
  stable: true,
  eventIdFormat: 'v1',
  redactionRules: 'v1',
  stateRes: 'v1',
  specialCaseAliasesAuth: true,
  eventReferencesWithHashes: true,
  redactionDomainCheckDeferred: false,
  enforceKeyValidity: false,
  strictCanonicalJson: false,
  limitNotificationsPowerLevels: false,
  knockingSupported: false,
  restrictedJoinsSupported: false,
  knockRestrictedSupported: false,
  integerPowerLevels: false,
  redactsInContent: false,
  implicitRoomCreator: false,
  privilegedCreators: false,
  roomIdIsCreateEventHash: false,
  createEventInAuthEvents: true,
};

const v2: RoomVersion = { ...v1, id: '2', stateRes: 'v2' };
const v3: RoomVersion = { ...v2, id: '3', eventIdFormat: 'v3', eventReferencesWithHashes: false, redactionDomainCheckDeferred: true };
const v4: RoomVersion = { ...v3, id: '4', eventIdFormat: 'v4' };
const v5: RoomVersion = { ...v4, id: '5', enforceKeyValidity: true };
const v6: RoomVersion = {
  ...v5, id: '6', redactionRules: 'v6', specialCaseAliasesAuth: false,
  strictCanonicalJson: true, limitNotificationsPowerLevels: true,
};
const v7: RoomVersion = { ...v6, id: '7', knockingSupported: true };
const v8: RoomVersion = { ...v7, id: '8', redactionRules: 'v8', restrictedJoinsSupported: true };
const v9: RoomVersion = { ...v8, id: '9', redactionRules: 'v9' };
const v10: RoomVersion = { ...v9, id: '10', knockRestrictedSupported: true, integerPowerLevels: true };
const v11: RoomVersion = { ...v10, id: '11', redactionRules: 'v11', redactsInContent: true, implicitRoomCreator: true };
const v12: RoomVersion = {
  ...v11, id: '12', stateRes: 'v2.1', privilegedCreators: true,
  roomIdIsCreateEventHash: true, createEventInAuthEvents: false,
};

export const ROOM_VERSIONS: ReadonlyMap<string, RoomVersion> = new Map(
  [v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12].map((v) => [v.id, v]),
);

export const DEFAULT_ROOM_VERSION = '12';

export function getRoomVersion(id: string): RoomVersion | undefined {
  return ROOM_VERSIONS.get(id);
}
