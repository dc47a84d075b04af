// m.room.power_levels authorization. spec: rooms/v1 auth rule 10; rooms/v6 rule 9
// (`notifications`); rooms/v10 rule 9 (integers only); rooms/v12 rule 10 (creators not in users).

import type { RoomVersion } from '../room-versions.js';
import type { JsonObject, RoomEvent, Verdict } from '../pdu.js';
import { contentOf, getOwn, hasOwn, isObject, isValidUserId } from './content.js';
import { CREATE_KEY, POWER_LEVELS_KEY, roomCreators, type AuthState } from './creators.js';
import { parsePowerLevel, TOP_LEVEL_POWER_LEVEL_KEYS } from './power-levels.js';
import { deny, ruleNumbers } from './rules.js';

const OK: Verdict = { ok: true };

/** Parsed levels of one power levels event, for comparing old and new. */
interface Levels {
  top: Map<string, number>;
  events: Map<string, number>;
  notifications: Map<string, number>;
  users: Map<string, number>;
}

/**
 * `senderLevel` is the sender's level in the state the event is checked against (the caller
 * has already read it for the required-power-level rule).
 */
export function checkPowerLevelsEvent(version: RoomVersion, event: RoomEvent, state: AuthState, senderLevel: number): Verdict {
  const numbers = ruleNumbers(version);
  const sub = numbers.powerLevelsSub;
  const rule = (...parts: number[]) => [numbers.powerLevels, ...parts].join('.');
  const content = contentOf(event);

  if (sub.integerFields) {
    const bad = TOP_LEVEL_POWER_LEVEL_KEYS.find((key) => hasOwn(content, key) && !isJsonInteger(content[key]));
    if (bad !== undefined) return deny(version, 'power_levels_invalid', rule(sub.integerFields), `${bad} is not an integer`);
  }
  if (sub.integerMaps) {
    const bad = (['events', 'notifications'] as const).find((key) => hasOwn(content, key) && !isIntegerMap(content[key]));
    if (bad !== undefined) {
      return deny(version, 'power_levels_invalid', rule(sub.integerMaps), `${bad} is not an object with integer values`);
    }
  }
  const usersProblem = checkUsersProperty(version, getOwn(content, 'users'), hasOwn(content, 'users'));
  if (usersProblem !== undefined) return deny(version, 'power_levels_invalid', rule(sub.users), usersProblem);
  if (sub.creators) {
    const users = getOwn(content, 'users');
    const creator = roomCreators(version, state.get(CREATE_KEY)).find((user) => hasOwn(users, user));
    if (creator !== undefined) {
      return deny(version, 'power_levels_invalid', rule(sub.creators), `users contains the room creator ${creator}`);
    }
  }

  const previous = state.get(POWER_LEVELS_KEY);
  if (previous === undefined) return OK;

  const oldLevels = parseLevels(version, contentOf(previous));
  if (typeof oldLevels === 'string') {
    return deny(version, 'power_levels_invalid', rule(sub.namedLevels), `current power levels: ${oldLevels} is not an integer`);
  }
  const newLevels = parseLevels(version, content);
  if (typeof newLevels === 'string') {
    return deny(version, 'power_levels_invalid', rule(sub.namedLevels), `${newLevels} is not an integer`);
  }
  return checkChanges(version, event.sender, senderLevel, oldLevels, newLevels);
}

