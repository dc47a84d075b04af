// The device-list position of each cached remote user (remote_key_cache, migration 018): the
// `stream_id` of the last m.device_list_update their server sent us for them. An update whose
// `prev_id` names it is applied to the cached devices directly; any other makes the entry stale.
// spec: server-server-api "Device Management"
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // NULL: no update seen since the entry was stored (a keys/query answer carries no stream_id).
  await db.schema.alterTable('remote_key_cache').addColumn('device_list_stream_id', 'bigint').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('remote_key_cache').dropColumn('device_list_stream_id').execute();
}
