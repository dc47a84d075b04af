// Reading power levels out of room state, per room version.
// spec: server-server-api "Definitions" (required power level, invite/kick/ban/redact level);
// client-server-api m.room.power_levels (defaults); rooms/v1 "m.room.power_levels events accept
// values as strings" and "... as floats" (v1–v9); rooms/v10 (integers only); rooms/v12 (creators).

import type { RoomVersion } from '../room-versions.js';
import type { JsonObject } from '../pdu.js';
import { contentOf, getOwn, isObject } from './content.js';
import { CREATE_KEY, POWER_LEVELS_KEY, roomCreators, type AuthState } from './creators.js';

export type NamedPowerLevel = 'invite' | 'kick' | 'ban' | 'redact';

/** The levels the power levels event holds directly; rooms/v1 auth rule 10.3 lists them. */
export const TOP_LEVEL_POWER_LEVEL_KEYS = [
  'users_default', 'events_default', 'state_default', 'ban', 'redact', 'kick', 'invite',
] as const;

const NAMED_DEFAULTS: Readonly<Record<NamedPowerLevel, number>> = { invite: 0, kick: 50, ban: 50, redact: 50 };
const DEFAULT_STATE_LEVEL = 50;
const DEFAULT_EVENTS_LEVEL = 0;
const DEFAULT_NOTIFICATION_LEVEL = 50;
/** v1–v11: with no power levels event, the creator has 100 (client-server-api m.room.power_levels). */
const CREATOR_LEVEL_WITHOUT_POWER_LEVELS = 100;

// spec: rooms/v1 "accept values as strings": base-10 digits, optional leading zeros, one
// optional sign, optional surrounding whitespace. (Python's int(), which Synapse calls,
// also takes `_` separators and non-ASCII digits; the spec's narrower grammar wins.)
const INTEGER_STRING = /^\s*([+-]?\d+)\s*$/;

/**
 * One power level value, or undefined if the value is not a power level in this room version.
 * v10+ (`integerPowerLevels`): JSON integers only. v1–v9: integers, integer strings, and
 * finite floats truncated toward zero (Synapse's int()); booleans are not power levels.
 */
export function parsePowerLevel(version: RoomVersion, value: unknown): number | undefined {
  if (typeof value === 'number') {
    if (version.integerPowerLevels) return Number.isInteger(value) ? value : undefined;
    return Number.isFinite(value) ? Math.trunc(value) + 0 : undefined;
  }
  if (typeof value === 'string' && !version.integerPowerLevels) {
    const match = INTEGER_STRING.exec(value);
    if (match === null) return undefined;
    const parsed = Number(match[1]);
    return Number.isFinite(parsed) ? parsed + 0 : undefined;
  }
  return undefined;
}

/**
 * Power levels as seen from one room state. Reading is lenient (a malformed value counts as
 * absent, so the default applies) but the first malformed value read is recorded in
 * `malformed`; the authorization rules reject an event whose decision read one, as Synapse's
 * int() raises there. A JSON null level counts as absent, as Synapse's `.get()` reads it.
 */
export class PowerLevelsView {
  malformed: string | undefined;
  private readonly content: JsonObject | undefined;
  private creatorsCache: readonly string[] | undefined;

  constructor(
    private readonly version: RoomVersion,
    private readonly state: AuthState,
  ) {
    const event = state.get(POWER_LEVELS_KEY);
    this.content = event === undefined ? undefined : contentOf(event);
  }

  get hasPowerLevelsEvent(): boolean {
    return this.content !== undefined;
  }

  get creators(): readonly string[] {
    this.creatorsCache ??= roomCreators(this.version, this.state.get(CREATE_KEY));
    return this.creatorsCache;
  }

  /** The user's power level. spec: rooms/v12 note "The power level of room creators is infinitely high". */
  userLevel(userId: string): number {
    if (this.version.privilegedCreators && this.creators.includes(userId)) return Infinity;
    if (this.content === undefined) {
      return this.creators.includes(userId) ? CREATOR_LEVEL_WITHOUT_POWER_LEVELS : 0;
    }
    const users = this.map('users');
    const own = users === undefined ? undefined : this.level(users, userId, `users["${userId}"]`);
    return own ?? this.level(this.content, 'users_default') ?? 0;
  }

  /** The invite, kick, ban or redact level. spec: server-server-api "Definitions". */
  namedLevel(name: NamedPowerLevel): number {
    const level = this.content === undefined ? undefined : this.level(this.content, name);
    return level ?? NAMED_DEFAULTS[name];
  }

  /** The event type's required power level. spec: server-server-api "Definitions". */
  requiredLevel(eventType: string, isState: boolean): number {
    if (this.content !== undefined) {
      const events = this.map('events');
      const specific = events === undefined ? undefined : this.level(events, eventType, `events["${eventType}"]`);
      if (specific !== undefined) return specific;
    }
    const defaultKey = isState ? 'state_default' : 'events_default';
    const level = this.content === undefined ? undefined : this.level(this.content, defaultKey);
    return level ?? (isState ? DEFAULT_STATE_LEVEL : DEFAULT_EVENTS_LEVEL);
  }

  /** The level needed to trigger a notification of this kind (`room` is the only one in the spec). */
  notificationLevel(key: string): number {
    const notifications = this.content === undefined ? undefined : this.map('notifications');
    const level = notifications === undefined ? undefined : this.level(notifications, key, `notifications["${key}"]`);
    return level ?? DEFAULT_NOTIFICATION_LEVEL;
  }

  private map(key: string): JsonObject | undefined {
    const value = getOwn(this.content, key);
    if (value === undefined) return undefined;
    if (isObject(value)) return value;
    this.malformed ??= key;
    return undefined;
  }

  private level(container: JsonObject, key: string, label: string = key): number | undefined {
    const value = getOwn(container, key);
    if (value === undefined || value === null) return undefined;
    const level = parsePowerLevel(this.version, value);
    if (level === undefined) this.malformed ??= label;
    return level;
  }
}

/** The user's power level in this state (v12 creators: Infinity). Malformed values count as absent. */
export function getPowerLevel(version: RoomVersion, state: AuthState, userId: string): number {
  return new PowerLevelsView(version, state).userLevel(userId);
}

/** The level required to send an event of this type (state or not). */
export function getRequiredPowerLevel(version: RoomVersion, state: AuthState, eventType: string, isState: boolean): number {
  return new PowerLevelsView(version, state).requiredLevel(eventType, isState);
}

/** The invite (default 0), kick, ban or redact (default 50) level. */
export function getNamedPowerLevel(version: RoomVersion, state: AuthState, name: NamedPowerLevel): number {
  return new PowerLevelsView(version, state).namedLevel(name);
}

/** The level in `notifications` (e.g. `room`, default 50). */
export function getNotificationPowerLevel(version: RoomVersion, state: AuthState, key = 'room'): number {
  return new PowerLevelsView(version, state).notificationLevel(key);
}

/** getPowerLevel with the argument order of state resolution's AuthRules.userPowerLevel. */
export function userPowerLevel(version: RoomVersion, userId: string, authState: AuthState): number {
  return getPowerLevel(version, authState, userId);
}
