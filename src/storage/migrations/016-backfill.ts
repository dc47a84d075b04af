// Backfill: events fetched from other servers' history (GET /backfill) take timeline positions
// *below* every event of the room-events stream, as Synapse's negative stream orderings do, so
// that /messages pages back into them while /sync (which reads positions upwards) never sees
// them as new. `backfill_pos` is that position (negative, decreasing as history goes back); it
// is NULL for every other event, whose position is its nid. A backfilled event new to us also
// gets a negative nid; one held before as an outlier keeps its nid.
// spec: server-server-api "Backfilling and retrieving missing events"
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE events ADD COLUMN backfill_pos BIGINT`.execute(db);
  // Partial: only backfilled rows pay for it.
  await sql`CREATE INDEX events_room_backfill ON events (room_id, backfill_pos) WHERE backfill_pos IS NOT NULL`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX events_room_backfill`.execute(db);
  await sql`ALTER TABLE events DROP COLUMN backfill_pos`.execute(db);
}
