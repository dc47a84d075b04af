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

/**
 * Summaries of rooms given their state. Heroes are computed only where the spec requires them:
 * when the room's m.room.name and m.room.canonical_alias are unset or empty.
 */
export async function roomSummaries(storage: Storage, userId: string, rooms: Array<{ roomId: string; state: NidStateMap }>): Promise<Map<string, SyncRoomSummary>> {
  const out = new Map<string, SyncRoomSummary>();
  if (rooms.length === 0) return out;
  const ids = rooms.map((r) => r.roomId);
  const nameNids = rooms.flatMap((r) => [r.state.get(NAME), r.state.get(ALIAS)]).filter((n): n is number => n !== undefined);
  const names = await storage.events.getEventsByNid(nameNids);
  const named = (state: NidStateMap) => {
    const name = names.get(state.get(NAME) ?? -1)?.event.content.name;
    const alias = names.get(state.get(ALIAS) ?? -1)?.event.content.alias;
    return (typeof name === 'string' && name !== '') || (typeof alias === 'string' && alias !== '');
  };
  const unnamed = rooms.filter((r) => !named(r.state)).map((r) => r.roomId);
  const [counts, heroes] = await Promise.all([storage.sync.memberCounts(ids), storage.sync.heroes(unnamed, userId)]);
  for (const roomId of ids) {
    const c = counts.get(roomId) ?? { joined: 0, invited: 0 };
    out.set(roomId, {
      ...(unnamed.includes(roomId) ? { 'm.heroes': heroes.get(roomId) ?? [] } : {}),
      'm.joined_member_count': c.joined,
      'm.invited_member_count': c.invited,
    });
  }
  return out;
}
