// The `summary` of a joined room in /sync: member counts, and heroes for rooms without a name.
// spec: client-server-api GET /sync (RoomSummary: m.heroes, m.joined_member_count, m.invited_member_count)
import { stateKey } from '../../core/pdu.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';

export interface SyncRoomSummary {
  'm.heroes'?: string[];
  'm.joined_member_count': number;
  'm.invited_member_count': number;
}

const NAME = stateKey('m.room.name', '');
const ALIAS = stateKey('m.room.canonical_alias', '');
const CACHE_ROOMS = 10_000;

export class RoomSummaryReader {
  /** Member counts per room, valid while the room's current state group is the one they were counted at. */
  private readonly counts = new Map<string, { group: number | null; joined: number; invited: number }>();

  constructor(private readonly storage: Storage) {}

  /**
   * Summaries of rooms given their state. Heroes are computed only where the spec requires them:
   * when the room's m.room.name and m.room.canonical_alias are unset or empty.
   */
  async summaries(userId: string, rooms: Array<{ roomId: string; state: NidStateMap }>): Promise<Map<string, SyncRoomSummary>> {
    const out = new Map<string, SyncRoomSummary>();
    if (rooms.length === 0) return out;
    const nameNids = rooms.flatMap((r) => [r.state.get(NAME), r.state.get(ALIAS)]).filter((n): n is number => n !== undefined);
    const names = await this.storage.events.getEventsByNid(nameNids);
    const named = (state: NidStateMap) => {
      const name = names.get(state.get(NAME) ?? -1)?.event.content.name;
      const alias = names.get(state.get(ALIAS) ?? -1)?.event.content.alias;
      return (typeof name === 'string' && name !== '') || (typeof alias === 'string' && alias !== '');
    };
    const unnamed = new Set(rooms.filter((r) => !named(r.state)).map((r) => r.roomId));
    const [counts, heroes] = await Promise.all([this.memberCounts(rooms.map((r) => r.roomId)), this.storage.sync.heroes([...unnamed], userId)]);
    for (const { roomId } of rooms) {
      const c = counts.get(roomId) ?? { joined: 0, invited: 0 };
      out.set(roomId, {
        ...(unnamed.has(roomId) ? { 'm.heroes': heroes.get(roomId) ?? [] } : {}),
        'm.joined_member_count': c.joined,
        'm.invited_member_count': c.invited,
      });
    }
    return out;
  }

  private async memberCounts(roomIds: string[]): Promise<Map<string, { joined: number; invited: number }>> {
    const out = new Map<string, { joined: number; invited: number }>();
    const stale: Array<{ roomId: string; group: number | null }> = [];
    for (const roomId of roomIds) {
      // Read before the counts: a membership change in between leaves a stale group, counted again next time.
      const group = (await this.storage.events.getRoom(roomId))?.currentStateGroup ?? null;
      const cached = this.counts.get(roomId);
      if (cached && cached.group === group) out.set(roomId, cached);
      else stale.push({ roomId, group });
    }
    if (stale.length === 0) return out;
    const fresh = await this.storage.sync.memberCounts(stale.map((s) => s.roomId));
    for (const { roomId, group } of stale) {
      const c = fresh.get(roomId) ?? { joined: 0, invited: 0 };
      if (this.counts.size >= CACHE_ROOMS) this.counts.delete(this.counts.keys().next().value as string);
      this.counts.set(roomId, { group, ...c });
      out.set(roomId, c);
    }
    return out;
  }
}
