// Who created the room. v1–v10: content.creator of m.room.create; v11: its sender;
// v12: its sender plus content.additional_creators, who have infinite power.

import type { RoomVersion } from '../room-versions.js';
import { stateKey, type RoomEvent, type StateKey } from '../pdu.js';
import { getOwn, getString } from './content.js';

export type AuthState = ReadonlyMap<StateKey, RoomEvent>;

export const CREATE_KEY = stateKey('m.room.create', '');
export const POWER_LEVELS_KEY = stateKey('m.room.power_levels', '');
export const JOIN_RULES_KEY = stateKey('m.room.join_rules', '');

export function memberKey(userId: string): StateKey {
  return stateKey('m.room.member', userId);
}

/**
 * The single "creator" the join rule 4.3.1 ("the state_key is the creator") refers to.
 * spec: rooms/v1 auth rule 5.2.1 (content.creator); rooms/v11 4.3.1 (sender of m.room.create).
 */
export function roomCreator(version: RoomVersion, create: RoomEvent): string | undefined {
  if (version.implicitRoomCreator) return typeof create.sender === 'string' ? create.sender : undefined;
  return getString(create.content, 'creator');
}

/**
 * Every room creator. v12: the create event's sender and each string in
 * content.additional_creators; earlier versions: the one creator.
 * spec: rooms/v12 "Authorisation rules", note on room creators.
 */
export function roomCreators(version: RoomVersion, create: RoomEvent | undefined): string[] {
  if (create === undefined) return [];
  if (!version.privilegedCreators) {
    const creator = roomCreator(version, create);
    return creator === undefined ? [] : [creator];
  }
  const creators = typeof create.sender === 'string' ? [create.sender] : [];
  const additional = getOwn(create.content, 'additional_creators');
  if (Array.isArray(additional)) {
    for (const user of additional) if (typeof user === 'string') creators.push(user);
  }
  return creators;
}

/** Whether userId is a creator of the room whose state is given. */
export function isCreator(version: RoomVersion, state: AuthState, userId: string): boolean {
  return roomCreators(version, state.get(CREATE_KEY)).includes(userId);
}
