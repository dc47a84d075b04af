// Checks on the content of state events this server creates, beyond the auth rules:
// clients get M_BAD_JSON for malformed power levels and join rules instead of a room in a
// state nobody can change. (Remote events are judged by the auth rules alone.)
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import type { RoomVersion } from '../../core/room-versions.js';
import { MatrixError } from '../../errors.js';

const bad = (msg: string) => new MatrixError('M_BAD_JSON', msg, 400);
const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPowerLevel = (v: JsonValue | undefined) => typeof v === 'number' && Number.isSafeInteger(v);

export function checkStateContent(version: RoomVersion, type: string, content: JsonObject): void {
  if (type === 'm.room.power_levels') checkPowerLevels(content);
  else if (type === 'm.room.join_rules') checkJoinRules(version, content);
}

/** spec: m.room.power_levels: every level an integer; `users` keyed by user IDs. */
export function checkPowerLevels(content: JsonObject): void {
  for (const key of ['ban', 'invite', 'kick', 'redact', 'state_default', 'events_default', 'users_default']) {
    if (content[key] !== undefined && !isPowerLevel(content[key])) throw bad(`power level \`${key}\` must be an integer`);
  }
  for (const key of ['events', 'users', 'notifications']) {
    const map = content[key];
    if (map === undefined) continue;
    if (!isObject(map)) throw bad(`power levels \`${key}\` must be an object`);
    for (const [k, v] of Object.entries(map)) {
      if (!isPowerLevel(v)) throw bad(`power level \`${key}.${k}\` must be an integer`);
      if (key === 'users' && !k.startsWith('@')) throw bad(`power levels \`users\` key ${JSON.stringify(k)} is not a user ID`);
    }
  }
}

/** spec: m.room.join_rules: a join rule the room version supports; `allow` conditions for restricted rules. */
export function checkJoinRules(version: RoomVersion, content: JsonObject): void {
  const rule = content.join_rule;
  const supported = ['public', 'invite', 'private'];
  if (version.knockingSupported) supported.push('knock');
  if (version.restrictedJoinsSupported) supported.push('restricted');
  if (version.knockRestrictedSupported) supported.push('knock_restricted');
  if (typeof rule !== 'string' || !supported.includes(rule)) {
    throw bad(`join_rule must be one of ${supported.join(', ')} in room version ${version.id}`);
  }
  if (content.allow !== undefined) {
    if (!Array.isArray(content.allow)) throw bad('`allow` must be a list');
    for (const a of content.allow) {
      if (!isObject(a) || typeof a.type !== 'string') throw bad('each `allow` condition needs a `type`');
      if (a.type === 'm.room_membership' && typeof a.room_id !== 'string') throw bad('an m.room_membership condition needs a `room_id`');
    }
  }
}
