// What the published room directory and the space hierarchy say about a room, read from its
// current state. spec: client-server-api "PublishedRoomsChunk", "RoomSummary"
// (definitions/room_summary.yaml), "Spaces"
import { redactEvent } from '../../core/events.js';
import { splitStateKey, stateKey, type JsonObject, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import { notFound } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import type { RoomPipeline } from './pipeline.js';

/** The RoomSummary fields (the PublishedRoomsChunk fields plus allowed_room_ids, encryption, room_version). */
export interface RoomSummary {
  room_id: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
  name?: string;
  topic?: string;
  canonical_alias?: string;
  avatar_url?: string;
  join_rule?: string;
  room_type?: string;
  allowed_room_ids?: string[];
  encryption?: string;
  room_version: string;
}

/** A room's summary and the facts about it that access checks and the space walk need. */
export interface RoomFacts {
  summary: RoomSummary;
  version: RoomVersion;
  historyVisibility: string | undefined;
  /** The room IDs whose members may join under a restricted join rule (empty otherwise). */
  allowedRoomIds: string[];
  /** The room's valid m.space.child events, in the spec's order of children. */
  children: RoomEvent[];
}

const SUMMARY_TYPES = [
  'm.room.create', 'm.room.name', 'm.room.topic', 'm.room.canonical_alias', 'm.room.avatar',
  'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access', 'm.room.encryption',
];
const CACHE_ROOMS = 10_000;

export class RoomSummaries {
  /** Facts per room, valid while the room's current state group is the one they were read from. */
  private readonly cache = new Map<string, { group: number; facts: RoomFacts }>();

  constructor(private readonly storage: Storage, pipeline: RoomPipeline) {
    // A redaction changes what a state event says without changing the state group.
    pipeline.onPersisted((s) => {
      if (s.event.type === 'm.room.redaction') this.cache.delete(s.event.room_id);
    });
  }

  async get(roomId: string): Promise<RoomFacts | undefined> {
    return (await this.getMany([roomId])).get(roomId);
  }

  /** Facts for each known room of `roomIds` (unknown rooms are absent). */
  async getMany(roomIds: Iterable<string>): Promise<Map<string, RoomFacts>> {
    const out = new Map<string, RoomFacts>();
    const stale: Array<{ roomId: string; group: number; version: RoomVersion }> = [];
    for (const roomId of new Set(roomIds)) {
      const room = await this.storage.events.getRoom(roomId);
      const version = room && getRoomVersion(room.roomVersion);
      if (!room || room.currentStateGroup === null || !version) continue;
      const cached = this.cache.get(roomId);
      if (cached && cached.group === room.currentStateGroup) out.set(roomId, cached.facts);
      else stale.push({ roomId, group: room.currentStateGroup, version });
    }
    if (stale.length === 0) return out;
    const counts = await this.storage.roomDirectory.joinedMemberCounts(stale.map((s) => s.roomId));
    for (const { roomId, group, version } of stale) {
      const facts = await this.read(roomId, group, version, counts.get(roomId) ?? 0);
      if (this.cache.size >= CACHE_ROOMS) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(roomId, { group, facts });
      out.set(roomId, facts);
    }
    return out;
  }

  /**
   * spec: GET /_matrix/client/v1/room_summary/{roomIdOrAlias}: the summary, with the requester's
   * membership ("leave" when they have none, as Synapse answers; absent when unauthenticated).
   * A room the requester may not see is M_NOT_FOUND, like an unknown one, so that the answer
   * does not reveal which private rooms exist.
   */
  async forRequester(roomId: string, userId: string | undefined): Promise<RoomSummary & { membership?: string }> {
    const facts = await this.get(roomId);
    const membership = facts && userId !== undefined ? await this.storage.rooms.membership(roomId, userId) : undefined;
    if (!facts || !(await this.accessible(facts, userId, membership))) throw notFound('Room not found');
    return userId === undefined ? { ...facts.summary } : { ...facts.summary, membership: membership ?? 'leave' };
  }

  /**
   * Who may see a room's summary (as Synapse decides, following MSC3266): anyone when the room
   * is world_readable or its join rule is public, knock or knock_restricted (the rooms the spec
   * lets servers summarise without authentication); otherwise members who are joined, invited
   * or knocking, and, under a restricted join rule, users joined to one of the allowed rooms.
   */
  async accessible(f: RoomFacts, userId: string | undefined, membership: string | undefined): Promise<boolean> {
    if (f.summary.world_readable) return true;
    const rule = f.summary.join_rule;
    if (rule === 'public') return true;
    if ((rule === 'knock' && f.version.knockingSupported) || (rule === 'knock_restricted' && f.version.knockRestrictedSupported)) return true;
    if (userId === undefined) return false;
    if (membership === 'join' || membership === 'invite' || membership === 'knock') return true;
    if (membership !== 'ban' && restrictedJoinRule(f.version, rule) && f.allowedRoomIds.length > 0) {
      return (await this.storage.roomDirectory.joinedAmong(userId, f.allowedRoomIds)).size > 0;
    }
    return false;
  }

  private async read(roomId: string, group: number, version: RoomVersion, joined: number): Promise<RoomFacts> {
    const state = await this.storage.state.loadGroup(group);
    const keys: StateKey[] = SUMMARY_TYPES.map((t) => stateKey(t, ''));
    for (const k of state.keys()) if (splitStateKey(k)[0] === 'm.space.child') keys.push(k);
    const events = await this.stateEvents(state, keys, version);
    const content = (type: string): JsonObject => events.get(stateKey(type, ''))?.content ?? {};
    const str = (type: string, field: string): string | undefined => {
      const v = content(type)[field];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };

    const joinRule = str('m.room.join_rules', 'join_rule');
    const historyVisibility = str('m.room.history_visibility', 'history_visibility');
    const allowedRoomIds = restrictedJoinRule(version, joinRule) ? allowedRooms(content('m.room.join_rules')) : [];
    const summary: RoomSummary = {
      room_id: roomId,
      num_joined_members: joined,
      world_readable: historyVisibility === 'world_readable',
      guest_can_join: str('m.room.guest_access', 'guest_access') === 'can_join',
      room_version: version.id,
    };
    const optional: Partial<RoomSummary> = {
      name: str('m.room.name', 'name'),
      topic: plainTopic(content('m.room.topic')),
      canonical_alias: str('m.room.canonical_alias', 'alias'),
      avatar_url: str('m.room.avatar', 'url'),
      join_rule: joinRule,
      room_type: str('m.room.create', 'type'),
      allowed_room_ids: allowedRoomIds.length ? allowedRoomIds : undefined,
      encryption: str('m.room.encryption', 'algorithm'),
    };
    for (const [k, v] of Object.entries(optional)) if (v !== undefined) (summary as unknown as Record<string, unknown>)[k] = v;

    const children = [...events.entries()]
      .filter(([k, e]) => splitStateKey(k)[0] === 'm.space.child' && hasValidVia(e.content))
      .map(([, e]) => e)
      .sort(compareChildren);
    return { summary, version, historyVisibility, allowedRoomIds, children };
  }

  /** The events of `keys` in `state`, with redactions applied (a redacted m.space.child loses its `via`). */
  private async stateEvents(state: ReadonlyMap<StateKey, number>, keys: StateKey[], version: RoomVersion): Promise<Map<StateKey, RoomEvent>> {
    const nids = new Map<number, StateKey>();
    for (const k of keys) {
      const nid = state.get(k);
      if (nid !== undefined) nids.set(nid, k);
    }
    const loaded = await this.storage.events.getEventsByNid(nids.keys());
    const redacted = await this.storage.rooms.redactionsOf([...loaded.values()].map((s) => s.event.event_id));
    const out = new Map<StateKey, RoomEvent>();
    for (const [nid, k] of nids) {
      const s = loaded.get(nid);
      if (s) out.set(k, redacted.has(s.event.event_id) ? redactEvent(s.event, version) : s.event);
    }
    return out;
  }
}

/** restricted (v8+) and knock_restricted (v10+) join rules name rooms whose members may join. */
export function restrictedJoinRule(version: RoomVersion, joinRule: string | undefined): boolean {
  return (joinRule === 'restricted' && version.restrictedJoinsSupported)
    || (joinRule === 'knock_restricted' && version.knockRestrictedSupported);
}

/** spec: "Restricted rooms": the `allow` conditions of type m.room_membership. */
function allowedRooms(joinRules: JsonObject): string[] {
  const allow = joinRules.allow;
  if (!Array.isArray(allow)) return [];
  const out: string[] = [];
  for (const a of allow) {
    if (a !== null && typeof a === 'object' && !Array.isArray(a) && a.type === 'm.room_membership' && typeof a.room_id === 'string') out.push(a.room_id);
  }
  return [...new Set(out)];
}

/** The plain text topic: `topic`, else the text/plain representation in `m.topic` (spec: m.room.topic). */
function plainTopic(content: JsonObject): string | undefined {
  if (typeof content.topic === 'string') return content.topic === '' ? undefined : content.topic;
  const block = content['m.topic'];
  const texts = block !== null && typeof block === 'object' && !Array.isArray(block) ? block['m.text'] : undefined;
  if (!Array.isArray(texts)) return undefined;
  for (const t of texts) {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) continue;
    const mimetype = t.mimetype ?? 'text/plain';
    if (mimetype === 'text/plain' && typeof t.body === 'string' && t.body !== '') return t.body;
  }
  return undefined;
}

