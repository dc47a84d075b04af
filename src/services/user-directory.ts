// The user directory: finding users by user ID or display name among those the searcher may
// see: users sharing a room with them, and users joined to public or world-readable rooms.
// spec: client-server-api "User Directory" (POST /user_directory/search)
//
// Each search reads the visible users and their profiles and matches in memory (so that case
// folding is Unicode's, the same on both databases): fine for thousands of visible users, not
// for millions. A dedicated, incrementally maintained directory table is the way past that.
import type { StoredEvent } from '../storage/events.js';
import type { Storage } from '../storage/index.js';
import type { DirectoryEntry } from '../storage/user-directory.js';

export interface DirectoryResult { user_id: string; display_name?: string; avatar_url?: string }

/** The most results one search returns, whatever the client asks for. */
export const MAX_SEARCH_LIMIT = 50;

export class UserDirectoryService {
  constructor(private readonly storage: Storage) {}

  async search(searcher: string, searchTerm: string, limit: number): Promise<{ results: DirectoryResult[]; limited: boolean }> {
    const term = searchTerm.trim().toLowerCase();
    const candidates = await this.storage.userDirectory.visibleUsers(searcher, await this.openRooms());
    const ranked = candidates
      .map((entry) => ({ entry, rank: matchRank(entry, term) }))
      .filter((m): m is { entry: DirectoryEntry; rank: number } => m.rank !== undefined)
      .sort((a, b) => a.rank - b.rank || profileInfo(b.entry) - profileInfo(a.entry) || (a.entry.userId < b.entry.userId ? -1 : a.entry.userId > b.entry.userId ? 1 : 0));
    const n = Math.min(limit, MAX_SEARCH_LIMIT);
    return {
      results: ranked.slice(0, n).map(({ entry }) => ({
        user_id: entry.userId,
        ...(entry.displayname !== null ? { display_name: entry.displayname } : {}),
        ...(entry.avatarUrl !== null ? { avatar_url: entry.avatarUrl } : {}),
      })),
      limited: ranked.length > n,
    };
  }

  /** Rooms whose joined members anyone may find: a public join rule or world-readable history. */
  private async openRooms(): Promise<string[]> {
    const open = new Set<string>();
    const check = async (type: string, isOpen: (s: StoredEvent) => boolean) => {
      const refs = await this.storage.userDirectory.roomStateEvents(type);
      const events = await this.storage.events.getEventsByNid(refs.map((r) => r.eventNid));
      for (const r of refs) {
        const ev = events.get(r.eventNid);
        if (ev && isOpen(ev)) open.add(r.roomId);
      }
    };
    await check('m.room.join_rules', (s) => s.event.content.join_rule === 'public');
    await check('m.room.history_visibility', (s) => s.event.content.history_visibility === 'world_readable');
    return [...open];
  }
}

/** 0: the whole user ID, localpart or display name; 1: a prefix of one of them or of a word of the name; 2: elsewhere. */
function matchRank(entry: DirectoryEntry, term: string): number | undefined {
  const userId = entry.userId.toLowerCase();
  const localpart = userId.slice(1, userId.includes(':') ? userId.indexOf(':') : undefined);
  const name = entry.displayname?.toLowerCase() ?? '';
  if (!userId.includes(term) && !name.includes(term)) return undefined;
  if (term === userId || term === localpart || term === name) return 0;
  if (localpart.startsWith(term) || name.split(/\s+/).some((w) => w.startsWith(term))) return 1;
  return 2;
}

const profileInfo = (e: DirectoryEntry) => (e.displayname !== null ? 1 : 0) + (e.avatarUrl !== null ? 1 : 0);
