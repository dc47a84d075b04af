// Receipts and presence: per-user ephemeral data that /sync reads as streams.
// spec: client-server-api modules/receipts, modules/presence
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const autoId = (name: string) => autoIdColumn(db, name);

  // The latest receipt of each (room, receipt type, user, thread). `stream_id` is the row's
  // position in the receipts stream: a new receipt replaces the row, so the row gets a new
  // position. `thread_id` is '' for an unthreaded receipt. `event_nid` orders receipts so that
  // they only move forward.
  await sql`CREATE TABLE receipts (
    ${autoId('stream_id')},
    room_id TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_nid BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    UNIQUE (room_id, receipt_type, user_id, thread_id)
  )`.execute(db);
  await db.schema.createIndex('receipts_room_stream').on('receipts').columns(['room_id', 'stream_id']).execute();

  // Each user's presence as last changed. `stream_id` is the position of that change in the
  // presence stream (a change replaces the row). `last_active_ts` is written with each change
  // and at shutdown; between changes the server keeps it in memory.
  await sql`CREATE TABLE presence (
    ${autoId('stream_id')},
    user_id TEXT NOT NULL UNIQUE,
    presence TEXT NOT NULL,
    status_msg TEXT,
    last_active_ts BIGINT,
    currently_active INTEGER NOT NULL DEFAULT 0
  )`.execute(db);
  await db.schema.createIndex('presence_presence').on('presence').column('presence').execute();
}
