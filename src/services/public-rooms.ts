// The published room directory: the rooms published on this server, largest first.
// spec: client-server-api "Published room directory" (GET and POST /publicRooms)
import { isValidServerName } from '../core/identifiers.js';
import { MatrixError } from '../errors.js';
import type { Storage } from '../storage/index.js';
import type { RoomFacts, RoomSummaries, RoomSummary } from './rooms/summary.js';

export interface PublicRoomsQuery {
  limit?: number;
  since?: string;
  server?: string;
  filter?: { generic_search_term?: string; room_types?: Array<string | null> };
  include_all_networks?: boolean;
  third_party_instance_id?: string;
}

export type PublishedRoomsChunk = Omit<RoomSummary, 'allowed_room_ids' | 'encryption' | 'room_version'>;

export interface PublicRoomsResponse {
  chunk: PublishedRoomsChunk[];
  next_batch?: string;
  prev_batch?: string;
  total_room_count_estimate: number;
}

/** Pages hold at most this many rooms; a request without a limit (or with 0) gets this many. */
export const MAX_PUBLIC_ROOMS_LIMIT = 500;

/** A position between rooms in the directory's order, and the direction to read from it. */
interface Cursor { dir: 'f' | 'b'; members: number; roomId: string }

export class PublicRoomList {
  constructor(
    private readonly storage: Storage,
    private readonly summaries: RoomSummaries,
    private readonly serverName: string,
  ) {}

  async list(q: PublicRoomsQuery): Promise<PublicRoomsResponse> {
    if (q.server !== undefined && q.server !== this.serverName) {
      if (!isValidServerName(q.server)) throw new MatrixError('M_INVALID_PARAM', `Invalid server name ${JSON.stringify(q.server)}`, 400);
      throw new MatrixError('M_UNKNOWN', 'Reading the room directory of another server needs federation, which this server does not support yet', 502);
    }
    if (q.include_all_networks && q.third_party_instance_id !== undefined) {
      throw new MatrixError('M_INVALID_PARAM', 'third_party_instance_id can only be used when include_all_networks is false', 400);
    }
    const cursor = q.since === undefined ? undefined : parseCursor(q.since);
    const limit = q.limit === undefined || q.limit === 0 ? MAX_PUBLIC_ROOMS_LIMIT : Math.min(q.limit, MAX_PUBLIC_ROOMS_LIMIT);

    // Rooms are only published to third-party networks by application services, and this
    // server has none yet: such a network's directory is empty.
    const rooms = q.third_party_instance_id !== undefined ? [] : await this.listed(q.filter);
    rooms.sort(compareRooms);

    let start = 0;
    let end = Math.min(limit, rooms.length);
    if (cursor?.dir === 'f') {
      start = firstIndex(rooms, (r) => compareRooms(r, cursor) > 0);
      end = Math.min(start + limit, rooms.length);
    } else if (cursor?.dir === 'b') {
      end = firstIndex(rooms, (r) => compareRooms(r, cursor) >= 0);
      start = Math.max(0, end - limit);
    }
    const out: PublicRoomsResponse = { chunk: rooms.slice(start, end).map(chunkOf), total_room_count_estimate: rooms.length };
    if (end < rooms.length) out.next_batch = formatCursor('f', rooms[end - 1] ?? cursor);
    if (start > 0) out.prev_batch = formatCursor('b', rooms[start] ?? cursor);
    return out;
  }

  /** Published rooms that anyone could join, knock on or read, with someone in them (as Synapse lists them). */
  private async listed(filter: PublicRoomsQuery['filter']): Promise<RoomSummary[]> {
    const facts = await this.summaries.getMany(await this.storage.roomDirectory.publishedRoomIds());
    const term = filter?.generic_search_term?.trim().toLowerCase();
    const types = filter?.room_types?.length ? new Set(filter.room_types) : undefined;
    const out: RoomSummary[] = [];
    for (const f of facts.values()) {
      const s = f.summary;
      if (s.num_joined_members === 0 || !openToAnyone(f)) continue;
      if (types && !types.has(s.room_type ?? null)) continue;
      if (term && ![s.name, s.topic, s.canonical_alias].some((v) => v?.toLowerCase().includes(term))) continue;
      out.push(s);
    }
    return out;
  }
}

function openToAnyone(f: RoomFacts): boolean {
  const rule = f.summary.join_rule;
  return rule === 'public'
    || (rule === 'knock' && f.version.knockingSupported)
    || (rule === 'knock_restricted' && f.version.knockRestrictedSupported)
    || f.summary.world_readable;
}

function chunkOf(s: RoomSummary): PublishedRoomsChunk {
  const { allowed_room_ids: _a, encryption: _e, room_version: _v, ...chunk } = s;
  return chunk;
}

/** Most joined members first, then by room ID, so the order is total and pages are stable. */
function compareRooms(a: { num_joined_members: number; room_id: string } | Cursor, b: { num_joined_members: number; room_id: string } | Cursor): number {
  const ma = 'dir' in a ? a.members : a.num_joined_members;
  const mb = 'dir' in b ? b.members : b.num_joined_members;
  const ra = 'dir' in a ? a.roomId : a.room_id;
  const rb = 'dir' in b ? b.roomId : b.room_id;
  if (ma !== mb) return mb - ma;
  return ra < rb ? -1 : ra > rb ? 1 : 0;
}

function firstIndex<T>(items: T[], pred: (t: T) => boolean): number {
  const i = items.findIndex(pred);
  return i < 0 ? items.length : i;
}

// A token is the direction, the joined count and the room ID of the room it is next to:
// `f12_!room:server` reads the rooms after that room, `b…` the rooms before it.
function formatCursor(dir: 'f' | 'b', at: RoomSummary | Cursor | undefined): string {
  if (at === undefined) throw new Error('pagination boundary missing');
  return 'dir' in at ? `${dir}${at.members}_${at.roomId}` : `${dir}${at.num_joined_members}_${at.room_id}`;
}

function parseCursor(token: string): Cursor {
  const m = /^([fb])(\d{1,15})_(!.{1,255})$/s.exec(token);
  if (!m) throw new MatrixError('M_INVALID_PARAM', 'Unknown pagination token', 400);
  return { dir: m[1] as 'f' | 'b', members: Number(m[2]), roomId: m[3] };
}
