// Event relationships (m.relates_to) and the threads they form.
// spec: client-server-api "Forming relationships between events", modules/threading
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One row per accepted event whose content carries a well-formed m.relates_to with a
  // rel_type. Written in the same transaction as the event; deleted when the event is redacted
  // (redaction strips m.relates_to, which breaks the relationship).
  await db.schema.createTable('event_relations')
    .addColumn('event_nid', 'bigint', (c) => c.primaryKey())
    .addColumn('event_id', 'text', (c) => c.notNull().unique())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('relates_to', 'text', (c) => c.notNull())
    .addColumn('rel_type', 'text', (c) => c.notNull())
    // The child event's own type and sender, for /relations/{relType}/{eventType} and edits.
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('sender', 'text', (c) => c.notNull())
    // The thread the child belongs to: its parent for m.thread, else its parent's thread.
    .addColumn('thread_root', 'text')
    .execute();
  await db.schema.createIndex('event_relations_parent').on('event_relations').columns(['relates_to', 'rel_type', 'event_nid']).execute();
  // "Threads I participated in" and current_user_participated look replies up by sender.
  await db.schema.createIndex('event_relations_sender').on('event_relations').columns(['sender', 'rel_type', 'relates_to']).execute();

  // One row per thread root, with the newest event in the thread: /threads orders by it.
  await db.schema.createTable('threads')
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('thread_root', 'text', (c) => c.notNull())
    .addColumn('latest_nid', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('threads_pk', ['room_id', 'thread_root'])
    .execute();
  await db.schema.createIndex('threads_latest').on('threads').columns(['room_id', 'latest_nid']).execute();
}
