// Bench-only (bench/search.ts): writes many plain messages straight into `events` and the search
// index, bypassing the event pipeline, so that a million indexed messages take minutes rather
// than hours. The messages are accepted, unsigned copies of an existing room's latest message
// state (same state group), good for searching and reading back, not for federation.
import { randomBytes } from 'node:crypto';
import type { RoomEvent } from '../core/pdu.js';
import type { Storage } from './index.js';

export interface BulkRoom { roomId: string; sender: string }

/** Appends `count` m.room.message events with bodies from `body(i)`, spread over `rooms` in turn. */
export async function bulkInsertMessages(storage: Storage, rooms: BulkRoom[], count: number, body: (i: number) => string,
  onProgress?: (done: number) => void): Promise<void> {
  const db = storage.database.db;
  // Each room continues from its latest event: same state group, next depth.
  const heads = await Promise.all(rooms.map(async (r) => {
    const last = await db.selectFrom('events').select(['event_id', 'depth', 'state_group', 'origin_server_ts'])
      .where('room_id', '=', r.roomId).orderBy('nid', 'desc').limit(1).executeTakeFirstOrThrow();
    return { ...r, prev: last.event_id, depth: Number(last.depth), stateGroup: last.state_group === null ? null : Number(last.state_group), ts: Number(last.origin_server_ts) };
  }));
  const CHUNK = 500;
  const PER_TX = 20_000;
  for (let start = 0; start < count; start += PER_TX) {
    await db.transaction().execute(async (tx) => {
      for (let i = start; i < Math.min(start + PER_TX, count); i += CHUNK) {
        const events: RoomEvent[] = [];
        const groups: Array<number | null> = [];
        for (let j = i; j < Math.min(i + CHUNK, count); j++) {
          const h = heads[j % heads.length];
          const eventId = `$${randomBytes(32).toString('base64url')}`;
          h.depth++;
          h.ts++;
          events.push({
            event_id: eventId, room_id: h.roomId, type: 'm.room.message', sender: h.sender, depth: h.depth, origin_server_ts: h.ts,
            content: { msgtype: 'm.text', body: body(j) }, prev_events: [h.prev], auth_events: [], hashes: { sha256: '' }, signatures: {},
          } as unknown as RoomEvent);
          groups.push(h.stateGroup);
          h.prev = eventId;
        }
        const inserted = await tx.insertInto('events').values(events.map((ev, k) => ({
          event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: null, sender: ev.sender, depth: ev.depth,
          origin_server_ts: ev.origin_server_ts, json: JSON.stringify(ev), outlier: 0, rejected_reason: null, soft_failed: 0,
          state_group: groups[k], replaces_state: null, txn_user_id: null, txn_device_id: null, txn_id: null,
        }))).returning(['nid', 'event_id']).execute();
        const nidOf = new Map(inserted.map((r) => [r.event_id, Number(r.nid)]));
        await storage.search.indexBulk(tx, events.map((ev) => ({ nid: nidOf.get(ev.event_id) as number, event: ev })));
      }
    });
    onProgress?.(Math.min(start + PER_TX, count));
  }
  // The rooms' extremities move to the new heads, so that later sends follow on.
  for (const h of heads) await db.updateTable('rooms').set({ forward_extremities: JSON.stringify([h.prev]) }).where('room_id', '=', h.roomId).execute();
}
