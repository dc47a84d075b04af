// Read queries for /sync: a user's memberships and how they changed between two stream
// positions, which rooms have new events, the last event of each room at a position, and
// the member counts and heroes of room summaries. Every query covers many rooms at once.
// spec: client-server-api "Syncing"
import { sql } from 'kysely';
import type { DB } from './database.js';
import { isPostgres } from './stream-position.js';

export interface MembershipRow {
  roomId: string;
  membership: string;
  /** The member event that set it. */
  eventNid: number;
  forgotten: boolean;
  /** The user's most recent join, or null if they never joined. */
  lastJoinNid: number | null;
}

const CHUNK = 500;

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

export class SyncStore {
  constructor(private readonly db: DB) {}

  /**
   * The events position at or below which every event is committed. On SQLite one writer
   * commits events in nid order, so it is the highest nid. On PostgreSQL event transactions run
   * side by side and may commit out of nid order: the highest nid is read under a SHARE lock,
   * which waits for the transactions writing events now (each holds ROW EXCLUSIVE from its
   * insert, before its nid is drawn, to its commit) and holds new ones back for the one read.
   */
  async committedEventsPosition(): Promise<number> {
    const maxNid = async (db: DB) => Number((await db.selectFrom('events').select((eb) => eb.fn.max('nid').as('max')).executeTakeFirst())?.max ?? 0);
    if (!isPostgres(this.db)) return maxNid(this.db);
    return this.db.transaction().execute(async (tx) => {
      await sql`LOCK TABLE events IN SHARE MODE`.execute(tx);
      return maxNid(tx as unknown as DB);
    });
  }

  /** Every room the user has a membership in, as it is now. */
  async memberships(userId: string): Promise<MembershipRow[]> {
    const rows = await this.db.selectFrom('memberships').select(['room_id', 'membership', 'event_nid', 'forgotten', 'last_join_nid'])
      .where('user_id', '=', userId).execute();
    return rows.map((r) => ({
      roomId: r.room_id, membership: r.membership, eventNid: Number(r.event_nid), forgotten: r.forgotten === 1,
      lastJoinNid: r.last_join_nid === null ? null : Number(r.last_join_nid),
    }));
  }

