// The `ephemeral` events of joined rooms in /sync: m.typing and m.receipt.
// spec: client-server-api modules/typing_notifications, modules/receipts ("In /sync, receipts
// are listed under the ephemeral array of events for a given room")
import { matchesRoomEventFilter, type RoomEventFilter } from '../../core/filter.js';
import type { JsonObject } from '../../core/pdu.js';
import type { ReceiptService } from '../receipts.js';
import type { TypingService } from '../typing.js';

export interface EphemeralQuery {
  userId: string;
  /** Rooms the client knows: what changed after `since`. */
  known: readonly string[];
  /** Rooms new to the client (initial sync, newly joined): everything current. */
  fresh: readonly string[];
  since?: { typing: number; receipts: number };
  upTo: { receipts: number };
  filter?: RoomEventFilter;
}

export type EphemeralEvent = { type: string; content: JsonObject };

export async function ephemeralEvents(typing: TypingService, receipts: ReceiptService, q: EphemeralQuery): Promise<Map<string, EphemeralEvent[]>> {
  const out = new Map<string, EphemeralEvent[]>();
  const put = (roomId: string, ev: EphemeralEvent) => {
    if (!matchesRoomEventFilter(q.filter, { type: ev.type, room_id: roomId })) return;
    const list = out.get(roomId) ?? [];
    list.push(ev);
    out.set(roomId, list);
  };
  const known = q.since ? q.known : [];
  const fresh = q.since ? q.fresh : [...q.known, ...q.fresh];
  for (const roomId of fresh) if (typing.typingUsers(roomId).length) put(roomId, typing.typingEvent(roomId) as unknown as EphemeralEvent);
  if (q.since) for (const roomId of typing.changedRooms(known, q.since.typing)) put(roomId, typing.typingEvent(roomId) as unknown as EphemeralEvent);
  const receiptEvents = [
    ...(fresh.length ? await receipts.receiptEvents(q.userId, fresh, 0, q.upTo.receipts) : []),
    ...(q.since && known.length ? await receipts.receiptEvents(q.userId, known, q.since.receipts, q.upTo.receipts) : []),
  ];
  for (const [roomId, ev] of receiptEvents) put(roomId, ev as unknown as EphemeralEvent);
  return out;
}
