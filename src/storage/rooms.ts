// Read-side room queries: memberships, members, and pages of a room's timeline.
import type { DB } from './database.js';

export interface TimelineQuery {
  roomId: string;
  /** Exclusive bound: events strictly after (dir f) or before (dir b) this position (see timelinePositions). */
  from: number;
  dir: 'b' | 'f';
  limit: number;
  /** Exclusive far bound, if any. */
  to?: number;
  types?: string[];
  notTypes?: string[];
  senders?: string[];
  notSenders?: string[];
}

export class RoomStore {
  constructor(private readonly db: DB) {}

  async membership(roomId: string, userId: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('memberships').select('membership').where('room_id', '=', roomId).where('user_id', '=', userId).executeTakeFirst();
    return r?.membership;
  }

  async membershipRow(roomId: string, userId: string): Promise<{ membership: string; eventNid: number; forgotten: boolean; lastJoinNid: number | null } | undefined> {
    const r = await this.db.selectFrom('memberships').select(['membership', 'event_nid', 'forgotten', 'last_join_nid']).where('room_id', '=', roomId).where('user_id', '=', userId).executeTakeFirst();
    return r && { membership: r.membership, eventNid: Number(r.event_nid), forgotten: r.forgotten === 1, lastJoinNid: r.last_join_nid === null ? null : Number(r.last_join_nid) };
  }

  async roomsWithMembership(userId: string, membership: string): Promise<string[]> {
    const rows = await this.db.selectFrom('memberships').select('room_id').where('user_id', '=', userId).where('membership', '=', membership).orderBy('room_id').execute();
    return rows.map((r) => r.room_id);
  }

  /** Current members' member-event nids, filtered by membership. */
  async memberEventNids(roomId: string, opts: { membership?: string; notMembership?: string } = {}): Promise<number[]> {
    let q = this.db.selectFrom('current_state').select('event_nid').where('room_id', '=', roomId).where('type', '=', 'm.room.member');
    if (opts.membership) q = q.where('membership', '=', opts.membership);
    if (opts.notMembership) q = q.where('membership', '!=', opts.notMembership);
    return (await q.orderBy('state_key').execute()).map((r) => Number(r.event_nid));
  }

  async joinedMemberIds(roomId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('memberships').select('user_id').where('room_id', '=', roomId).where('membership', '=', 'join').orderBy('user_id').execute();
    return rows.map((r) => r.user_id);
  }

  /** Rooms both users are joined to, in room ID order after `after`: at most `limit`, and how many in all. */
  async mutualJoinedRooms(userId: string, otherId: string, after: string | undefined, limit: number): Promise<{ roomIds: string[]; count: number }> {
    const both = this.db.selectFrom('memberships as a').innerJoin('memberships as b', 'b.room_id', 'a.room_id')
      .where('a.user_id', '=', userId).where('a.membership', '=', 'join').where('b.user_id', '=', otherId).where('b.membership', '=', 'join');
    const [page, total] = await Promise.all([
      (after === undefined ? both : both.where('a.room_id', '>', after)).select('a.room_id').orderBy('a.room_id').limit(limit).execute(),
      both.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { roomIds: page.map((r) => r.room_id), count: Number(total.n) };
  }

  async forget(roomId: string, userId: string): Promise<void> {
    await this.db.updateTable('memberships').set({ forgotten: 1 }).where('room_id', '=', roomId).where('user_id', '=', userId).execute();
  }

  /** Event nids of one page of a room's timeline (accepted, not soft-failed events), in `dir` order. */
  async timeline(q: TimelineQuery): Promise<number[]> {
    return (await this.timelinePositions(q)).map((r) => r.nid);
  }

  /**
   * One page of a room's timeline with each event's position. Positions run through two
   * regions: backfilled history (`backfill_pos`, negative, migration 016) below the room-events
   * stream (positions are nids, positive). Bounds are exclusive positions.
   */
  async timelinePositions(q: TimelineQuery): Promise<Array<{ nid: number; pos: number }>> {
    const out: Array<{ nid: number; pos: number }> = [];
    const stream = async (limit: number) => {
      let sel = this.filtered(q).select('nid').where('backfill_pos', 'is', null);
      sel = q.dir === 'b' ? sel.where('nid', '<', q.from) : sel.where('nid', '>', q.from);
      if (q.to !== undefined) sel = q.dir === 'b' ? sel.where('nid', '>', q.to) : sel.where('nid', '<', q.to);
      const rows = await sel.orderBy('nid', q.dir === 'b' ? 'desc' : 'asc').limit(limit).execute();
      for (const r of rows) out.push({ nid: Number(r.nid), pos: Number(r.nid) });
    };
    const history = async (limit: number) => {
      let sel = this.filtered(q).select(['nid', 'backfill_pos']).where('backfill_pos', 'is not', null);
      sel = q.dir === 'b' ? sel.where('backfill_pos', '<', q.from) : sel.where('backfill_pos', '>', q.from);
      if (q.to !== undefined) sel = q.dir === 'b' ? sel.where('backfill_pos', '>', q.to) : sel.where('backfill_pos', '<', q.to);
      const rows = await sel.orderBy('backfill_pos', q.dir === 'b' ? 'desc' : 'asc').limit(limit).execute();
      for (const r of rows) out.push({ nid: Number(r.nid), pos: Number(r.backfill_pos) });
    };
    const streamInRange = q.dir === 'b' ? q.from > 1 : q.to === undefined || q.to > 1;
    const historyInRange = q.dir === 'b' ? q.to === undefined || q.to < -1 : q.from < -1;
    if (q.dir === 'b') {
      if (streamInRange) await stream(q.limit);
      if (historyInRange && out.length < q.limit) await history(q.limit - out.length);
    } else {
      if (historyInRange) await history(q.limit);
      if (streamInRange && out.length < q.limit) await stream(q.limit - out.length);
    }
    return out;
  }

  private filtered(q: TimelineQuery) {
    let sel = this.db.selectFrom('events')
      .where('room_id', '=', q.roomId).where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0);
    if (q.types?.length) sel = sel.where('type', 'in', q.types);
    if (q.notTypes?.length) sel = sel.where('type', 'not in', q.notTypes);
    if (q.senders?.length) sel = sel.where('sender', 'in', q.senders);
    if (q.notSenders?.length) sel = sel.where('sender', 'not in', q.notSenders);
    return sel;
  }

  /**
   * Where a room's known history runs out: the prev events of its oldest accepted timeline
   * events (the lowest `scan` positions) that are not themselves in the timeline (unknown, or
   * held only as outliers). Empty when the history reaches the room's create event.
   */
  async backwardExtremities(roomId: string, scan = 20): Promise<string[]> {
    const base = () => this.db.selectFrom('events').select('nid')
      .where('room_id', '=', roomId).where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0);
    const oldest = (await base().where('backfill_pos', 'is not', null).orderBy('backfill_pos', 'asc').limit(scan).execute()).map((r) => Number(r.nid));
    if (oldest.length < scan) {
      oldest.push(...(await base().where('backfill_pos', 'is', null).orderBy('nid', 'asc').limit(scan - oldest.length).execute()).map((r) => Number(r.nid)));
    }
    if (oldest.length === 0) return [];
    const prevs = [...new Set((await this.db.selectFrom('event_edges').select('prev_event_id').where('event_nid', 'in', oldest).execute()).map((r) => r.prev_event_id))];
    if (prevs.length === 0) return [];
    const held = new Set((await this.db.selectFrom('events').select('event_id').where('event_id', 'in', prevs).where('outlier', '=', 0).execute()).map((r) => r.event_id));
    return prevs.filter((id) => !held.has(id)).sort();
  }