/** spec: m.space.child "When [via is] not present or invalid, the child room is not considered". */
function hasValidVia(content: JsonObject): boolean {
  const via = content.via;
  return Array.isArray(via) && via.length > 0 && via.every((v) => typeof v === 'string');
}

// spec: m.space.child `order`: at most 50 characters in \x20–\x7E; anything else counts as absent.
const VALID_ORDER = /^[\x20-\x7E]{1,50}$/;

function validOrder(e: RoomEvent): string | undefined {
  const o = e.content.order;
  return typeof o === 'string' && VALID_ORDER.test(o) ? o : undefined;
}

/**
 * spec: "Ordering of children within a space": children with a valid `order` first, by code
 * point; then by the event's origin_server_ts; then by state key (the child room ID).
 */
export function compareChildren(a: RoomEvent, b: RoomEvent): number {
  const oa = validOrder(a);
  const ob = validOrder(b);
  if (oa !== undefined && ob === undefined) return -1;
  if (oa === undefined && ob !== undefined) return 1;
  if (oa !== undefined && ob !== undefined && oa !== ob) return oa < ob ? -1 : 1;
  if (a.origin_server_ts !== b.origin_server_ts) return a.origin_server_ts - b.origin_server_ts;
  const ka = a.state_key ?? '';
  const kb = b.state_key ?? '';
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
