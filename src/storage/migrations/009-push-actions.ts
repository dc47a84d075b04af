// Push actions and unread notification counts.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read"
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = isPostgres(db);
  // These tables are only read by their primary key: SQLite need not keep a rowid as well.
  const withoutRowid = postgres ? sql`` : sql` WITHOUT ROWID`;

  // What an event did for the local members of its room, written in the event's transaction.
  // The row with user_id '' holds the outcome most of them got and applies to every local member
  // joined at the event except its sender; a member whose outcome differed has a row of their own
  // (notify 0 when they were not notified), as does a local user the event invited. So an event
  // in a room of a thousand costs one row, plus one per mention, and the rows of an event sit
  // together. `thread_id` is 'main' or the thread root's event ID; `actions` is the JSON array of
  // the rule that matched (for /notifications and pushers).
  await sql`CREATE TABLE event_push_actions (
    room_id TEXT NOT NULL,
    event_nid BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    notify INTEGER NOT NULL,
    highlight INTEGER NOT NULL,
    actions TEXT NOT NULL,
    PRIMARY KEY (room_id, event_nid, user_id)
  )${withoutRowid}`.execute(db);

  // Where a local member has read up to without a receipt, written in the event's transaction:
  // thread_id '' is where they last joined the room (nothing before counts for them), any other
  // thread_id is their latest own event in that thread (spec: notifications are marked read "by
  // sending an event").
  await sql`CREATE TABLE event_push_read (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    read_nid BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, thread_id)
  )${withoutRowid}`.execute(db);

  // A read-side cache of each member's unread counts: `counts` is JSON { thread: [notifications,
  // highlights, read position used] } over the rows up to `counted_nid`. Rewritten whole by
  // whoever counts, so it is always one consistent snapshot; new rows and moved read positions
  // are applied on the next read.
  await sql`CREATE TABLE event_push_summary (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    counted_nid BIGINT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
  )${withoutRowid}`.execute(db);
}
