// Joins to restricted rooms: a user of an allowed room joins with a member event naming a user
// of this server who may invite (`join_authorised_via_users_server`), which the auth rules check.
// spec: client-server-api "Restricted rooms"; rooms/v8 authorization rules, m.room.member join
import { getNamedPowerLevel, getPowerLevel } from '../../core/auth.js';
import { domainOf } from '../../core/identifiers.js';
import { stateKey, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import type { Storage } from '../../storage/index.js';

const JOIN_RULES = stateKey('m.room.join_rules', '');
const AUTH_KEYS: StateKey[] = [JOIN_RULES, stateKey('m.room.power_levels', ''), stateKey('m.room.create', '')];

/**
 * The local user who authorises `userId`'s join to a restricted room, or undefined when the join
 * needs none (another join rule, already joined or invited) or none can be given (the user is in
 * none of the allowed rooms here, or no joined user of this server may invite): the auth rules
 * then refuse the join.
 */
export async function localJoinAuthoriser(storage: Storage, serverName: string, roomId: string, userId: string): Promise<string | undefined> {
  const room = await storage.events.getRoom(roomId);
  const version = room && getRoomVersion(room.roomVersion);
  if (!version?.restrictedJoinsSupported) return undefined;
  const current = await storage.events.currentState(roomId);
  const loaded = await storage.events.getEventsByNid(AUTH_KEYS.map((k) => current.get(k)).filter((n): n is number => n !== undefined));
  const state = new Map<StateKey, RoomEvent>();
  for (const k of AUTH_KEYS) {
    const nid = current.get(k);
    const e = nid === undefined ? undefined : loaded.get(nid);
    if (e) state.set(k, e.event);
  }
  const rules = state.get(JOIN_RULES)?.content;
  if (rules?.join_rule !== 'restricted' && !(rules?.join_rule === 'knock_restricted' && version.knockRestrictedSupported)) return undefined;
  const membership = await storage.rooms.membership(roomId, userId);
  if (membership === 'join' || membership === 'invite') return undefined;

  const allowed = (Array.isArray(rules.allow) ? rules.allow : [])
    .map((a) => a as { type?: unknown; room_id?: unknown })
    .filter((a) => a?.type === 'm.room_membership' && typeof a.room_id === 'string')
    .map((a) => a.room_id as string);
  let inAllowedRoom = false;
  for (const allowedRoom of allowed) if ((await storage.rooms.membership(allowedRoom, userId)) === 'join') inAllowedRoom = true;
  if (!inAllowedRoom) return undefined;

  const inviteLevel = getNamedPowerLevel(version, state, 'invite');
  for (const member of await storage.rooms.joinedMemberIds(roomId)) {
    if (domainOf(member) === serverName && getPowerLevel(version, state, member) >= inviteLevel) return member;
  }
  return undefined;
}
