// Push actions, read positions and the unread-count cache (see migrations/009-push-actions.ts for
// the tables). Rows for a new event are written inside the event's transaction
// (services/notifications.ts), so they never disagree with the events table, restarts included.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read"
import type { RoomEvent } from '../core/pdu.js';
import { sql } from 'kysely';
import type { DB, Tx } from './database.js';
import { rowsAtEnd, type Defer } from './write-batcher.js';

/** The thread ID of the main timeline (spec: "Threaded read receipts"). */
export const MAIN_THREAD = 'main';
/** event_push_actions.user_id of the row every local member without a row of their own got. */
export const EVERY_MEMBER = '';
/** event_push_read.thread_id of the position where the user joined the room. */
export const JOINED = '';
/** The receipts table's thread_id for an unthreaded receipt (storage/receipts.ts). */
const UNTHREADED = '';
const READ_RECEIPT_TYPES = ['m.read', 'm.read.private'];
const ROWS_PER_INSERT = 500;

interface PendingRows { at: { roomId: string; eventNid: number; eventId: string; threadId: string }; rows: readonly PushActionRow[] }

export interface PushActionRow {
  /** A user, or EVERY_MEMBER. */
  userId: string;
  notify: boolean;
  highlight: boolean;
  /** The JSON array of the matching rule's actions. */
  actions: string;
}

/** One event's notification as one user got it. */
export interface UserPushRow { eventNid: number; threadId: string; notify: boolean; highlight: boolean }

export interface ReadReceiptRow {
  roomId: string;
  /** undefined for an unthreaded receipt. */
  threadId: string | undefined;
  eventNid: number;
}

export interface ReadPositionRow { roomId: string; threadId: string; readNid: number }
export interface MembershipRow {
  roomId: string;
  membership: string;
  lastJoinNid: number | null;
  /** The newest event with push actions in the room (0 when none). */
  latestPushNid: number;
}
export interface SummaryRow { roomId: string; countedNid: number; counts: string }
export interface NotificationRow { roomId: string; eventNid: number; own: boolean; threadId: string; notify: boolean; highlight: boolean; actions: string }

export class PushActionStore {
  constructor(private readonly db: DB) {}

  // ---- inside an event's transaction ----

  /** The thread an event is in: its relation's thread root (storage/relations.ts), else 'main'. */
  async threadOf(tx: Tx, eventNid: number): Promise<string> {
    const row = await tx.selectFrom('event_relations').select('thread_root').where('event_nid', '=', eventNid).executeTakeFirst();
    return row?.thread_root ?? MAIN_THREAD;
  }

  /** Events by nid, read through the transaction. */
  async eventsByNid(tx: Tx, nids: readonly number[]): Promise<Map<number, RoomEvent>> {
    const out = new Map<number, RoomEvent>();
    for (let i = 0; i < nids.length; i += 500) {
      const rows = await tx.selectFrom('events').select(['nid', 'json']).where('nid', 'in', nids.slice(i, i + 500)).execute();
      for (const r of rows) out.set(Number(r.nid), JSON.parse(r.json) as RoomEvent);
    }
    return out;
  }

  /**
   * Records what one event did for the room's local members. The rows are written at the end of
   * the write's transaction (WriteBatcher.run's `defer`), those of all its events in multi-row
   * statements; rows of an event a redaction in the same commit targets are not written
   * (forgetEvent could not delete them yet).
   */
  queue(defer: Defer, at: { roomId: string; eventNid: number; eventId: string; threadId: string }, rows: readonly PushActionRow[]): void {
    this.addRows(defer, { at, rows });
  }

  private readonly addRows = rowsAtEnd<PendingRows>((tx, pending) => this.insertRows(tx, pending));