function checkChanges(version: RoomVersion, sender: unknown, senderLevel: number, old: Levels, now: Levels): Verdict {
  const numbers = ruleNumbers(version);
  const sub = numbers.powerLevelsSub;
  const forbid = (n: number, text: string) =>
    deny(version, 'power_levels_forbidden', `${numbers.powerLevels}.${n}.1`, text);
  const above = (level: number | undefined) => level !== undefined && level > senderLevel;

  for (const key of TOP_LEVEL_POWER_LEVEL_KEYS) {
    const [before, after] = [old.top.get(key), now.top.get(key)];
    if (before === after) continue;
    if (above(before)) return forbid(sub.namedLevels, `current ${key} is higher than the sender's power level`);
    if (above(after)) {
      return deny(version, 'power_levels_forbidden', `${numbers.powerLevels}.${sub.namedLevels}.2`,
        `new ${key} is higher than the sender's power level`);
    }
  }

  const maps: Array<'events' | 'notifications'> = version.limitNotificationsPowerLevels ? ['events', 'notifications'] : ['events'];
  for (const name of maps) {
    for (const [key, before] of changedEntries(old[name], now[name])) {
      if (above(before)) return forbid(sub.mapEntriesRemoved, `current ${name}["${key}"] is greater than the sender's power level`);
    }
  }
  for (const name of maps) {
    for (const [key, , after] of changedEntries(old[name], now[name])) {
      if (above(after)) return forbid(sub.mapEntriesAdded, `new ${name}["${key}"] is greater than the sender's power level`);
    }
  }

  const changedUsers = changedEntries(old.users, now.users);
  for (const [user, before] of changedUsers) {
    if (user !== sender && before !== undefined && before >= senderLevel) {
      return forbid(sub.usersRemoved, `current level of ${user} is not below the sender's power level`);
    }
  }
  for (const [user, , after] of changedUsers) {
    if (above(after)) return forbid(sub.usersAdded, `new level of ${user} is greater than the sender's power level`);
  }
  return OK;
}

/** Entries added, changed or removed between two maps: [key, old, new]. */
function changedEntries(before: Map<string, number>, after: Map<string, number>): Array<[string, number | undefined, number | undefined]> {
  const changed: Array<[string, number | undefined, number | undefined]> = [];
  for (const [key, level] of before) {
    if (after.get(key) !== level) changed.push([key, level, after.get(key)]);
  }
  for (const [key, level] of after) {
    if (!before.has(key)) changed.push([key, undefined, level]);
  }
  return changed;
}

function isJsonInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value);
}

function isIntegerMap(value: unknown): boolean {
  return isObject(value) && Object.values(value).every(isJsonInteger);
}

/**
 * spec: rooms/v1 rule 10.1 / v10 rule 9.3: "If the users property in content is not an object with
 * keys that are valid user IDs with values that are integers (or a string that is an integer), reject."
 */
function checkUsersProperty(version: RoomVersion, users: unknown, present: boolean): string | undefined {
  if (!present) return undefined;
  if (!isObject(users)) return 'users is not an object';
  for (const [user, level] of Object.entries(users)) {
    if (!isValidUserId(user)) return `users key ${JSON.stringify(user)} is not a valid user ID`;
    if (parsePowerLevel(version, level) === undefined) return `users["${user}"] is not an integer`;
  }
  return undefined;
}

/**
 * Every level the comparison rules look at, parsed; or the name of the first malformed one
 * (for v1–v9, where only `users` is validated up front, Synapse's int() raises on these).
 * `notifications` is only compared from v6 (`limitNotificationsPowerLevels`).
 */
function parseLevels(version: RoomVersion, content: JsonObject): Levels | string {
  const levels: Levels = { top: new Map(), events: new Map(), notifications: new Map(), users: new Map() };
  for (const key of TOP_LEVEL_POWER_LEVEL_KEYS) {
    if (!hasOwn(content, key)) continue;
    const level = parsePowerLevel(version, content[key]);
    if (level === undefined) return key;
    levels.top.set(key, level);
  }
  const maps = version.limitNotificationsPowerLevels ? (['events', 'notifications', 'users'] as const) : (['events', 'users'] as const);
  for (const name of maps) {
    if (!hasOwn(content, name)) continue;
    const map = content[name];
    if (!isObject(map)) return name;
    for (const [key, value] of Object.entries(map)) {
      const level = parsePowerLevel(version, value);
      if (level === undefined) return `${name}["${key}"]`;
      levels[name].set(key, level);
    }
  }
  return levels;
}
