// Room behaviour for clients: creating rooms, membership changes, sending messages and
// state, redactions. Each action builds one event and hands it to the pipeline.
// spec: client-server-api "Rooms" (createRoom), "Room membership", "Sending events to a room"
import { domainOf, isValidUserId } from '../../core/identifiers.js';
import { stateKey, type JsonObject } from '../../core/pdu.js';
import { DEFAULT_ROOM_VERSION, getRoomVersion } from '../../core/room-versions.js';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import type { StoredEvent } from '../../storage/events.js';
import type { RoomPipeline } from './pipeline.js';
import { checkPowerLevels, checkStateContent } from './content-checks.js';
import { validateCanonicalAlias } from '../directory.js';
import { relationOf } from '../../storage/relations.js';
import { localJoinAuthoriser } from './restricted-joins.js';

export type Preset = 'private_chat' | 'trusted_private_chat' | 'public_chat';

export interface CreateRoomRequest {
  visibility?: 'public' | 'private';
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  room_version?: string;
  creation_content?: JsonObject;
  initial_state?: Array<{ type: string; state_key?: string; content: JsonObject }>;
  preset?: Preset;
  is_direct?: boolean;
  power_level_content_override?: JsonObject;
}

const PRESETS: Record<Preset, { join_rule: string; history_visibility: string; guest_access: string }> = {
  private_chat: { join_rule: 'invite', history_visibility: 'shared', guest_access: 'can_join' },
  trusted_private_chat: { join_rule: 'invite', history_visibility: 'shared', guest_access: 'can_join' },
  public_chat: { join_rule: 'public', history_visibility: 'shared', guest_access: 'forbidden' },
};

export type Membership = 'join' | 'invite' | 'leave' | 'ban' | 'knock';

/** Rooms per /mutual_rooms batch. */
export const MUTUAL_ROOMS_BATCH = 50;

export class RoomService {
  constructor(
    private readonly storage: Storage,
    readonly pipeline: RoomPipeline,
    private readonly serverName: string,
  ) {}

