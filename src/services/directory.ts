// Room aliases and the room's entry in the published room directory.
// spec: client-server-api "Room aliases", "Published room directory"
import { getPowerLevel, getRequiredPowerLevel } from '../core/auth.js';
import { isValidRoomAlias, isValidRoomId } from '../core/identifiers.js';
import { stateKey, type JsonObject, type JsonValue, type RoomEvent } from '../core/pdu.js';
import { getRoomVersion } from '../core/room-versions.js';
import { MatrixError, forbidden, notFound } from '../errors.js';
import type { Storage } from '../storage/index.js';
import type { RoomPipeline } from './rooms/pipeline.js';

const CANONICAL_ALIAS = 'm.room.canonical_alias';

export class DirectoryService {
  constructor(
    private readonly storage: Storage,
    private readonly serverName: string,
    private readonly pipeline: RoomPipeline,
  ) {}

  checkAlias(alias: string): void {
    if (!isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', `Invalid room alias ${JSON.stringify(alias)}`, 400);
  }

  isLocal(alias: string): boolean {
    return alias.slice(alias.indexOf(':') + 1) === this.serverName;
  }

  /**
   * Asks the alias's server over federation (spec: server-server-api GET /query/directory);
   * set by the federation services. Undefined: the alias does not exist there.
   */
  remoteLookup?: (alias: string) => Promise<{ room_id: string; servers: string[] } | undefined>;

  async resolveAlias(alias: string): Promise<string> {
    return (await this.resolveAliasWithServers(alias)).room_id;
  }

  /** The room of an alias and the servers to join it through (for a remote alias, those its server names). */
  async resolveAliasWithServers(alias: string): Promise<{ room_id: string; servers: string[] }> {
    this.checkAlias(alias);
    if (!this.isLocal(alias)) {
      const remote = await this.remoteLookup?.(alias);
      if (!remote) throw notFound(`Room alias ${alias} not found`);
      return remote;
    }
    const found = await this.storage.aliases.get(alias);
    if (!found) throw notFound(`Room alias ${alias} not found`);
    return { room_id: found.roomId, servers: [] };
  }

  /** spec: GET /directory/room/{roomAlias}: the room and the servers that are in it (ours first). */
  async lookupAlias(alias: string): Promise<{ room_id: string; servers: string[] }> {
    if (!this.isLocal(alias)) return this.resolveAliasWithServers(alias);
    const roomId = await this.resolveAlias(alias);
    const servers = new Set([this.serverName]);
    for (const u of await this.storage.rooms.joinedMemberIds(roomId)) servers.add(u.slice(u.indexOf(':') + 1));
    return { room_id: roomId, servers: [...servers] };
  }

  /** Records a local alias (no permission checks: createRoom and setAlias make them). */
  async createAlias(alias: string, roomId: string, creator: string): Promise<void> {
    this.checkAlias(alias);
    if (!this.isLocal(alias)) throw new MatrixError('M_INVALID_PARAM', `Room aliases must be on this server (${this.serverName})`, 400);
    if (!(await this.storage.events.getRoom(roomId))) throw notFound(`Unknown room ${roomId}`);
    // spec: PUT /directory/room/{roomAlias} 409 (its example errcode is M_UNKNOWN, as Synapse sends).
    if (!(await this.storage.aliases.create(alias, roomId, creator))) throw new MatrixError('M_UNKNOWN', `Room alias ${alias} already exists`, 409);
  }

  /** spec: PUT /directory/room/{roomAlias}. As Synapse: only members of the room (or server admins) may add aliases. */
  async setAlias(userId: string, alias: string, roomId: string): Promise<void> {
    this.checkAlias(alias);
    if (!this.isLocal(alias)) throw new MatrixError('M_INVALID_PARAM', `Room aliases must be on this server (${this.serverName})`, 400);
    checkRoomId(roomId);
    if (!(await this.storage.events.getRoom(roomId))) throw notFound(`Unknown room ${roomId}`);
    if (!(await this.isServerAdmin(userId)) && (await this.storage.rooms.membership(roomId, userId)) !== 'join') {
      throw forbidden('You must be in the room to create an alias for it');
    }
    await this.createAlias(alias, roomId, userId);
  }

  /**
   * spec: DELETE /directory/room/{roomAlias}. Allowed to the alias's creator, server admins, and
   * users who may send m.room.canonical_alias in the room (Synapse's rule). If the alias is in
   * the room's canonical alias event, it is taken out of it, as the requester; should they lack
   * the power to, the alias is deleted all the same (the spec's recommendation).
   */
  async deleteAlias(userId: string, alias: string): Promise<void> {
    this.checkAlias(alias);
    const found = this.isLocal(alias) ? await this.storage.aliases.get(alias) : undefined;
    if (!found) throw notFound(`Room alias ${alias} not found`);
    if (found.creator !== userId && !(await this.canEditDirectory(userId, found.roomId))) {
      throw forbidden("You don't have permission to delete the alias");
    }
    const roomId = await this.storage.aliases.delete(alias);
    // Deleted by someone else between the checks and here.
    if (roomId === undefined) throw notFound(`Room alias ${alias} not found`);
    await this.removeFromCanonicalAlias(userId, roomId, alias);
  }

  /** spec: GET /rooms/{roomId}/aliases: for members, anyone when history is world_readable, and server admins. */
  async localAliases(userId: string, roomId: string): Promise<string[]> {
    checkRoomId(roomId);
    const allowed = (await this.storage.events.getRoom(roomId)) !== undefined && (
      (await this.storage.rooms.membership(roomId, userId)) === 'join'
      || (await this.currentContent(roomId, 'm.room.history_visibility'))?.history_visibility === 'world_readable'
      || (await this.isServerAdmin(userId)));
    if (!allowed) throw forbidden('You are not a member of the room');
    return this.storage.aliases.forRoom(roomId);
  }

  /** spec: GET /directory/list/room/{roomId} */
  async visibility(roomId: string): Promise<'public' | 'private'> {
    checkRoomId(roomId);
    const room = await this.storage.events.getRoom(roomId);
    if (!room) throw notFound('Room not found');
    return room.isPublic ? 'public' : 'private';
  }

  /**
   * spec: PUT /directory/list/room/{roomId}. As Synapse: server admins, and members who may send
   * m.room.canonical_alias (the room's moderators and admins under the default power levels).
   */
  async setVisibility(userId: string, roomId: string, visibility: 'public' | 'private'): Promise<void> {
    checkRoomId(roomId);
    if (!(await this.storage.events.getRoom(roomId))) throw notFound('Room not found');
    if (!(await this.canEditDirectory(userId, roomId))) throw forbidden('You are not allowed to change the room\'s directory visibility');
    await this.storage.events.setRoomPublic(roomId, visibility === 'public');
  }

  private async canEditDirectory(userId: string, roomId: string): Promise<boolean> {
    if (await this.isServerAdmin(userId)) return true;
    if ((await this.storage.rooms.membership(roomId, userId)) !== 'join') return false;
    const room = await this.storage.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!version) return false;
    const state = await this.currentEvents(roomId, ['m.room.create', 'm.room.power_levels']);
    return getPowerLevel(version, state, userId) >= getRequiredPowerLevel(version, state, CANONICAL_ALIAS, true);
  }

