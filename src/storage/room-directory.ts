// Read queries for the published room directory and room summaries: which rooms are
// published, and how many members each room has joined.
import type { DB } from './database.js';

export class RoomDirectoryStore {
  constructor(private readonly db: DB) {}

  /** The rooms published in this server's room directory. */
  async publishedRoomIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('rooms').select('room_id').where('is_public', '=', 1).orderBy('room_id').execute();
    return rows.map((r) => r.room_id);
  }

  /** The number of joined members of each room (rooms with none are absent). */
  async joinedMemberCounts(roomIds: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < roomIds.length; i += 500) {
      const rows = await this.db.selectFrom('memberships')
        .select((eb) => ['room_id', eb.fn.countAll().as('n')])
        .where('room_id', 'in', roomIds.slice(i, i + 500)).where('membership', '=', 'join')
        .groupBy('room_id').execute();
      for (const r of rows) out.set(r.room_id, Number(r.n));
    }
    return out;
  }

  /** Which of `roomIds` the user is joined to. */
  async joinedAmong(userId: string, roomIds: string[]): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set();
    const rows = await this.db.selectFrom('memberships').select('room_id')
      .where('user_id', '=', userId).where('membership', '=', 'join').where('room_id', 'in', roomIds.slice(0, 500)).execute();
    return new Set(rows.map((r) => r.room_id));
  }
}
