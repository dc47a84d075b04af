// The queries behind the user directory: which users a searcher may find, and their profiles.
// spec: client-server-api "User Directory" (POST /user_directory/search)
import type { DB } from './database.js';

export interface DirectoryEntry { userId: string; displayname: string | null; avatarUrl: string | null }

const CHUNK = 500;

export class UserDirectoryStore {
  constructor(private readonly db: DB) {}

  /** The nids of the current state events of `type` (state key '') of every room. */
  async roomStateEvents(type: string): Promise<Array<{ roomId: string; eventNid: number }>> {
    const rows = await this.db.selectFrom('current_state').select(['room_id', 'event_nid'])
      .where('type', '=', type).where('state_key', '=', '').execute();
    return rows.map((r) => ({ roomId: r.room_id, eventNid: Number(r.event_nid) }));
  }

  /**
   * Users joined to a room `searcher` is joined to, or to one of `rooms`, with their profiles;
   * deactivated accounts are left out.
   */
  async visibleUsers(searcher: string, rooms: readonly string[]): Promise<DirectoryEntry[]> {
    const shared = await this.db.selectFrom('memberships as mine')
      .innerJoin('memberships as theirs', 'theirs.room_id', 'mine.room_id')
      .select('theirs.user_id').distinct()
      .where('mine.user_id', '=', searcher).where('mine.membership', '=', 'join').where('theirs.membership', '=', 'join')
      .execute();
    const users = new Set(shared.map((r) => r.user_id));
    for (let i = 0; i < rooms.length; i += CHUNK) {
      const rows = await this.db.selectFrom('memberships').select('user_id').distinct()
        .where('room_id', 'in', rooms.slice(i, i + CHUNK)).where('membership', '=', 'join').execute();
      for (const r of rows) users.add(r.user_id);
    }
    const ids = [...users];
    const out: DirectoryEntry[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const rows = await this.db.selectFrom('users')
        .leftJoin('profiles', 'profiles.user_id', 'users.user_id')
        .select(['users.user_id', 'users.deactivated', 'profiles.displayname', 'profiles.avatar_url'])
        .where('users.user_id', 'in', ids.slice(i, i + CHUNK)).execute();
      const known = new Map(rows.map((r) => [r.user_id, r]));
      for (const id of ids.slice(i, i + CHUNK)) {
        const r = known.get(id);
        // Users without an account here are remote: found by user ID only, until federation brings their profiles.
        if (!r) out.push({ userId: id, displayname: null, avatarUrl: null });
        else if (r.deactivated !== 1) out.push({ userId: id, displayname: r.displayname ?? null, avatarUrl: r.avatar_url ?? null });
      }
    }
    return out;
  }
}
