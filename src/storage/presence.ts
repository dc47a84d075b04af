// Presence: each user's presence as last changed, at its position in the presence stream.
import type { DB } from './database.js';

export type PresenceValue = 'online' | 'unavailable' | 'offline';

export interface PresenceRecord {
  userId: string;
  presence: PresenceValue;
  statusMsg: string | null;
  lastActiveTs: number | null;
  currentlyActive: boolean;
}

export interface StoredPresence extends PresenceRecord {
  streamId: number;
}

type Row = { stream_id: number; user_id: string; presence: string; status_msg: string | null; last_active_ts: number | null; currently_active: number };

export class PresenceStore {
  constructor(private readonly db: DB) {}

  async get(userId: string): Promise<StoredPresence | undefined> {
    const row = await this.db.selectFrom('presence').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return row && toPresence(row as Row);
  }

  /** Records a change: the user's row moves to a new stream position, which is returned. */
  async put(p: PresenceRecord): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('presence').where('user_id', '=', p.userId).execute();
      const inserted = await tx.insertInto('presence').values({
        user_id: p.userId, presence: p.presence, status_msg: p.statusMsg, last_active_ts: p.lastActiveTs, currently_active: p.currentlyActive ? 1 : 0,
      }).returning('stream_id').executeTakeFirstOrThrow();
      return Number(inserted.stream_id);
    });
  }

  /** Saves a newer last-active time without making it a change in the stream. */
  async saveLastActive(userId: string, lastActiveTs: number): Promise<void> {
    await this.db.updateTable('presence').set({ last_active_ts: lastActiveTs }).where('user_id', '=', userId).execute();
  }

  /** Everyone whose presence is `presence` (e.g. the online users, to watch for idleness). */
  async withPresence(presence: PresenceValue): Promise<StoredPresence[]> {
    const rows = await this.db.selectFrom('presence').selectAll().where('presence', '=', presence).execute();
    return rows.map((r) => toPresence(r as Row));
  }

  /** The position of the latest change (0 when there is none). */
  async maxStreamId(): Promise<number> {
    const r = await this.db.selectFrom('presence').select((eb) => eb.fn.max('stream_id').as('max')).executeTakeFirst();
    return Number(r?.max ?? 0);
  }

  /**
   * Changes at positions in (since, upTo] that `viewer` may see: their own, and those of users
   * who share a joined room with them. In stream order.
   */
  async changedSince(viewer: string, since: number, upTo?: number): Promise<StoredPresence[]> {
    let q = this.db.selectFrom('presence as p').selectAll('p').where('p.stream_id', '>', since)
      .where((eb) => eb.or([
        eb('p.user_id', '=', viewer),
        eb.exists(eb.selectFrom('memberships as mine')
          .innerJoin('memberships as theirs', 'theirs.room_id', 'mine.room_id')
          .select('mine.room_id')
          .where('mine.user_id', '=', viewer).where('mine.membership', '=', 'join')
          .whereRef('theirs.user_id', '=', 'p.user_id').where('theirs.membership', '=', 'join')),
      ]));
    if (upTo !== undefined) q = q.where('p.stream_id', '<=', upTo);
    const rows = await q.orderBy('p.stream_id').execute();
    return rows.map((r) => toPresence(r as Row));
  }

  /** Whether two users are both joined to at least one room. */
  async shareJoinedRoom(a: string, b: string): Promise<boolean> {
    const row = await this.db.selectFrom('memberships as mine')
      .innerJoin('memberships as theirs', 'theirs.room_id', 'mine.room_id')
      .select('mine.room_id')
      .where('mine.user_id', '=', a).where('mine.membership', '=', 'join')
      .where('theirs.user_id', '=', b).where('theirs.membership', '=', 'join')
      .limit(1).executeTakeFirst();
    return row !== undefined;
  }
}

function toPresence(row: Row): StoredPresence {
  return {
    streamId: Number(row.stream_id), userId: row.user_id, presence: row.presence as PresenceValue, statusMsg: row.status_msg,
    lastActiveTs: row.last_active_ts === null ? null : Number(row.last_active_ts), currentlyActive: row.currently_active === 1,
  };
}
