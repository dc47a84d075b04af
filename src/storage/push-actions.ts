// Push actions and unread notification counts per (user, room, thread).
// event_push_actions holds one row per event that notified a user; event_push_summary holds the
// counts of those rows after a read position, so that /sync reads one row per room and thread.
// Rows for a new event are written inside the event's transaction (see services/notifications.ts),
// so the counts never disagree with the events table, across restarts included.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read"
import type { RoomEvent } from '../core/pdu.js';
import type { DB, Tx } from './database.js';

/** The thread ID of the main timeline (spec: "Threaded read receipts"). */
export const MAIN_THREAD = 'main';
/** The receipts table's thread_id for an unthreaded receipt (storage/receipts.ts). */
const UNTHREADED = '';
const READ_RECEIPT_TYPES = ['m.read', 'm.read.private'];
/** Rows per INSERT statement: 6 parameters each stays under SQLite's and PostgreSQL's limits. */
const ROWS_PER_INSERT = 2_000;

export interface PushActionRow {
  userId: string;
  highlight: boolean;
  /** The JSON array of the matching rule's actions. */
  actions: string;
}

export interface PushSummaryRow {
  roomId: string;
  threadId: string;
  notificationCount: number;
  highlightCount: number;
  /** The counts are of notifying events after this event position. */
  readNid: number;
}

export interface ReadReceiptRow {
  roomId: string;
  /** undefined for an unthreaded receipt. */
  threadId: string | undefined;
  eventNid: number;
}

export interface Counts { notificationCount: number; highlightCount: number }

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
   * Records the users one event notified and adds it to their unread counts: one multi-row
   * insert and one multi-row upsert. A summary row created here counts just this event, so its
   * read position is the event before it.
   */
  async record(tx: Tx, at: { roomId: string; threadId: string; eventNid: number }, rows: readonly PushActionRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      const chunk = rows.slice(i, i + ROWS_PER_INSERT);
      await tx.insertInto('event_push_actions').values(chunk.map((r) => ({
        user_id: r.userId, room_id: at.roomId, thread_id: at.threadId, event_nid: at.eventNid, highlight: r.highlight ? 1 : 0, actions: r.actions,
      }))).execute();
      await tx.insertInto('event_push_summary').values(chunk.map((r) => ({
        user_id: r.userId, room_id: at.roomId, thread_id: at.threadId, notification_count: 1, highlight_count: r.highlight ? 1 : 0, read_nid: at.eventNid - 1,
      }))).onConflict((oc) => oc.columns(['user_id', 'room_id', 'thread_id']).doUpdateSet((eb) => ({
        notification_count: eb('event_push_summary.notification_count', '+', eb.ref('excluded.notification_count')),
        highlight_count: eb('event_push_summary.highlight_count', '+', eb.ref('excluded.highlight_count')),
      }))).execute();
    }
  }

  /** The user sent an event in this thread: everything before it in the thread is read. */
  async markRead(tx: Tx, userId: string, roomId: string, threadId: string, eventNid: number): Promise<void> {
    await tx.insertInto('event_push_summary').values({
      user_id: userId, room_id: roomId, thread_id: threadId, notification_count: 0, highlight_count: 0, read_nid: eventNid,
    }).onConflict((oc) => oc.columns(['user_id', 'room_id', 'thread_id']).doUpdateSet({ notification_count: 0, highlight_count: 0, read_nid: eventNid })).execute();
  }

  // ---- reads ----

  /** The user's non-zero summary rows in these rooms. */
  async summaries(userId: string, roomIds: readonly string[]): Promise<PushSummaryRow[]> {
    const out: PushSummaryRow[] = [];
    for (let i = 0; i < roomIds.length; i += 500) {
      const rows = await this.db.selectFrom('event_push_summary')
        .select(['room_id', 'thread_id', 'notification_count', 'highlight_count', 'read_nid'])
        .where('user_id', '=', userId).where('room_id', 'in', roomIds.slice(i, i + 500)).where('notification_count', '>', 0)
        .execute();
      for (const r of rows) {
        out.push({ roomId: r.room_id, threadId: r.thread_id, notificationCount: Number(r.notification_count), highlightCount: Number(r.highlight_count), readNid: Number(r.read_nid) });
      }
    }
    return out;
  }

  /** The user's m.read and m.read.private receipts in these rooms. */
  async readReceipts(userId: string, roomIds: readonly string[]): Promise<ReadReceiptRow[]> {
    const out: ReadReceiptRow[] = [];
    for (let i = 0; i < roomIds.length; i += 500) {
      const rows = await this.db.selectFrom('receipts').select(['room_id', 'thread_id', 'event_nid'])
        .where('room_id', 'in', roomIds.slice(i, i + 500)).where('receipt_type', 'in', READ_RECEIPT_TYPES).where('user_id', '=', userId)
        .execute();
      for (const r of rows) out.push({ roomId: r.room_id, threadId: r.thread_id === UNTHREADED ? undefined : r.thread_id, eventNid: Number(r.event_nid) });
    }
    return out;
  }

  /**
   * Moves a summary's read position up to `readNid` and recounts what remains unread. The row is
   * locked before counting, so that on PostgreSQL an event being added to it commits first and is
   * counted once (SQLite runs one transaction at a time).
   */
  async recount(userId: string, roomId: string, threadId: string, readNid: number): Promise<Counts> {
    return this.db.transaction().execute(async (tx) => {
      const key = { user_id: userId, room_id: roomId, thread_id: threadId };
      const current = await tx.updateTable('event_push_summary').set((eb) => ({ read_nid: eb.ref('read_nid') }))
        .where('user_id', '=', key.user_id).where('room_id', '=', key.room_id).where('thread_id', '=', key.thread_id)
        .returning(['notification_count', 'highlight_count', 'read_nid']).executeTakeFirst();
      if (!current) return { notificationCount: 0, highlightCount: 0 };
      if (Number(current.read_nid) >= readNid) {
        return { notificationCount: Number(current.notification_count), highlightCount: Number(current.highlight_count) };
      }
      const counted = await tx.selectFrom('event_push_actions')
        .select((eb) => [eb.fn.countAll().as('n'), eb.fn.sum('highlight').as('h')])
        .where('user_id', '=', key.user_id).where('room_id', '=', key.room_id).where('thread_id', '=', key.thread_id)
        .where('event_nid', '>', readNid)
        .executeTakeFirstOrThrow();
      const counts = { notificationCount: Number(counted.n), highlightCount: Number(counted.h ?? 0) };
      await tx.updateTable('event_push_summary')
        .set({ notification_count: counts.notificationCount, highlight_count: counts.highlightCount, read_nid: readNid })
        .where('user_id', '=', key.user_id).where('room_id', '=', key.room_id).where('thread_id', '=', key.thread_id)
        .execute();
      return counts;
    });
  }
}
