// Events as clients see them: the ClientEvent format with `unsigned` filled in
// (age, prev_content, transaction_id, redacted_because) and redactions applied.
// spec: client-server-api "Room Events" (ClientEvent), "Redactions", "Transaction identifiers"
import { redactEvent } from '../../core/events.js';
import { stateKey, type JsonObject, type RoomEvent } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import { addBundledAggregations, relationsPresent } from './relations.js';

export interface ClientEvent {
  content: JsonObject;
  event_id: string;
  origin_server_ts: number;
  room_id: string;
  sender: string;
  state_key?: string;
  type: string;
  redacts?: string;
  unsigned: JsonObject;
}

export interface Viewer { userId: string; deviceId?: string }

export class EventFormatter {
  constructor(private readonly storage: Storage, private readonly now: () => number = Date.now) {}

  async format(events: StoredEvent[], viewer: Viewer): Promise<ClientEvent[]> {
    if (events.length === 0) return [];
    // Independent queries: on PostgreSQL they run side by side on the pool.
    const [redactions, present, memberships] = await Promise.all([
      this.storage.rooms.redactionsOf(events.map((e) => e.event.event_id)),
      relationsPresent(this.storage, events, viewer),
      this.membershipsAt(events, viewer.userId),
    ]);
    const related = await this.storage.events.getEvents([
      ...redactions.values(),
      ...events.map((e) => e.replacesState).filter((id): id is string => id !== null),
    ]);
    const out: ClientEvent[] = [];
    for (const s of events) {
      const redactionId = redactions.get(s.event.event_id);
      const redaction = redactionId ? related.get(redactionId) : undefined;
      let ev: RoomEvent = s.event;
      const unsigned: JsonObject = { age: Math.max(0, this.now() - ev.origin_server_ts) };
      if (redaction) {
        const version = getRoomVersion((await this.storage.events.getRoom(ev.room_id))?.roomVersion ?? '');
        if (version) ev = redactEvent(ev, version);
        unsigned.redacted_because = this.plain(redaction, viewer) as unknown as JsonObject;
      }
      const replaced = s.replacesState ? related.get(s.replacesState) : undefined;
      if (replaced) {
        unsigned.replaces_state = replaced.event.event_id;
        unsigned.prev_content = redactions.has(replaced.event.event_id) ? {} : replaced.event.content;
        unsigned.prev_sender = replaced.event.sender;
      }
      if (s.txn && s.txn.userId === viewer.userId && s.txn.deviceId === viewer.deviceId) unsigned.transaction_id = txnIdOf(s.txn.txnId);
      const membership = memberships.get(s.nid);
      if (membership !== undefined) unsigned.membership = membership;
      out.push(this.shape(ev, unsigned));
    }
    // ---- bundled aggregations, unsigned["m.relations"] (services/rooms/relations.ts) ----
    await addBundledAggregations(this.storage, this, events, out, viewer, present);
    return out;
  }

  /**
   * spec: ClientEvent `unsigned.membership`: the viewer's membership in the state after each
   * event ("including any changes caused by the event"), `leave` before they had any. Events
   * without a state group (outliers) get none.
   */
  private async membershipsAt(events: StoredEvent[], userId: string): Promise<Map<number, string>> {
    const memberKey = stateKey('m.room.member', userId);
    const memberNidOfGroup = new Map<number, number | undefined>();
    for (const s of events) {
      if (s.stateGroup !== null && !memberNidOfGroup.has(s.stateGroup)) {
        memberNidOfGroup.set(s.stateGroup, (await this.storage.state.loadGroup(s.stateGroup)).get(memberKey));
      }
    }
    const members = await this.storage.events.getEventsByNid([...memberNidOfGroup.values()].filter((n): n is number => n !== undefined));
    const out = new Map<number, string>();
    for (const s of events) {
      if (s.stateGroup === null) continue;
      const nid = memberNidOfGroup.get(s.stateGroup);
      const m = nid === undefined ? undefined : members.get(nid)?.event.content.membership;
      out.set(s.nid, typeof m === 'string' ? m : 'leave');
    }
    return out;
  }

  /** A related event (e.g. the redaction in redacted_because), without looking further. */
  private plain(s: StoredEvent, viewer: Viewer): ClientEvent {
    const unsigned: JsonObject = { age: Math.max(0, this.now() - s.event.origin_server_ts) };
    if (s.txn && s.txn.userId === viewer.userId && s.txn.deviceId === viewer.deviceId) unsigned.transaction_id = txnIdOf(s.txn.txnId);
    return this.shape(s.event, unsigned);
  }

  private shape(ev: RoomEvent, unsigned: JsonObject): ClientEvent {
    const out: ClientEvent = {
      content: ev.content, event_id: ev.event_id, origin_server_ts: ev.origin_server_ts,
      room_id: ev.room_id, sender: ev.sender, type: ev.type, unsigned,
    };
    if (ev.state_key !== undefined) out.state_key = ev.state_key;
    // v11+ keep `redacts` in content; clients still read it top-level too (spec: rooms/v11 client considerations).
    const redacts = typeof ev.content.redacts === 'string' ? ev.content.redacts : ev.redacts;
    if (ev.type === 'm.room.redaction' && typeof redacts === 'string') out.redacts = redacts;
    return out;
  }
}

/**
 * A transaction ID is unique per device and per endpoint (spec: "Transaction identifiers"):
 * it is stored as `<length of scope>:<scope><txnId>`, and clients get their own txnId back.
 */
export function txnKey(scope: string, txnId: string): string {
  return `${scope.length}:${scope}${txnId}`;
}
export function txnIdOf(key: string): string {
  const colon = key.indexOf(':');
  return key.slice(colon + 1 + Number(key.slice(0, colon)));
}
