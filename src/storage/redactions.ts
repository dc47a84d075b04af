// Which event a redaction redacts. spec: client-server-api "Redactions"; rooms/v11 (redacts in content)
import type { RoomEvent } from '../core/pdu.js';
import type { Tx } from './database.js';

/**
 * The event a redaction takes effect on: its target, unless the target is an event of another
 * room (a redaction only ever applies within its room; a remote server with the power to redact
 * in one room must not reach into another). A target not stored yet counts: it may arrive later
 * over federation, and readers check the rooms match then (RoomStore.redactionsOf).
 */
export async function redactionTarget(tx: Tx, redaction: RoomEvent): Promise<string | undefined> {
  if (redaction.type !== 'm.room.redaction') return undefined;
  const r = typeof redaction.content.redacts === 'string' ? redaction.content.redacts : redaction.redacts;
  const target = typeof r === 'string' ? r : undefined;
  if (target === undefined) return undefined;
  const stored = await tx.selectFrom('events').select('room_id').where('event_id', '=', target).executeTakeFirst();
  return stored === undefined || stored.room_id === redaction.room_id ? target : undefined;
}
