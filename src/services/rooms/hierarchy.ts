// The space hierarchy: a depth-first walk over m.space.child events from a space.
// spec: client-server-api modules/spaces "Discovering rooms within spaces", GET /hierarchy
//
// Only rooms this server holds are walked. Children on other servers would be summarised over
// federation (GET /_matrix/federation/v1/hierarchy/{roomId}), which Weft does not speak yet,
// so they are left out.
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
    const stack: Array<{ roomId: string; depth: number }> = [{ roomId, depth: 0 }];
    while (stack.length > 0 && rooms.length < limit) {
      const entry = stack.pop() as { roomId: string; depth: number };
      // spec: loops are possible though prohibited; each room is walked once.
      if (processed.has(entry.roomId)) continue;
      processed.add(entry.roomId);
      const facts = entry.roomId === roomId ? root : await this.summaries.get(entry.roomId);
      if (!facts || !(await this.mayView(userId, facts))) continue;

      // spec: children_state "If the room is not a space-room, this should be empty."
      const children = facts.summary.room_type !== 'm.space' ? [] : facts.children.filter((c) => !suggestedOnly || c.content.suggested === true);
      if (emitted++ >= skip) {
        rooms.push({
          ...facts.summary,
          children_state: children.map((c) => ({ type: c.type, state_key: c.state_key as string, content: c.content, sender: c.sender, origin_server_ts: c.origin_server_ts })),
        });
      }
      if (entry.depth < maxDepth) {
        for (const c of [...children].reverse()) stack.push({ roomId: c.state_key as string, depth: entry.depth + 1 });
      }
    }
    const out: { rooms: HierarchyRoom[]; next_batch?: string } = { rooms };
    if (stack.some((e) => !processed.has(e.roomId))) out.next_batch = formatToken({ roomId, suggestedOnly, maxDepth, skip: emitted });
    return out;
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
