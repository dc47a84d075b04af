// Receipts: the latest receipt of each (room, receipt type, user, thread), each row at its
// position in the receipts stream.
import type { DB } from './database.js';

/** The thread column's value for an unthreaded receipt. */
const UNTHREADED = '';

export interface Receipt {
  roomId: string;
  receiptType: string;
  userId: string;
  /** 'main', a thread root's event ID, or undefined for an unthreaded receipt. */
  threadId?: string;
  eventId: string;
  /** The event's position in the room-events stream: receipts only move forward. */
  eventNid: number;
  ts: number;
}

export interface StoredReceipt extends Receipt {
  streamId: number;
}

type Row = { stream_id: number; room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; event_nid: number; ts: number };

export class ReceiptStore {
  constructor(private readonly db: DB) {}

  /**
   * Records a receipt unless the current one for the same (room, type, user, thread) is for the
   * same or a later event. Returns the new stream position, or undefined when ignored.
   * Positions are handed out in commit order only if callers serialise their writes.
   */
  async put(r: Receipt): Promise<number | undefined> {
    const threadId = r.threadId ?? UNTHREADED;
    return this.db.transaction().execute(async (tx) => {
      const key = tx.selectFrom('receipts').select(['stream_id', 'event_nid'])
        .where('room_id', '=', r.roomId).where('receipt_type', '=', r.receiptType).where('user_id', '=', r.userId).where('thread_id', '=', threadId);
      const current = await key.executeTakeFirst();
      if (current && Number(current.event_nid) >= r.eventNid) return undefined;
      if (current) await tx.deleteFrom('receipts').where('stream_id', '=', current.stream_id).execute();
      const inserted = await tx.insertInto('receipts').values({
        room_id: r.roomId, receipt_type: r.receiptType, user_id: r.userId, thread_id: threadId,
        event_id: r.eventId, event_nid: r.eventNid, ts: r.ts,
      }).returning('stream_id').executeTakeFirstOrThrow();
      return Number(inserted.stream_id);
    });
  }

  /** The current receipt of one (room, type, user, thread), if any. */
  async get(roomId: string, receiptType: string, userId: string, threadId?: string): Promise<StoredReceipt | undefined> {
    const row = await this.db.selectFrom('receipts').selectAll()
      .where('room_id', '=', roomId).where('receipt_type', '=', receiptType).where('user_id', '=', userId)
      .where('thread_id', '=', threadId ?? UNTHREADED).executeTakeFirst();
    return row && toReceipt(row as Row);
  }

  /** The position of the latest receipt (0 when there is none). */
  async maxStreamId(): Promise<number> {
    const r = await this.db.selectFrom('receipts').select((eb) => eb.fn.max('stream_id').as('max')).executeTakeFirst();
    return Number(r?.max ?? 0);
  }

  /** Receipts in `rooms` at positions in (since, upTo], in stream order. */
  async changedSince(rooms: readonly string[], since: number, upTo?: number): Promise<StoredReceipt[]> {
    const out: StoredReceipt[] = [];
    for (let i = 0; i < rooms.length; i += 500) {
      let q = this.db.selectFrom('receipts').selectAll().where('room_id', 'in', rooms.slice(i, i + 500)).where('stream_id', '>', since);
      if (upTo !== undefined) q = q.where('stream_id', '<=', upTo);
      out.push(...(await q.execute()).map((row) => toReceipt(row as Row)));
    }
    return out.sort((a, b) => a.streamId - b.streamId);
  }
}

function toReceipt(row: Row): StoredReceipt {
  return {
    streamId: Number(row.stream_id), roomId: row.room_id, receiptType: row.receipt_type, userId: row.user_id,
    ...(row.thread_id === UNTHREADED ? {} : { threadId: row.thread_id }),
    eventId: row.event_id, eventNid: Number(row.event_nid), ts: Number(row.ts),
  };
}