  /** spec: POST /createRoom, the events in the order the spec lists them. */
  async createRoom(creator: string, req: CreateRoomRequest): Promise<{ room_id: string }> {
    const versionId = req.room_version ?? DEFAULT_ROOM_VERSION;
    const version = getRoomVersion(versionId);
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${versionId} is not supported`, 400);
    const preset = req.preset ?? (req.visibility === 'public' ? 'public_chat' : 'private_chat');
    // Everything is checked before the first event, so that a bad request creates no room.
    if (req.power_level_content_override) checkPowerLevels({ users: {}, ...req.power_level_content_override });
    const newAlias = req.room_alias_name === undefined ? undefined : `#${req.room_alias_name}:${this.serverName}`;
    for (const s of req.initial_state ?? []) {
      checkStateContent(version, s.type, s.content);
      // In a new room, the only alias that can point at it is the one this request creates.
      if (s.type === 'm.room.canonical_alias' && (s.state_key ?? '') === '') {
        const named = [s.content.alias, ...(Array.isArray(s.content.alt_aliases) ? s.content.alt_aliases : [])].filter((a) => a !== undefined && a !== null && a !== '');
        if (named.some((a) => a !== newAlias)) throw new MatrixError('M_BAD_ALIAS', 'initial_state names an alias that does not point to the new room', 400);
      }
    }
    const invitees = [...new Set(req.invite ?? [])];
    for (const u of invitees) {
      if (!isValidUserId(u, { historical: true })) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID in invite: ${u}`, 400);
    }

    const createContent: JsonObject = { ...(req.creation_content ?? {}), room_version: version.id };
    if (version.implicitRoomCreator) delete createContent.creator;
    else createContent.creator = creator;
    if (version.privilegedCreators && preset === 'trusted_private_chat') {
      const extra = Array.isArray(createContent.additional_creators) ? createContent.additional_creators : [];
      createContent.additional_creators = [...new Set([...extra, ...invitees])] as JsonObject[string];
    }
    const create = await this.pipeline.createRoom(version, creator, createContent);
    const roomId = create.event.room_id;
    const send = (type: string, state_key: string, content: JsonObject) =>
      this.pipeline.send(roomId, { type, state_key, sender: creator, content });

    await send('m.room.member', creator, { membership: 'join', ...(await this.profileContent(creator)) });

    const users: Record<string, number> = {};
    if (!version.privilegedCreators) {
      users[creator] = 100;
      if (preset === 'trusted_private_chat') for (const u of invitees) users[u] = 100;
    }
    const powerLevels: JsonObject = {
      users,
      users_default: 0,
      events: {
        'm.room.name': 50,
        'm.room.power_levels': 100,
        'm.room.history_visibility': 100,
        'm.room.canonical_alias': 50,
        'm.room.avatar': 50,
        // spec: createRoom step 3: in v12 the tombstone level must be above state_default's 100.
        'm.room.tombstone': version.privilegedCreators ? 150 : 100,
        'm.room.server_acl': 100,
        'm.room.encryption': 100,
      },
      events_default: 0,
      state_default: 50,
      ban: 50,
      kick: 50,
      redact: 50,
      invite: 0,
      ...(req.power_level_content_override ?? {}),
    };
    await send('m.room.power_levels', '', powerLevels);

    let aliasToCreate: string | undefined;
    if (req.room_alias_name !== undefined) {
      aliasToCreate = `#${req.room_alias_name}:${this.serverName}`;
      // The alias exists before the event that names it (a lost race leaves no dangling name).
      if (!(await this.storage.aliases.create(aliasToCreate, roomId, creator))) {
        throw new MatrixError('M_ROOM_IN_USE', `Room alias ${aliasToCreate} already exists`, 400);
      }
      await send('m.room.canonical_alias', '', { alias: aliasToCreate });
    }

    const p = PRESETS[preset];
    const initial = new Map((req.initial_state ?? []).map((s) => [stateKey(s.type, s.state_key ?? ''), s]));
    if (!initial.has(stateKey('m.room.join_rules', ''))) await send('m.room.join_rules', '', { join_rule: p.join_rule });
    if (!initial.has(stateKey('m.room.history_visibility', ''))) await send('m.room.history_visibility', '', { history_visibility: p.history_visibility });
    if (!initial.has(stateKey('m.room.guest_access', ''))) await send('m.room.guest_access', '', { guest_access: p.guest_access });
    for (const s of req.initial_state ?? []) {
      if ((s.type === 'm.room.name' && req.name !== undefined) || (s.type === 'm.room.topic' && req.topic !== undefined)) continue;
      await send(s.type, s.state_key ?? '', s.content);
    }
    if (req.name !== undefined) await send('m.room.name', '', { name: req.name });
    if (req.topic !== undefined) {
      await send('m.room.topic', '', { topic: req.topic, 'm.topic': { 'm.text': [{ mimetype: 'text/plain', body: req.topic }] } });
    }
    for (const u of invitees) {
      // spec: modules/invite_permission: a blocked invitee is left out; the room is made anyway.
      if (await this.blocksInvites(u)) continue;
      await this.pipeline.send(roomId, {
        type: 'm.room.member', state_key: u, sender: creator,
        content: { membership: 'invite', ...(req.is_direct ? { is_direct: true } : {}), ...(await this.profileContent(u)) },
      });
    }
    if (req.visibility === 'public') await this.storage.events.setRoomPublic(roomId, true);
    return { room_id: roomId };
  }

  /** spec: modules/invite_permission: a local user who blocks invites is not invited (M_INVITE_BLOCKED). */
  private async requireInvitable(userId: string): Promise<void> {
    if (await this.blocksInvites(userId)) throw new MatrixError('M_INVITE_BLOCKED', `${userId} does not accept invites`, 403);
  }

  private async blocksInvites(userId: string): Promise<boolean> {
    return domainOf(userId) === this.serverName && this.storage.accountData.blocksInvites(userId);
  }

