// Events this server creates go to every other server in the room: the servers of the room's
// joined members after the event, plus the target's server of a membership change (a kicked or
// banned user's server learns of it). Queued per destination by FederationSender.
// spec: server-server-api "Transactions" ("the servers in the room"); modules/server_acls
// "Server behaviour": events still go to denied servers that are residents of the room.
import { toFederationPdu } from '../../core/events.js';
import { domainOf } from '../../core/identifiers.js';
import type { PDU } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { JoinedServers } from './joined-servers.js';

/** What this needs of services/federation/sender.ts. */
export interface PduSender {
  sendPdu(pdu: Record<string, unknown>, destinations: Iterable<string>): void;
}

export class OutboundEvents {
  /** Events already delivered another way (our send_join'd join), not to be sent again. */
  private readonly delivered = new Set<string>();

  constructor(
    private readonly storage: Storage,
    private readonly sender: PduSender,
    private readonly serverName: string,
    private readonly joinedServers: JoinedServers,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** The pipeline's listener: events of our users (accepted ones) go out. */
  onPersisted = (stored: StoredEvent): void => {
    const ev = stored.event;
    if (stored.outlier || stored.rejectedReason !== null || stored.softFailed) return;
    if (domainOf(ev.sender) !== this.serverName) return;
    if (this.delivered.delete(ev.event_id)) return;
    this.distribute(stored, []).catch(this.onError);
  };

  /** Marks an event as sent already (the joining server delivered it with send_join). */
  alreadyDelivered(eventId: string): void {
    this.delivered.add(eventId);
  }

  /** Sends an event to the room's other servers, minus `exclude`. */
  async distribute(stored: StoredEvent, exclude: string[]): Promise<void> {
    const ev = stored.event;
    const room = await this.storage.events.getRoom(ev.room_id);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version) return;
    const destinations = new Set(await this.joinedServers.of(ev.room_id));
    if (ev.type === 'm.room.member' && typeof ev.state_key === 'string' && ev.content.membership !== 'invite') {
      destinations.add(domainOf(ev.state_key)!);
    }
    destinations.delete(this.serverName);
    for (const s of exclude) destinations.delete(s);
    if (destinations.size === 0) return;
    this.sender.sendPdu(toFederationPdu(ev, version) as PDU, destinations);
  }
}
