// The servers with joined members in each room, kept in memory until a member event of the room
// is persisted: where events go (outbound.ts) and whether a room's Policy Server is in it
// (policy-check.ts) are asked per event, and a 10,000-member room is not read per message.
import { domainOf } from '../../core/identifiers.js';
import type { StoredEvent } from '../../storage/events.js';
import type { RoomStore } from '../../storage/rooms.js';

const MAX_ROOMS = 10_000;

export class JoinedServers {
  private readonly byRoom = new Map<string, Promise<Set<string>>>();

  constructor(private readonly rooms: Pick<RoomStore, 'joinedMemberIds'>) {}

  /** The pipeline's listener (registered before anything that asks): a member event makes the room's set stale. */
  onPersisted = (stored: StoredEvent): void => {
    if (stored.event.type === 'm.room.member') this.byRoom.delete(stored.event.room_id);
  };

  of(roomId: string): Promise<Set<string>> {
    let servers = this.byRoom.get(roomId);
    if (!servers) {
      servers = this.rooms.joinedMemberIds(roomId).then((ids) => new Set(ids.map((u) => domainOf(u)!)));
      if (this.byRoom.size > MAX_ROOMS) this.byRoom.clear();
      this.byRoom.set(roomId, servers);
      servers.catch(() => this.byRoom.delete(roomId));
    }
    return servers;
  }
}
