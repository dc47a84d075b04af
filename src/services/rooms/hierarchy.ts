// The space hierarchy: a depth-first walk over m.space.child events from a space.
// spec: client-server-api modules/spaces "Discovering rooms within spaces", GET /hierarchy
//
// Rooms this server holds are read locally; a child it does not hold is asked of the servers its
// m.space.child event names (federation GET /hierarchy, through `remote`), and the answer's own
// children come with it.
import type { JsonObject } from '../../core/pdu.js';
import { MatrixError, forbidden } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import { restrictedJoinRule, type RoomFacts, type RoomSummaries, type RoomSummary } from './summary.js';

export interface HierarchyQuery {
  limit?: number;
  maxDepth?: number;
  suggestedOnly?: boolean;
  from?: string;
}

/** spec: "StrippedChildStateEvent": a stripped m.space.child event with its origin_server_ts. */
export interface StrippedChildState {
  type: string;
  state_key: string;
  content: JsonObject;
  sender: string;
  origin_server_ts: number;
}

export type HierarchyRoom = RoomSummary & { children_state: StrippedChildState[] };

/** Another server's federation /hierarchy answer for a room (FederationQueries.hierarchy). */
export type RemoteHierarchy = (roomId: string, via: string[], suggestedOnly: boolean) => Promise<{ room: HierarchyRoom; children: HierarchyRoom[] } | undefined>;

export const DEFAULT_HIERARCHY_LIMIT = 50;
export const MAX_HIERARCHY_LIMIT = 100;
/** The default depth, and the deepest a request may ask for. */
export const MAX_HIERARCHY_DEPTH = 20;

/**
 * Where a page starts: the walk's parameters and how many rooms earlier pages returned. The
 * walk is deterministic over the rooms' current state, so the next page walks again and skips
 * those; no session is kept on the server.
 */
interface PageToken { roomId: string; suggestedOnly: boolean; maxDepth: number; skip: number }

export class SpaceHierarchy {
  /** Asks other servers about rooms this server does not hold (set by the federation wiring). */
  remote: RemoteHierarchy | undefined;

  constructor(private readonly storage: Storage, private readonly summaries: RoomSummaries) {}

  async walk(userId: string, roomId: string, q: HierarchyQuery): Promise<{ rooms: HierarchyRoom[]; next_batch?: string }> {
    const limit = Math.min(q.limit ?? DEFAULT_HIERARCHY_LIMIT, MAX_HIERARCHY_LIMIT);
    const maxDepth = Math.min(q.maxDepth ?? MAX_HIERARCHY_DEPTH, MAX_HIERARCHY_DEPTH);
    const suggestedOnly = q.suggestedOnly ?? false;
    let skip = 0;
    if (q.from !== undefined) {
      const token = parseToken(q.from);
      // spec: "If specified, max_depth and suggested_only cannot be changed from the first request."
      if (!token || token.roomId !== roomId || token.suggestedOnly !== suggestedOnly || token.maxDepth !== maxDepth) {
        throw new MatrixError('M_INVALID_PARAM', 'Unknown pagination token, or suggested_only or max_depth changed during pagination', 400);
      }
      skip = token.skip;
    }

    const root = await this.summaries.get(roomId);
    if (!root || !(await this.mayView(userId, root))) throw forbidden('You are not allowed to view this room');

    const rooms: HierarchyRoom[] = [];
    let emitted = 0;
    const processed = new Set<string>();
    // A stack: children are pushed in reverse so the first child is walked next (depth first).
    const stack: Array<{ roomId: string; depth: number; via?: string[] }> = [{ roomId, depth: 0 }];
    const fetched = new Map<string, HierarchyRoom | null>();
    while (stack.length > 0 && rooms.length < limit) {
      const entry = stack.pop() as { roomId: string; depth: number; via?: string[] };
      // spec: loops are possible though prohibited; each room is walked once.
      if (processed.has(entry.roomId)) continue;
      processed.add(entry.roomId);
      const facts = entry.roomId === roomId ? root : await this.summaries.get(entry.roomId);
      let room: HierarchyRoom | undefined;
      if (facts) {
        if (!(await this.mayView(userId, facts))) continue;
        // spec: children_state "If the room is not a space-room, this should be empty."
        const children = facts.summary.room_type !== 'm.space' ? [] : facts.children.filter((c) => !suggestedOnly || c.content.suggested === true);
        room = {
          ...facts.summary,
          children_state: children.map((c) => ({ type: c.type, state_key: c.state_key as string, content: c.content, sender: c.sender, origin_server_ts: c.origin_server_ts })),
        };
      } else {
        room = await this.remoteRoom(userId, entry, suggestedOnly, fetched);
        if (!room) continue;
      }
      if (emitted++ >= skip) rooms.push(room);
      if (entry.depth < maxDepth) {
        for (const c of [...room.children_state].reverse()) {
          const via = Array.isArray(c.content.via) ? c.content.via.filter((v): v is string => typeof v === 'string') : [];
          stack.push({ roomId: c.state_key, depth: entry.depth + 1, via });
        }
      }
    }
    const out: { rooms: HierarchyRoom[]; next_batch?: string } = { rooms };
    if (stack.some((e) => !processed.has(e.roomId))) out.next_batch = formatToken({ roomId, suggestedOnly, maxDepth, skip: emitted });
    return out;
  }

