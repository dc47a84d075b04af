// To-device messages waiting for their devices, as a stream: each message has a position, a
// device reads the ones after the position it acknowledged, and acknowledging deletes them.
// spec: client-server-api modules/send_to_device "Server behaviour"
import type { JsonObject } from '../core/pdu.js';
import type { DB } from './database.js';
import { streamHighWater } from './stream-position.js';

export interface ToDeviceMessage { userId: string; deviceId: string; content: string }

/** A to-device event as /sync delivers it. */
export interface ToDeviceEvent { sender: string; type: string; content: JsonObject }

export interface ToDeviceTxn { userId: string; deviceId: string; eventType: string; txnId: string; now: number }

export class ToDeviceStore {
  constructor(private readonly db: DB) {}

  /**
   * Stores the messages of one sendToDevice request, unless its transaction was seen before.
   * Returns the position of the last message stored, 0 when there was none, or undefined for a
   * repeated transaction (which stores nothing).
   */
  async send(txn: ToDeviceTxn, sender: string, type: string, messages: readonly ToDeviceMessage[]): Promise<number | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const claimed = await tx.insertInto('to_device_txns')
        .values({ user_id: txn.userId, device_id: txn.deviceId, event_type: txn.eventType, txn_id: txn.txnId, created_ts: txn.now })
        .onConflict((oc) => oc.columns(['user_id', 'device_id', 'event_type', 'txn_id']).doNothing())
        .executeTakeFirst();
      if (Number(claimed.numInsertedOrUpdatedRows ?? 0) === 0) return undefined;
      let last = 0;
      for (const m of messages) {
        const r = await tx.insertInto('to_device_messages')
          .values({ user_id: m.userId, device_id: m.deviceId, sender, type, content: m.content })
          .returning('stream_id').executeTakeFirstOrThrow();
        last = Number(r.stream_id);
      }
      return last;
    });
  }

  /** Messages for a device in (from, to], oldest first, at most `limit`, with their positions. */
  async pending(userId: string, deviceId: string, from: number, to: number, limit: number): Promise<Array<{ position: number; event: ToDeviceEvent }>> {
    const rows = await this.db.selectFrom('to_device_messages').select(['stream_id', 'sender', 'type', 'content'])
      .where('user_id', '=', userId).where('device_id', '=', deviceId)
      .where('stream_id', '>', from).where('stream_id', '<=', to)
      .orderBy('stream_id').limit(limit).execute();
    return rows.map((r) => ({ position: Number(r.stream_id), event: { sender: r.sender, type: r.type, content: JSON.parse(r.content) as JsonObject } }));
  }

  /** Deletes a device's messages up to and including `upTo`. */
  async deleteUpTo(userId: string, deviceId: string, upTo: number): Promise<void> {
    await this.db.deleteFrom('to_device_messages')
      .where('user_id', '=', userId).where('device_id', '=', deviceId).where('stream_id', '<=', upTo).execute();
  }

  async deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('to_device_messages').where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
      await tx.deleteFrom('to_device_txns').where('user_id', '=', userId).where('device_id', 'in', deviceIds).execute();
    });
  }

  /** Forgets transaction IDs older than `before`: a retry comes within minutes, not days. */
  async deleteTxnsBefore(before: number): Promise<void> {
    await this.db.deleteFrom('to_device_txns').where('created_ts', '<', before).execute();
  }

  highWater(): Promise<number> {
    return streamHighWater(this.db, 'to_device_messages', 'stream_id');
  }
}
