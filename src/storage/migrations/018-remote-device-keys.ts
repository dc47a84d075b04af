// A cache of other servers' users' keys (device keys, master and self-signing keys), as their
// servers last answered keys/query, for users we share a room with: their servers tell us of
// every change with m.device_list_update / m.signing_key_update, which marks the entry stale.
// A stale entry is refetched on the next query and still served when the server cannot be reached.
// spec: server-server-api "Device Management", "End-to-End Encryption"; client-server-api
// modules/end_to_end_encryption "Tracking the device list for a user"
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One row per cached user: the cross-signing keys (canonical JSON, NULL when the user has none)
  // and whether an update has arrived since the answer was stored.
  await db.schema.createTable('remote_key_cache')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('master_key', 'text')
    .addColumn('self_signing_key', 'text')
    .addColumn('stale', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('fetched_ts', 'bigint', (c) => c.notNull())
    .execute();
  // The cached user's devices, each as its server sent it (with `unsigned`).
  await db.schema.createTable('remote_device_keys')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('key_json', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('remote_device_keys_pk', ['user_id', 'device_id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE remote_device_keys`.execute(db);
  await sql`DROP TABLE remote_key_cache`.execute(db);
}
