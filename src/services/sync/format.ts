// Room events as /sync sends them: ClientEventWithoutRoomID (the room is the key they sit
// under), or with `event_format: federation` the event as servers exchange it; then only the
// `event_fields` the filter asks for.
// spec: client-server-api GET /sync (timeline_batch: ClientEventWithoutRoomID), Filter
// `event_format`, `event_fields`
import { applyEventFields, type Filter } from '../../core/filter.js';
import { redactEvent, toFederationPdu } from '../../core/events.js';
import type { JsonObject } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { EventFormatter, Viewer } from '../rooms/format.js';

/** Formats events of any rooms at once; returns them by nid. */
export async function shapeEvents(storage: Storage, formatter: EventFormatter, events: StoredEvent[], viewer: Viewer, filter: Filter): Promise<Map<number, JsonObject>> {
  const out = new Map<number, JsonObject>();
  if (events.length === 0) return out;
  const client = await formatter.format(events, viewer);
  for (let i = 0; i < events.length; i++) {
    const c = client[i];
    let shaped: JsonObject;
    if (filter.event_format === 'federation') {
      const version = getRoomVersion((await storage.events.getRoom(events[i].event.room_id))?.roomVersion ?? '');
      const raw = version && c.unsigned.redacted_because !== undefined ? redactEvent(events[i].event, version) : events[i].event;
      shaped = { ...(version ? toFederationPdu(raw, version) : raw), unsigned: c.unsigned } as unknown as JsonObject;
    } else {
      const { room_id: _roomId, ...rest } = c;
      shaped = rest as unknown as JsonObject;
    }
    out.set(events[i].nid, filter.event_fields ? applyEventFields(shaped, filter.event_fields) as JsonObject : shaped);
  }
  return out;
}