  /** Changes `target`'s membership, sent by `sender` (spec: "Room membership"). */
  async setMembership(roomId: string, sender: string, target: string, membership: Membership, extra: { reason?: string; content?: JsonObject } = {}): Promise<StoredEvent> {
    if (!isValidUserId(target, { historical: true })) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${target}`, 400);
    await this.requireRoom(roomId);
    if (membership === 'invite') await this.requireInvitable(target);
    const content: JsonObject = { ...(extra.content ?? {}), membership };
    if (extra.reason !== undefined) content.reason = extra.reason;
    if ((membership === 'join' || membership === 'invite' || membership === 'knock') && target.endsWith(`:${this.serverName}`)) {
      Object.assign(content, await this.profileContent(target), extra.content ?? {});
      content.membership = membership;
    }
    return this.pipeline.send(roomId, { type: 'm.room.member', state_key: target, sender, content });
  }

  /**
   * Joins `userId` to a room. spec: modules/guest_access "Server behaviour": guests may join
   * only rooms whose m.room.guest_access is `can_join`.
   */
  async join(roomId: string, userId: string, opts: { reason?: string; guest?: boolean } = {}): Promise<StoredEvent> {
    await this.requireRoom(roomId);
    if (opts.guest && (await this.guestAccess(roomId)) !== 'can_join') {
      throw forbidden('Guest access is not allowed in this room');
    }
    const authoriser = await localJoinAuthoriser(this.storage, this.serverName, roomId, userId);
    return this.setMembership(roomId, userId, userId, 'join', {
      reason: opts.reason, ...(authoriser === undefined ? {} : { content: { join_authorised_via_users_server: authoriser } }),
    });
  }

  async send(roomId: string, sender: string, type: string, content: JsonObject, txn?: { userId: string; deviceId: string; txnId: string }): Promise<StoredEvent> {
    // spec: PUT /send: redactions sent here are redactions like any other, in every room version
    // ("in rooms with a version older than 11 they MUST move the `redacts` property ... to the top level").
    if (type === 'm.room.redaction') {
      const { redacts, ...rest } = content;
      if (typeof redacts !== 'string') throw new MatrixError('M_BAD_JSON', 'm.room.redaction needs content.redacts: the ID of the event to redact', 400);
      return this.redactWith(roomId, sender, redacts, rest, txn);
    }
    await this.requireRoom(roomId);
    // A retried transaction gets its event back; the checks were made when it was first sent.
    const relates = content['m.relates_to'] !== undefined;
    if (relates && (!txn || (await this.storage.events.findTxn(txn.userId, txn.deviceId, txn.txnId)) === undefined)) {
      await this.checkRelation(roomId, sender, type, content);
    }
    return this.pipeline.send(roomId, { type, sender, content, txn });
  }

  async setState(roomId: string, sender: string, type: string, key: string, content: JsonObject): Promise<StoredEvent> {
    await this.requireRoom(roomId);
    await validateCanonicalAlias(this.storage, this.serverName, roomId, type, key, content);
    if (type === 'm.room.member' && content.membership === 'invite') await this.requireInvitable(key);
    const stored = await this.pipeline.send(roomId, { type, state_key: key, sender, content });
    if (type === 'm.room.guest_access' && key === '' && content.guest_access !== 'can_join') await this.removeGuests(roomId);
    return stored;
  }

  async redact(roomId: string, sender: string, eventId: string, reason: string | undefined, txn?: { userId: string; deviceId: string; txnId: string }): Promise<StoredEvent> {
    return this.redactWith(roomId, sender, eventId, reason === undefined ? {} : { reason }, txn);
  }

  /** An m.room.redaction of `eventId`; the pipeline checks that the sender may redact it. */
  private async redactWith(roomId: string, sender: string, eventId: string, content: JsonObject, txn?: { userId: string; deviceId: string; txnId: string }): Promise<StoredEvent> {
    await this.requireRoom(roomId);
    const target = await this.storage.events.getEvent(eventId);
    if (!target || target.event.room_id !== roomId) throw notFound('Event not found');
    return this.pipeline.send(roomId, { type: 'm.room.redaction', sender, content, redacts: eventId, txn });
  }

  /**
   * spec: GET /v1/mutual_rooms: rooms `userId` and `otherId` are both joined to, a batch at a
   * time; `from` is the opaque next_batch of the previous batch (the last room ID it held).
   */
  async mutualRooms(userId: string, otherId: string, from: string | undefined): Promise<{ joined: string[]; count: number; next_batch?: string }> {
    if (!isValidUserId(otherId, { historical: true })) throw new MatrixError('M_INVALID_PARAM', 'user_id is not a valid user ID', 400);
    if (otherId === userId) throw new MatrixError('M_INVALID_PARAM', 'user_id is your own user ID', 400);
    let after: string | undefined;
    if (from !== undefined) {
      after = /^[A-Za-z0-9_-]+$/.test(from) ? Buffer.from(from, 'base64url').toString('utf8') : '';
      if (!after.startsWith('!')) throw new MatrixError('M_INVALID_PARAM', 'Invalid from token', 400);
    }
    const { roomIds, count } = await this.storage.rooms.mutualJoinedRooms(userId, otherId, after, MUTUAL_ROOMS_BATCH + 1);
    const joined = roomIds.slice(0, MUTUAL_ROOMS_BATCH);
    return roomIds.length > MUTUAL_ROOMS_BATCH
      ? { joined, count, next_batch: Buffer.from(joined[joined.length - 1], 'utf8').toString('base64url') }
      : { joined, count };
  }

  async membershipOf(roomId: string, userId: string): Promise<string | undefined> {
    return this.storage.rooms.membership(roomId, userId);
  }

  async requireJoined(roomId: string, userId: string): Promise<void> {
    if ((await this.storage.rooms.membership(roomId, userId)) !== 'join') throw forbidden(`You are not joined to ${roomId}`);
  }

  /**
   * The send-time checks on relations. spec: modules/threading "Validation of m.thread
   * relationships" (a thread cannot start from an event that itself has a relation: 400
   * M_UNKNOWN), modules/event_annotations "Avoiding duplicate annotations" (one annotation per
   * sender, event type and key on an event, unless the first was redacted: 400
   * M_DUPLICATE_ANNOTATION). Two identical annotations sent at the same instant may both pass,
   * as in Synapse; clients deduplicate annotations anyway.
   */
  private async checkRelation(roomId: string, sender: string, type: string, content: JsonObject): Promise<void> {
    const rel = relationOf(content);
    if (!rel) return;
    if (rel.relType === 'm.thread') {
      const parent = await this.storage.events.getEvent(rel.eventId);
      if (!parent || parent.event.room_id !== roomId || !relationOf(parent.event.content)) return;
      // A redaction strips m.relates_to: a redacted event can be a thread root.
      if ((await this.storage.rooms.redactionsOf([rel.eventId])).size > 0) return;
      throw new MatrixError('M_UNKNOWN', 'Cannot start a thread from an event that has a relation', 400);
    }
    if (rel.relType === 'm.annotation') {
      const key = (content['m.relates_to'] as JsonObject).key;
      if (typeof key !== 'string') return;
      // The relations index holds neither redacted, rejected nor soft-failed events.
      const mine = (await this.storage.relations.childrenOf([rel.eventId], 'm.annotation'))
        .filter((r) => r.sender === sender && r.roomId === roomId);
      if (mine.length === 0) return;
      const events = await this.storage.events.getEventsByNid(mine.map((r) => r.eventNid));
      for (const e of events.values()) {
        const k = (e.event.content['m.relates_to'] as JsonObject | undefined)?.key;
        if (e.event.type === type && k === key) {
          throw new MatrixError('M_DUPLICATE_ANNOTATION', 'You have already sent this annotation for this event', 400);
        }
      }
    }
  }

  /** The room's current m.room.guest_access value (undefined when unset: guests may not join). */
  private async guestAccess(roomId: string): Promise<string | undefined> {
    const key = stateKey('m.room.guest_access', '');
    const state = await this.pipeline.loadState(await this.storage.events.currentState(roomId), [key]);
    const value = state.get(key)?.content.guest_access;
    return typeof value === 'string' ? value : undefined;
  }

  /**
   * spec: modules/guest_access "Server behaviour": when guests may no longer join, the server
   * sets their membership to leave. As Synapse does, each guest leaves by their own event, so
   * that no power level is needed. A guest whose membership changed in between is skipped.
   */
  private async removeGuests(roomId: string): Promise<void> {
    for (const userId of await this.storage.rooms.joinedMemberIds(roomId)) {
      if (!userId.endsWith(`:${this.serverName}`)) continue;
      if (!(await this.storage.accounts.getUser(userId))?.isGuest) continue;
      try {
        await this.pipeline.send(roomId, { type: 'm.room.member', state_key: userId, sender: userId, content: { membership: 'leave' } });
      } catch (err) {
        // The member changed in between (left or was kicked): nothing left to do for them.
        if (!(err instanceof MatrixError)) throw err;
      }
    }
  }

  private async requireRoom(roomId: string): Promise<void> {
    if (!(await this.storage.events.getRoom(roomId))) throw notFound(`Unknown room ${roomId}`);
  }

  private async profileContent(userId: string): Promise<JsonObject> {
    const p = await this.storage.accounts.getProfile(userId);
    const out: JsonObject = {};
    if (p?.displayname) out.displayname = p.displayname;
    if (p?.avatar_url) out.avatar_url = p.avatar_url;
    return out;
  }
}