  /** The lowest backfilled position of a room's timeline, or 0 when nothing was backfilled. */
  async lowestBackfillPosition(roomId: string): Promise<number> {
    const r = await this.db.selectFrom('events').select('backfill_pos').where('room_id', '=', roomId).where('backfill_pos', 'is not', null)
      .orderBy('backfill_pos', 'asc').limit(1).executeTakeFirst();
    return r?.backfill_pos == null ? 0 : Math.min(0, Number(r.backfill_pos));
  }

  /** The highest event position in the room-events stream. */
  async maxStreamPosition(): Promise<number> {
    const r = await this.db.selectFrom('events').select((eb) => eb.fn.max('nid').as('max')).executeTakeFirst();
    return Number(r?.max ?? 0);
  }

  async redactionsOf(eventIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < eventIds.length; i += 500) {
      // Only redactions of the target's own room count (storage/redactions.ts). Correlated
      // lookups by event ID, so that the planner starts from the redactions of these events (a
      // join let SQLite start from the events table: 200 ms per page of /messages).
      const rows = await this.db.selectFrom('redactions as r').select(['r.redacts', 'r.redaction_id'])
        .where('r.redacts', 'in', eventIds.slice(i, i + 500))
        .where((eb) => eb(
          eb.selectFrom('events as redaction').select('redaction.room_id').whereRef('redaction.event_id', '=', 'r.redaction_id'),
          '=',
          eb.selectFrom('events as target').select('target.room_id').whereRef('target.event_id', '=', 'r.redacts'),
        )).execute();
      for (const r of rows) if (!out.has(r.redacts)) out.set(r.redacts, r.redaction_id);
    }
    return out;
  }

  /** The closest accepted event at or after (dir f) / at or before (dir b) a timestamp. */
  async eventNearTimestamp(roomId: string, ts: number, dir: 'f' | 'b'): Promise<number | undefined> {
    let q = this.db.selectFrom('events').select('nid')
      .where('room_id', '=', roomId).where('outlier', '=', 0).where('rejected_reason', 'is', null).where('soft_failed', '=', 0);
    q = dir === 'f' ? q.where('origin_server_ts', '>=', ts).orderBy('origin_server_ts', 'asc') : q.where('origin_server_ts', '<=', ts).orderBy('origin_server_ts', 'desc');
    const r = await q.orderBy('nid', dir === 'f' ? 'asc' : 'desc').limit(1).executeTakeFirst();
    return r === undefined ? undefined : Number(r.nid);
  }

  async insertReport(r: { reporter: string; roomId?: string; eventId?: string; userId?: string; reason?: string; score?: number; now: number }): Promise<void> {
    await this.db.insertInto('reports').values({
      reporter: r.reporter, room_id: r.roomId ?? null, event_id: r.eventId ?? null, user_id: r.userId ?? null,
      reason: r.reason ?? null, score: r.score ?? null, created_ts: r.now,
    }).execute();
  }
}
