// Account data in /sync: global (top-level `account_data`) and per room (in each room's entry).
// spec: client-server-api modules/account_data
import { matchesEventFilter, matchesRoomEventFilter, type EventFilter, type RoomEventFilter } from '../../core/filter.js';
import type { AccountDataEvent, AccountDataStore } from '../../storage/account-data.js';

export interface AccountDataQuery {
  userId: string;
  /** The account data position of `since`; undefined for an initial sync. */
  since?: number;
  upTo: number;
  /** Rooms new to the client, whose room account data is sent whole. */
  freshRooms: readonly string[];
  globalFilter?: EventFilter;
  roomFilter?: RoomEventFilter;
  /** Global account data the user has without having set it; sent on initial sync when not set. */
  defaults?: (userId: string) => Promise<AccountDataEvent[]>;
}

export async function accountDataChanges(store: AccountDataStore, q: AccountDataQuery): Promise<{ global: AccountDataEvent[]; rooms: Map<string, AccountDataEvent[]> }> {
  const changes = await store.changesSince(q.userId, q.since ?? 0, q.upTo);
  if (q.since === undefined && q.defaults) {
    for (const d of await q.defaults(q.userId)) if (!changes.global.some((e) => e.type === d.type)) changes.global.push(d);
  }
  const rooms = new Map(Object.entries(changes.rooms));
  if (q.since !== undefined && q.freshRooms.length) {
    const all = await store.changesSince(q.userId, 0, q.upTo);
    for (const roomId of q.freshRooms) if (all.rooms[roomId]) rooms.set(roomId, all.rooms[roomId]);
  }
  for (const [roomId, events] of rooms) {
    const kept = events.filter((e) => matchesRoomEventFilter(q.roomFilter, { type: e.type, room_id: roomId }));
    if (kept.length) rooms.set(roomId, kept);
    else rooms.delete(roomId);
  }
  return { global: changes.global.filter((e) => matchesEventFilter(q.globalFilter, { type: e.type })), rooms };
}
