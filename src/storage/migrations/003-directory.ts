// The published room directory: an index over the few rooms that are published, so listing
// them does not scan every room.
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // A partial index; SQLite and PostgreSQL both support them.
  await sql`CREATE INDEX rooms_published ON rooms (room_id) WHERE is_public = 1`.execute(db);
}
