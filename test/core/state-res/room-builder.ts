// Builds room events for state resolution tests, fixtures and benchmarks: event IDs,
// room ID and references in the room version's format, auth_events chosen by the
// spec's "Auth events selection" from the state before the event.

import type { EventReference, JsonObject, PDU, RoomEvent, StateMap } from '../../../src/core/pdu.js';
import { stateKey } from '../../../src/core/pdu.js';
import type { RoomVersion } from '../../../src/core/room-versions.js';

export interface EventSpec {
  /** A short name; the event ID is derived from it. */
  name: string;
  sender: string;
  type: string;
  state_key?: string;
  content: JsonObject;
}

export class RoomBuilder {
  readonly events = new Map<string, RoomEvent>();
  /** The events as PDUs on the wire (v12 create: no room_id), in the order built. */
  readonly pdus: PDU[] = [];
  private built = 0;

  /** origin_server_ts is `startTs` + (events built so far / `eventsPerTick`), so ticks > 1 give ties. */
  constructor(
    readonly version: RoomVersion,
    readonly creator: string,
    private readonly startTs = 1_000,
    private readonly eventsPerTick = 1,
  ) {}

  eventId(name: string): string {
    return this.version.eventIdFormat === 'v1' ? `$${name}:example.com` : `$${name}`;
  }

  get roomId(): string {
    return this.version.roomIdIsCreateEventHash ? `!${this.eventId('CREATE').slice(1)}` : '!room:example.com';
  }

  /** spec: server-server-api "Auth events selection". */
  authEventsFor(spec: Pick<EventSpec, 'sender' | 'type' | 'state_key' | 'content'>, state: StateMap): string[] {
    if (spec.type === 'm.room.create') return [];
    const keys: Array<[string, string]> = [];
    if (this.version.createEventInAuthEvents) keys.push(['m.room.create', '']);
    keys.push(['m.room.power_levels', ''], ['m.room.member', spec.sender]);
    if (spec.type === 'm.room.member' && spec.state_key !== undefined) {
      keys.push(['m.room.member', spec.state_key]);
      const m = spec.content.membership;
      if (m === 'join' || m === 'invite' || m === 'knock') keys.push(['m.room.join_rules', '']);
    }
    const ids: string[] = [];
    for (const [t, k] of keys) {
      const id = state.get(stateKey(t, k));
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    return ids;
  }

  /**
   * Content as the room version wants it: the create event's creator field (v1–v10)
   * and room_version; v12 power levels without the creators in `users` (rooms/v12
   * auth rule 10.4).
   */
  contentFor(spec: EventSpec): JsonObject {
    if (spec.type === 'm.room.create') {
      return this.version.implicitRoomCreator
        ? { room_version: this.version.id, ...spec.content }
        : { creator: spec.sender, room_version: this.version.id, ...spec.content };
    }
    if (spec.type === 'm.room.power_levels' && this.version.privilegedCreators && spec.content.users) {
      const users = { ...(spec.content.users as JsonObject) };
      delete users[this.creator];
      return { ...spec.content, users };
    }
    return spec.content;
  }

  private ref(id: string): EventReference {
    return this.version.eventReferencesWithHashes ? [id, {}] : id;
  }

  /** Builds one event on top of `prevs` whose resolved state before it is `stateBefore`. */
  add(spec: EventSpec, prevs: readonly string[], stateBefore: StateMap, depth: number): RoomEvent {
    const id = this.eventId(spec.name);
    const pdu: PDU = {
      event_id: id,
      room_id: this.roomId,
      sender: spec.sender,
      origin: 'example.com',
      origin_server_ts: this.startTs + Math.floor(this.built++ / this.eventsPerTick),
      type: spec.type,
      ...(spec.state_key !== undefined ? { state_key: spec.state_key } : {}),
      content: this.contentFor(spec),
      prev_events: prevs.map((p) => this.ref(p)),
      auth_events: this.authEventsFor(spec, stateBefore).map((a) => this.ref(a)),
      depth,
      hashes: { sha256: '' },
      signatures: {},
    };
    const event: RoomEvent = { ...pdu, event_id: id, room_id: this.roomId };
    if (spec.type === 'm.room.create' && this.version.roomIdIsCreateEventHash) delete pdu.room_id;
    this.pdus.push(pdu);
    this.events.set(id, event);
    return event;
  }
}

/** The state after `event`, given the state before it. */
export function stateAfter(stateBefore: StateMap, event: RoomEvent): StateMap {
  const s = new Map(stateBefore);
  if (typeof event.state_key === 'string') s.set(stateKey(event.type, event.state_key), event.event_id);
  return s;
}
