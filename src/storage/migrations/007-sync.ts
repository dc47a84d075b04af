// What /sync stores: the filters clients upload, and an index over each user's membership
// events so that a sync can tell how their memberships changed between two positions.
// spec: client-server-api "Filtering", "Syncing"
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const autoId = (name: string) => autoIdColumn(db, name);

  // Filters as uploaded (POST /user/{userId}/filter). `filter_hash` is the SHA-256 of the JSON,
  // so that a client uploading the same filter at every start gets the same ID back.
  await sql`CREATE TABLE filters (
    ${autoId('filter_id')},
    user_id TEXT NOT NULL,
    filter_hash TEXT NOT NULL,
    filter_json TEXT NOT NULL,
    UNIQUE (user_id, filter_hash)
  )`.execute(db);

  // A user's membership events in stream order, across rooms. Partial: messages, the bulk of
  // the events table, are not in it. Queries must say `type = 'm.room.member'` literally.
  await sql`CREATE INDEX events_member_history ON events (state_key, nid) WHERE type = 'm.room.member'`.execute(db);
}
