// Rooms, events and their DAG, state snapshots as deltas over interned keys, current state,
// memberships, forward extremities and client transaction IDs.
import { sql, type Kysely } from 'kysely';
import { autoIdColumn, isPostgres } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = isPostgres(db);
  const autoId = (name: string) => autoIdColumn(db, name);

  await db.schema.createTable('rooms')
    .addColumn('room_id', 'text', (c) => c.primaryKey())
    .addColumn('room_version', 'text', (c) => c.notNull())
    .addColumn('creator', 'text', (c) => c.notNull())
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_ts', 'bigint', (c) => c.notNull())
    // The state after the room's forward extremities (resolved when there are several).
    .addColumn('current_state_group', 'bigint')
    // The events with no successor yet, as a JSON list: the prev_events of the next event.
    .addColumn('forward_extremities', 'text', (c) => c.notNull().defaultTo('[]'))
    .execute();

  // Every event the server knows. `nid` is its position in the room-events stream and the
  // integer that state snapshots refer to.
  await sql`CREATE TABLE events (
    ${autoId('nid')},
    event_id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state_key TEXT,
    sender TEXT NOT NULL,
    depth BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    json TEXT NOT NULL,
    outlier INTEGER NOT NULL DEFAULT 0,
    rejected_reason TEXT,
    soft_failed INTEGER NOT NULL DEFAULT 0,
    state_group BIGINT,
    replaces_state TEXT,
    txn_user_id TEXT,
    txn_device_id TEXT,
    txn_id TEXT
  )`.execute(db);
  await db.schema.createIndex('events_room_nid').on('events').columns(['room_id', 'nid']).execute();
  await db.schema.createIndex('events_room_ts').on('events').columns(['room_id', 'origin_server_ts']).execute();
  await db.schema.createIndex('events_txn').on('events').columns(['txn_user_id', 'txn_device_id', 'txn_id']).unique().execute();

  // prev_events edges, to find an event's children (auth_events are read from the event JSON).
  // On SQLite the primary key is the table (WITHOUT ROWID): one B-tree instead of two.
  let edges = db.schema.createTable('event_edges')
    .addColumn('event_nid', 'bigint', (c) => c.notNull())
    .addColumn('prev_event_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('event_edges_pk', ['event_nid', 'prev_event_id']);
  if (!postgres) edges = edges.modifyEnd(sql`WITHOUT ROWID`);
  await edges.execute();
  await db.schema.createIndex('event_edges_prev').on('event_edges').column('prev_event_id').execute();

  // (type, state_key) interned to integers.
  await sql`CREATE TABLE state_keys (
    ${autoId('id')},
    type TEXT NOT NULL,
    state_key TEXT NOT NULL,
    UNIQUE (type, state_key)
  )`.execute(db);

  // A state snapshot is its parent's snapshot plus the deltas of this group; a group without a
  // parent holds the whole state. `chain` counts the parents, to bound the cost of a lookup.
  await sql`CREATE TABLE state_groups (
    ${autoId('id')},
    room_id TEXT NOT NULL,
    parent BIGINT,
    chain INTEGER NOT NULL
  )`.execute(db);
  await db.schema.createTable('state_group_deltas')
    .addColumn('group_id', 'bigint', (c) => c.notNull())
    .addColumn('state_key_id', 'bigint', (c) => c.notNull())
    .addColumn('event_nid', 'bigint') // null: the key is absent from this snapshot
    .addPrimaryKeyConstraint('state_group_deltas_pk', ['group_id', 'state_key_id'])
    .execute();

  await db.schema.createTable('current_state')
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('state_key', 'text', (c) => c.notNull())
    .addColumn('event_nid', 'bigint', (c) => c.notNull())
    .addColumn('membership', 'text')
    .addPrimaryKeyConstraint('current_state_pk', ['room_id', 'type', 'state_key'])
    .execute();
  await db.schema.createIndex('current_state_members').on('current_state').columns(['type', 'state_key', 'membership']).execute();

  // The current membership of each user in each room, with the event that set it.
  await db.schema.createTable('memberships')
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('membership', 'text', (c) => c.notNull())
    .addColumn('event_nid', 'bigint', (c) => c.notNull())
    .addColumn('forgotten', 'integer', (c) => c.notNull().defaultTo(0))
    // The user's most recent join (history visibility "shared": they may read what came before it).
    .addColumn('last_join_nid', 'bigint')
    .addPrimaryKeyConstraint('memberships_pk', ['room_id', 'user_id'])
    .execute();
  await db.schema.createIndex('memberships_user').on('memberships').columns(['user_id', 'membership']).execute();

  await db.schema.createTable('redactions')
    .addColumn('redacts', 'text', (c) => c.notNull())
    .addColumn('redaction_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('redactions_pk', ['redacts', 'redaction_id'])
    .execute();

  await db.schema.createTable('room_aliases')
    .addColumn('alias', 'text', (c) => c.primaryKey())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('creator', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('room_aliases_room').on('room_aliases').column('room_id').execute();

  // Content reports from users (spec: "Reporting content"), for the server's operators.
  await sql`CREATE TABLE reports (
    ${autoId('id')},
    reporter TEXT NOT NULL,
    room_id TEXT,
    event_id TEXT,
    user_id TEXT,
    reason TEXT,
    score INTEGER,
    created_ts BIGINT NOT NULL
  )`.execute(db);
}