  private async insertRows(tx: Tx, pending: PendingRows[]): Promise<void> {
    const rows = pending.flatMap(({ at, rows: r }) => r.map((row) => ({ at, row })));
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const values = sql.join(rows.slice(i, i + ROWS_PER_INSERT).map(({ at, row }) =>
        sql`(${at.roomId}, ${at.eventNid}, ${at.eventId}, ${row.userId}, ${at.threadId}, ${row.notify ? 1 : 0}, ${row.highlight ? 1 : 0}, ${row.actions})`));
      // Parameters in VALUES reach PostgreSQL untyped (text): the numbers are cast back.
      await sql`WITH v(room_id, event_nid, event_id, user_id, thread_id, notify, highlight, actions) AS (VALUES ${values})
        INSERT INTO event_push_actions (room_id, event_nid, user_id, thread_id, notify, highlight, actions)
        SELECT v.room_id, CAST(v.event_nid AS BIGINT), v.user_id, v.thread_id, CAST(v.notify AS INTEGER), CAST(v.highlight AS INTEGER), v.actions FROM v
        WHERE NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = v.event_id)`.execute(tx);
    }
  }

  /** Everything in `threadId` (JOINED: in the room) up to `eventNid` is read for the user. */
  async markRead(tx: Tx, roomId: string, userId: string, threadId: string, eventNid: number): Promise<void> {
    await tx.insertInto('event_push_read').values({ room_id: roomId, user_id: userId, thread_id: threadId, read_nid: eventNid })
      .onConflict((oc) => oc.columns(['room_id', 'user_id', 'thread_id']).doUpdateSet({ read_nid: eventNid })).execute();
  }

  /**
   * A redacted event notifies no more: its rows go, and so do the cached counts that included it
   * (they are recounted on the next read).
   */
  async forgetEvent(tx: Tx, roomId: string, eventId: string): Promise<void> {
    const ev = await tx.selectFrom('events').select('nid').where('event_id', '=', eventId).where('room_id', '=', roomId).executeTakeFirst();
    if (!ev) return;
    const nid = Number(ev.nid);
    const removed = await tx.deleteFrom('event_push_actions').where('room_id', '=', roomId).where('event_nid', '=', nid).executeTakeFirst();
    if (Number(removed.numDeletedRows) > 0) await tx.deleteFrom('event_push_summary').where('room_id', '=', roomId).where('counted_nid', '>=', nid).execute();
  }

  // ---- reads ----

  /**
   * For GET /notifications: the rows of these rooms that concern the user (their own, and the
   * EVERY_MEMBER ones), newest first, before `beforeNid`; an event's own row comes before its
   * EVERY_MEMBER row.
   */
  async notificationRows(userId: string, roomIds: readonly string[], beforeNid: number, limit: number): Promise<NotificationRow[]> {
    if (roomIds.length === 0) return [];
    const rows = await this.db.selectFrom('event_push_actions').select(['room_id', 'event_nid', 'user_id', 'thread_id', 'notify', 'highlight', 'actions'])
      .where('room_id', 'in', roomIds).where('user_id', 'in', [userId, EVERY_MEMBER]).where('event_nid', '<', beforeNid)
      .orderBy('event_nid', 'desc').orderBy('user_id', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      roomId: r.room_id, eventNid: Number(r.event_nid), own: r.user_id === userId, threadId: r.thread_id,
      notify: r.notify === 1, highlight: r.highlight === 1, actions: r.actions,
    }));
  }


  /**
   * The events after `afterNid` in a room as one user got them: their own row, else the room's
   * EVERY_MEMBER row (only for a user who was a joined member, `member`), in event order.
   */
  async rowsFor(userId: string, roomId: string, afterNid: number, member: boolean): Promise<UserPushRow[]> {
    let q = this.db.selectFrom('event_push_actions as a').select(['a.event_nid', 'a.thread_id', 'a.notify', 'a.highlight'])
      .where('a.room_id', '=', roomId).where('a.event_nid', '>', afterNid);
    q = member
      ? q.where((eb) => eb.or([
        eb('a.user_id', '=', userId),
        eb.and([
          eb('a.user_id', '=', EVERY_MEMBER),
          eb.not(eb.exists(eb.selectFrom('event_push_actions as b').select('b.event_nid')
            .whereRef('b.room_id', '=', 'a.room_id').whereRef('b.event_nid', '=', 'a.event_nid').where('b.user_id', '=', userId))),
        ]),
      ]))
      : q.where('a.user_id', '=', userId);
    const rows = await q.orderBy('a.event_nid').execute();
    return rows.map((r) => ({ eventNid: Number(r.event_nid), threadId: r.thread_id, notify: r.notify === 1, highlight: r.highlight === 1 }));
  }

  /**
   * The user's membership in each of these rooms they have one in, with the newest event that has
   * push actions (a maximum per room is one index lookup on both databases, unlike GROUP BY).
   */
  async memberships(userId: string, roomIds: readonly string[]): Promise<MembershipRow[]> {
    return this.inChunks(roomIds, async (chunk) => (await this.db.selectFrom('memberships as m')
      .select((eb) => ['m.room_id', 'm.membership', 'm.last_join_nid',
        eb.selectFrom('event_push_actions as a').select((sub) => sub.fn.max('a.event_nid').as('n')).whereRef('a.room_id', '=', 'm.room_id').as('latest')])
      .where('m.room_id', 'in', chunk).where('m.user_id', '=', userId).execute())
      .map((r) => ({
        roomId: r.room_id, membership: r.membership, lastJoinNid: r.last_join_nid === null ? null : Number(r.last_join_nid),
        latestPushNid: r.latest === null ? 0 : Number(r.latest),
      })));
  }

  async readPositions(userId: string, roomIds: readonly string[]): Promise<ReadPositionRow[]> {
    return this.inChunks(roomIds, async (chunk) => (await this.db.selectFrom('event_push_read').select(['room_id', 'thread_id', 'read_nid'])
      .where('room_id', 'in', chunk).where('user_id', '=', userId).execute())
      .map((r) => ({ roomId: r.room_id, threadId: r.thread_id, readNid: Number(r.read_nid) })));
  }

  /** The user's m.read and m.read.private receipts in these rooms. */
  async readReceipts(userId: string, roomIds: readonly string[]): Promise<ReadReceiptRow[]> {
    return this.inChunks(roomIds, async (chunk) => (await this.db.selectFrom('receipts').select(['room_id', 'thread_id', 'event_nid'])
      .where('room_id', 'in', chunk).where('receipt_type', 'in', READ_RECEIPT_TYPES).where('user_id', '=', userId).execute())
      .map((r) => ({ roomId: r.room_id, threadId: r.thread_id === UNTHREADED ? undefined : r.thread_id, eventNid: Number(r.event_nid) })));
  }

  async summaries(userId: string, roomIds: readonly string[]): Promise<SummaryRow[]> {
    return this.inChunks(roomIds, async (chunk) => (await this.db.selectFrom('event_push_summary').select(['room_id', 'counted_nid', 'counts'])
      .where('room_id', 'in', chunk).where('user_id', '=', userId).execute())
      .map((r) => ({ roomId: r.room_id, countedNid: Number(r.counted_nid), counts: r.counts })));
  }

  /** Replaces one user's cached counts in one room. */
  async saveSummary(userId: string, roomId: string, countedNid: number, counts: string): Promise<void> {
    await this.db.insertInto('event_push_summary').values({ room_id: roomId, user_id: userId, counted_nid: countedNid, counts })
      .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet({ counted_nid: countedNid, counts })).execute();
  }

  private async inChunks<T>(roomIds: readonly string[], query: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < roomIds.length; i += 500) out.push(...(await query(roomIds.slice(i, i + 500))));
    return out;
  }
}