  /** The nids of the user's own membership events at positions in (after, upTo], in stream order. */
  async memberEventNids(userId: string, after: number, upTo: number): Promise<number[]> {
    const rows = await this.db.selectFrom('events').select('nid')
      .where(sql<boolean>`type = 'm.room.member'`).where('state_key', '=', userId)
      .where('nid', '>', after).where('nid', '<=', upTo)
      .where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0)
      .orderBy('nid').execute();
    return rows.map((r) => Number(r.nid));
  }

  /** For each room, the nid of the user's last membership event at or before `position`. */
  async lastMemberEventNids(userId: string, roomIds: readonly string[], position: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunks(roomIds)) {
      const rows = await this.db.selectFrom('events').select((eb) => ['room_id', eb.fn.max('nid').as('nid')])
        .where(sql<boolean>`type = 'm.room.member'`).where('state_key', '=', userId)
        .where('nid', '<=', position).where('room_id', 'in', chunk)
        .where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0)
        .groupBy('room_id').execute();
      for (const r of rows) if (r.nid !== null) out.set(r.room_id, Number(r.nid));
    }
    return out;
  }

  /**
   * The nids of a room's newest accepted events in (after, upTo], newest first. Ordered by
   * (room_id, nid), which the room is fixed in anyway: PostgreSQL can then only walk the
   * (room_id, nid) index, where ordering by nid alone may tempt it to walk the whole events
   * table backwards along its primary key looking for the room's rows.
   */
  async newestEventNids(q: { roomId: string; after: number | null; upTo: number; limit: number; types?: string[]; notTypes?: string[]; senders?: string[]; notSenders?: string[] }): Promise<number[]> {
    let sel = this.db.selectFrom('events').select('nid')
      .where('room_id', '=', q.roomId).where('nid', '<=', q.upTo)
      .where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0);
    if (q.after !== null) sel = sel.where('nid', '>', q.after);
    if (q.types?.length) sel = sel.where('type', 'in', q.types);
    if (q.notTypes?.length) sel = sel.where('type', 'not in', q.notTypes);
    if (q.senders?.length) sel = sel.where('sender', 'in', q.senders);
    if (q.notSenders?.length) sel = sel.where('sender', 'not in', q.notSenders);
    const rows = await sel.orderBy('room_id', 'desc').orderBy('nid', 'desc').limit(q.limit).execute();
    return rows.map((r) => Number(r.nid));
  }

  /**
   * The rooms the user has a membership in (of any kind) with accepted events after `after`.
   * No upper bound and any membership: a superset that a reader may take before it knows its
   * own upper bound or the user's rooms.
   */
  async userRoomsWithEventsAfter(userId: string, after: number): Promise<Set<string>> {
    const rows = await this.db.selectFrom('events').select('room_id').distinct()
      .where('nid', '>', after)
      .where('room_id', 'in', (eb) => eb.selectFrom('memberships').select('room_id').where('user_id', '=', userId))
      .where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0).execute();
    return new Set(rows.map((r) => r.room_id));
  }

  /** For each room, the nid of its last accepted event at or before `position` (rooms with none are absent). */
  async lastEventNids(roomIds: readonly string[], position: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunks(roomIds)) {
      const rows = await this.db.selectFrom('rooms as r')
        .select((eb) => ['r.room_id', eb.selectFrom('events as e').select('e.nid')
          .whereRef('e.room_id', '=', 'r.room_id').where('e.nid', '<=', position)
          .where('e.outlier', '=', 0).where('e.rejected_reason', 'is', null).where('e.soft_failed', '=', 0)
          // (room_id, nid): see newestEventNids.
          .orderBy('e.room_id', 'desc').orderBy('e.nid', 'desc').limit(1).as('nid')])
        .where('r.room_id', 'in', chunk).execute();
      for (const r of rows) if (r.nid !== null && r.nid !== undefined) out.set(r.room_id, Number(r.nid));
    }
    return out;
  }

  /** Joined and invited member counts per room, now. */
  async memberCounts(roomIds: readonly string[]): Promise<Map<string, { joined: number; invited: number }>> {
    const out = new Map<string, { joined: number; invited: number }>();
    for (const id of roomIds) out.set(id, { joined: 0, invited: 0 });
    for (const chunk of chunks(roomIds)) {
      const rows = await this.db.selectFrom('memberships').select((eb) => ['room_id', 'membership', eb.fn.countAll().as('n')])
        .where('room_id', 'in', chunk).where('membership', 'in', ['join', 'invite']).groupBy(['room_id', 'membership']).execute();
      for (const r of rows) {
        const c = out.get(r.room_id) as { joined: number; invited: number };
        if (r.membership === 'join') c.joined = Number(r.n);
        else c.invited = Number(r.n);
      }
    }
    return out;
  }

  /**
   * spec: RoomSummary `m.heroes`: per room, the first five members other than `userId` in
   * stream order who are joined or invited, or, when there are none, who left or were banned.
   */
  async heroes(roomIds: readonly string[], userId: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const chunk of chunks(roomIds)) {
      const rows = await sql<{ room_id: string; user_id: string; rank: number; event_nid: number }>`
        SELECT room_id, user_id, rank, event_nid FROM (
          SELECT room_id, user_id, event_nid,
            CASE WHEN membership IN ('join', 'invite') THEN 0 WHEN membership IN ('leave', 'ban') THEN 1 ELSE 2 END AS rank,
            ROW_NUMBER() OVER (
              PARTITION BY room_id, CASE WHEN membership IN ('join', 'invite') THEN 0 WHEN membership IN ('leave', 'ban') THEN 1 ELSE 2 END
              ORDER BY event_nid) AS n
          FROM memberships WHERE room_id IN (${sql.join(chunk)}) AND user_id <> ${userId}
        ) ranked WHERE n <= 5 AND rank < 2`.execute(this.db);
      const byRoom = new Map<string, Array<{ user: string; rank: number; nid: number }>>();
      for (const r of rows.rows) {
        const list = byRoom.get(r.room_id) ?? [];
        list.push({ user: r.user_id, rank: Number(r.rank), nid: Number(r.event_nid) });
        byRoom.set(r.room_id, list);
      }
      for (const [roomId, list] of byRoom) {
        const best = Math.min(...list.map((h) => h.rank));
        out.set(roomId, list.filter((h) => h.rank === best).sort((a, b) => a.nid - b.nid).map((h) => h.user));
      }
    }
    return out;
  }

  /** The joined members of each room, now. */
  async joinedMembers(roomIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const chunk of chunks(roomIds)) {
      const rows = await this.db.selectFrom('memberships').select(['room_id', 'user_id'])
        .where('room_id', 'in', chunk).where('membership', '=', 'join').execute();
      for (const r of rows) {
        const list = out.get(r.room_id) ?? [];
        list.push(r.user_id);
        out.set(r.room_id, list);
      }
    }
    return out;
  }
}
