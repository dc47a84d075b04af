// Room upgrades. spec: client-server-api modules/room_upgrades "Server behaviour"
import { getPowerLevel, getRequiredPowerLevel } from '../../core/auth.js';
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import type { RoomPipeline } from './pipeline.js';

/** spec step 3: the recommended transferable state, plus space relations (as Synapse copies them). */
const TRANSFERRED_TYPES = [
  'm.room.server_acl', 'm.room.encryption', 'm.room.name', 'm.room.avatar', 'm.room.topic',
  'm.room.guest_access', 'm.room.history_visibility', 'm.room.join_rules', 'm.space.child', 'm.space.parent',
];

export class RoomUpgrader {
  constructor(private readonly storage: Storage, private readonly pipeline: RoomPipeline) {}

  async upgrade(userId: string, oldRoomId: string, newVersionId: string, additionalCreators: string[] = []): Promise<string> {
    const newVersion = getRoomVersion(newVersionId);
    if (!newVersion) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${newVersionId} is not supported`, 400);
    const room = await this.storage.events.getRoom(oldRoomId);
    if (!room) throw notFound(`Unknown room ${oldRoomId}`);
    const oldVersion = getRoomVersion(room.roomVersion) as RoomVersion;
    if ((await this.storage.rooms.membership(oldRoomId, userId)) !== 'join') throw forbidden(`You are not joined to ${oldRoomId}`);

    const current = await this.storage.events.currentState(oldRoomId);
    const state = await this.pipeline.loadState(current, current.keys());
    // spec step 1: the user must be allowed to send the tombstone.
    if (getPowerLevel(oldVersion, state, userId) < getRequiredPowerLevel(oldVersion, state, 'm.room.tombstone', true)) {
      throw forbidden('You are not allowed to upgrade this room');
    }

    // spec step 2: the replacement room, its create event naming its predecessor.
    const oldCreate = state.get(stateKey('m.room.create', ''));
    const lastEventId = (await this.storage.events.forwardExtremities(oldRoomId))[0];
    const createContent: JsonObject = {
      room_version: newVersion.id,
      predecessor: newVersion.roomIdIsCreateEventHash ? { room_id: oldRoomId } : { room_id: oldRoomId, event_id: lastEventId },
    };
    if (oldCreate?.content.type !== undefined) createContent.type = oldCreate.content.type;
    if (oldCreate?.content['m.federate'] !== undefined) createContent['m.federate'] = oldCreate.content['m.federate'];
    if (!newVersion.implicitRoomCreator) createContent.creator = userId;
    if (newVersion.privilegedCreators && additionalCreators.length) createContent.additional_creators = [...new Set(additionalCreators)];
    const created = await this.pipeline.createRoom(newVersion, userId, createContent);
    const newRoomId = created.event.room_id;
    const send = (type: string, key: string, content: JsonObject) => this.pipeline.send(newRoomId, { type, state_key: key, sender: userId, content });

    const member = state.get(stateKey('m.room.member', userId));
    await send('m.room.member', userId, { ...(member?.content ?? {}), membership: 'join' });
    await send('m.room.power_levels', '', this.newPowerLevels(state.get(stateKey('m.room.power_levels', '')), newVersion, userId, createContent));
    for (const ev of transferable(state)) await send(ev.type, ev.state_key as string, ev.content).catch(() => undefined);
    // Bans stay in force in the new room.
    for (const [key, ev] of state) {
      if (key.startsWith('m.room.member\u0000') && ev.content.membership === 'ban') {
        await send('m.room.member', ev.state_key as string, { membership: 'ban', ...(typeof ev.content.reason === 'string' ? { reason: ev.content.reason } : {}) }).catch(() => undefined);
      }
    }

    // spec step 4: local aliases move; the canonical alias follows.
    await this.storage.aliases.moveRoom(oldRoomId, newRoomId);
    const canonical = state.get(stateKey('m.room.canonical_alias', ''));
    if (canonical && Object.keys(canonical.content).length) {
      await send('m.room.canonical_alias', '', canonical.content).catch(() => undefined);
      await this.pipeline.send(oldRoomId, { type: 'm.room.canonical_alias', state_key: '', sender: userId, content: {} }).catch(() => undefined);
    }

    // spec step 5: the tombstone.
    await this.pipeline.send(oldRoomId, {
      type: 'm.room.tombstone', state_key: '', sender: userId,
      content: { body: 'This room has been replaced', replacement_room: newRoomId },
    });

    // spec step 6: nobody but moderators may speak or invite in the old room.
    const oldPl = state.get(stateKey('m.room.power_levels', ''));
    if (oldPl) {
      const usersDefault = typeof oldPl.content.users_default === 'number' ? oldPl.content.users_default : 0;
      const restricted = Math.max(50, usersDefault + 1);
      await this.pipeline.send(oldRoomId, {
        type: 'm.room.power_levels', state_key: '', sender: userId,
        content: { ...oldPl.content, events_default: restricted, invite: restricted },
      }).catch(() => undefined);
    }
    return newRoomId;
  }

  /** The old power levels, with the upgrading user able to act: creators of v12 rooms are not listed. */
  private newPowerLevels(old: RoomEvent | undefined, version: RoomVersion, userId: string, createContent: JsonObject): JsonObject {
    const content: JsonObject = old ? structuredClone(old.content) : {};
    const users: Record<string, unknown> = typeof content.users === 'object' && content.users !== null && !Array.isArray(content.users) ? { ...(content.users as JsonObject) } : {};
    if (version.privilegedCreators) {
      delete users[userId];
      for (const c of Array.isArray(createContent.additional_creators) ? createContent.additional_creators : []) delete users[String(c)];
    } else {
      const existing = typeof users[userId] === 'number' ? (users[userId] as number) : 0;
      users[userId] = Math.max(existing, 100);
    }
    content.users = users as JsonObject;
    return content;
  }
}

function transferable(state: Map<StateKey, RoomEvent>): RoomEvent[] {
  return [...state.values()].filter((ev) => TRANSFERRED_TYPES.includes(ev.type) && Object.keys(ev.content).length > 0);
}
