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

  if (!(await inAllowedRoom(storage, rules.allow, userId))) return undefined;

  const inviteLevel = getNamedPowerLevel(version, state, 'invite');
  for (const member of await storage.rooms.joinedMemberIds(roomId)) {
    if (domainOf(member) === serverName && getPowerLevel(version, state, member) >= inviteLevel) return member;
  }
  return undefined;
}

/**
 * Whether `userId` is joined (as this server sees it) to one of the rooms a restricted join
 * rule's `allow` list names: what a resident server checks before it authorises a join, on its
 * own users' joins and on other servers' send_join alike.
 */
async function inAllowedRoom(storage: Storage, allow: unknown, userId: string): Promise<boolean> {
  const rooms = (Array.isArray(allow) ? allow : [])
    .map((a) => a as { type?: unknown; room_id?: unknown })
    .filter((a) => a?.type === 'm.room_membership' && typeof a.room_id === 'string')
    .map((a) => a.room_id as string);
  for (const roomId of rooms) if ((await storage.rooms.membership(roomId, userId)) === 'join') return true;
  return false;
}

/**
 * For a join naming one of our users as its authoriser (another server's send_join): whether we
 * may sign it, i.e. the joining user is in one of the allowed rooms, or needs no authorising
 * (already joined or invited). A hostile server may send a send_join without a make_join.
 */
export async function mayAuthoriseJoin(storage: Storage, roomId: string, userId: string): Promise<boolean> {
  const membership = await storage.rooms.membership(roomId, userId);
  if (membership === 'join' || membership === 'invite') return true;
  const nid = (await storage.events.currentState(roomId)).get(JOIN_RULES);
  const rules = nid === undefined ? undefined : (await storage.events.getEventsByNid([nid])).get(nid)?.event.content;
  return inAllowedRoom(storage, rules?.allow, userId);
}
