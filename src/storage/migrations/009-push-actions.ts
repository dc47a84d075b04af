// Push actions and unread notification counts.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read"
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = db.getExecutor().adapter.constructor.name.startsWith('Postgres');
  // Both tables are only ever read by their primary key: SQLite need not keep a rowid as well.
  const withoutRowid = postgres ? sql`` : sql` WITHOUT ROWID`;

  // One row per (user, event) that notified the user, written in the event's transaction.
  // `thread_id` is 'main' or the thread root's event ID; `actions` is the JSON array of the rule
  // that matched (for /notifications and pushers).
  await sql`CREATE TABLE event_push_actions (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_nid BIGINT NOT NULL,
    highlight INTEGER NOT NULL,
    actions TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id, event_nid)
  )${withoutRowid}`.execute(db);

  // Unread counts per (user, room, thread): the notifying events after `read_nid`. New events
  // add to the counts; when a read receipt moves past `read_nid`, the counts are recounted from
  // event_push_actions and `read_nid` moves up to the receipt.
  await sql`CREATE TABLE event_push_summary (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    notification_count BIGINT NOT NULL,
    highlight_count BIGINT NOT NULL,
    read_nid BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
  )${withoutRowid}`.execute(db);
}