  /**
   * A room this server does not hold, as one of the servers its m.space.child event names
   * describes it (federation GET /hierarchy); the answer's children are kept for the walk.
   */
  private async remoteRoom(userId: string, entry: { roomId: string; via?: string[] }, suggestedOnly: boolean, fetched: Map<string, HierarchyRoom | null>): Promise<HierarchyRoom | undefined> {
    if (this.remote === undefined) return undefined;
    if (!fetched.has(entry.roomId)) {
      const answer = await this.remote(entry.roomId, entry.via ?? [], suggestedOnly);
      fetched.set(entry.roomId, answer?.room ?? null);
      for (const c of answer?.children ?? []) if (!fetched.has(c.room_id)) fetched.set(c.room_id, c);
    }
    const room = fetched.get(entry.roomId);
    return room && (await this.mayViewSummary(userId, room)) ? room : undefined;
  }

  /** mayView for a room known only by its summary (another server's answer). */
  private async mayViewSummary(userId: string, s: RoomSummary): Promise<boolean> {
    if (s.world_readable) return true;
    const membership = await this.storage.rooms.membership(s.room_id, userId);
    if (membership === 'join' || membership === 'invite') return true;
    if (membership === 'ban') return false;
    if (s.join_rule === 'public' || s.join_rule === 'knock' || s.join_rule === 'knock_restricted') return true;
    if ((s.join_rule === 'restricted' || s.join_rule === 'knock_restricted') && (s.allowed_room_ids ?? []).length > 0) {
      return (await this.storage.roomDirectory.joinedAmong(userId, s.allowed_room_ids!)).size > 0;
    }
    return false;
  }

  /**
   * spec: GET /hierarchy `rooms`: rooms the user is joined to, may join (invited, public,
   * restricted with membership of an allowed room), may knock on, or may read (world_readable).
   */
  private async mayView(userId: string, f: RoomFacts): Promise<boolean> {
    if (f.summary.world_readable) return true;
    const membership = await this.storage.rooms.membership(f.summary.room_id, userId);
    if (membership === 'join' || membership === 'invite') return true;
    if (membership === 'ban') return false;
    const rule = f.summary.join_rule;
    if (rule === 'public') return true;
    if ((rule === 'knock' && f.version.knockingSupported) || (rule === 'knock_restricted' && f.version.knockRestrictedSupported)) return true;
    if (restrictedJoinRule(f.version, rule) && f.allowedRoomIds.length > 0) {
      return (await this.storage.roomDirectory.joinedAmong(userId, f.allowedRoomIds)).size > 0;
    }
    return false;
  }
}

function formatToken(t: PageToken): string {
  return `${t.skip}_${t.suggestedOnly ? 1 : 0}_${t.maxDepth}_${t.roomId}`;
}

function parseToken(s: string): PageToken | undefined {
  const m = /^(\d{1,9})_([01])_(\d{1,4})_(!.{1,255})$/s.exec(s);
  return m ? { skip: Number(m[1]), suggestedOnly: m[2] === '1', maxDepth: Number(m[3]), roomId: m[4] } : undefined;
}