  private async isServerAdmin(userId: string): Promise<boolean> {
    return (await this.storage.accounts.getUser(userId))?.isAdmin === true;
  }

  private async removeFromCanonicalAlias(userId: string, roomId: string, alias: string): Promise<void> {
    const content = await this.currentContent(roomId, CANONICAL_ALIAS);
    if (!content) return;
    const next: JsonObject = { ...content };
    let changed = false;
    if (next.alias === alias) {
      delete next.alias;
      changed = true;
    }
    if (Array.isArray(content.alt_aliases) && content.alt_aliases.includes(alias)) {
      const alt = content.alt_aliases.filter((a) => a !== alias);
      if (alt.length) next.alt_aliases = alt;
      else delete next.alt_aliases;
      changed = true;
    }
    if (!changed) return;
    try {
      await this.pipeline.send(roomId, { type: CANONICAL_ALIAS, state_key: '', sender: userId, content: next });
    } catch (err) {
      if (!(err instanceof MatrixError && err.status === 403)) throw err;
    }
  }

  private async currentEvents(roomId: string, types: string[]): Promise<Map<string, RoomEvent>> {
    const state = await this.storage.events.currentState(roomId);
    return this.pipeline.loadState(state, types.map((t) => stateKey(t, '')));
  }

  private async currentContent(roomId: string, type: string): Promise<JsonObject | undefined> {
    return (await this.currentEvents(roomId, [type])).get(stateKey(type, ''))?.content;
  }
}

function checkRoomId(roomId: string): void {
  if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `Invalid room ID ${JSON.stringify(roomId)}`, 400);
}

/**
 * spec: PUT /rooms/{roomId}/state/{eventType}/{stateKey} 400: the aliases of an
 * m.room.canonical_alias event must be valid (M_INVALID_PARAM) and point to the room
 * (M_BAD_ALIAS). As Synapse, only aliases the event adds are checked, so a later change to an
 * alias does not block unrelated edits of the event.
 */
export async function validateCanonicalAlias(storage: Storage, serverName: string, roomId: string, type: string, key: string, content: JsonObject): Promise<void> {
  if (type !== CANONICAL_ALIAS || key !== '') return;
  const state = await storage.events.currentState(roomId);
  const nid = state.get(stateKey(CANONICAL_ALIAS, ''));
  const previous = nid === undefined ? undefined : (await storage.events.getEventsByNid([nid])).get(nid)?.event.content;
  const before = new Set<JsonValue>([previous?.alias ?? null, ...(Array.isArray(previous?.alt_aliases) ? previous.alt_aliases : [])]);

  const added: string[] = [];
  const alias = content.alias;
  if (alias !== undefined && alias !== null && alias !== '') {
    if (typeof alias !== 'string' || !isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', `Invalid alias ${JSON.stringify(alias)}`, 400);
    if (!before.has(alias)) added.push(alias);
  }
  const alt = content.alt_aliases;
  if (alt !== undefined) {
    if (!Array.isArray(alt)) throw new MatrixError('M_INVALID_PARAM', 'alt_aliases must be a list of room aliases', 400);
    for (const a of alt) {
      if (typeof a !== 'string' || !isValidRoomAlias(a)) throw new MatrixError('M_INVALID_PARAM', `Invalid alias ${JSON.stringify(a)} in alt_aliases`, 400);
      if (!before.has(a)) added.push(a);
    }
  }
  for (const a of new Set(added)) {
    // Aliases on other servers would be checked over federation, which Weft does not speak yet.
    const local = a.slice(a.indexOf(':') + 1) === serverName;
    const found = local ? await storage.aliases.get(a) : undefined;
    if (found?.roomId !== roomId) {
      throw new MatrixError('M_BAD_ALIAS', local
        ? `The alias ${a} does not point to this room`
        : `The alias ${a} is on another server and cannot be checked yet`, 400);
    }
  }
}
