// End-to-end encryption: device keys, one-time and fallback keys, cross-signing keys and the
// signatures on them, the device-list and to-device streams, and server-side key backups.
// spec: client-server-api modules/end_to_end_encryption, modules/send_to_device
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const autoId = (name: string) => autoIdColumn(db, name);

  // A device's identity keys as uploaded, with the device's own signature only: signatures by
  // the owner's self-signing key live in e2e_key_signatures.
  await db.schema.createTable('e2e_device_keys')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('key_json', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('e2e_device_keys_pk', ['user_id', 'device_id'])
    .execute();

  // Unclaimed one-time keys. `id` orders them by upload (spec: keys/claim hands them out "in the
  // order that they were uploaded"); a claim deletes the row it returns.
  await sql`CREATE TABLE e2e_one_time_keys (
    ${autoId('id')},
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    UNIQUE (user_id, device_id, algorithm, key_id)
  )`.execute(db);
  await db.schema.createIndex('e2e_one_time_keys_claim').on('e2e_one_time_keys').columns(['user_id', 'device_id', 'algorithm', 'id']).execute();

  // At most one fallback key per algorithm and device; `used` once a claim has handed it out.
  await db.schema.createTable('e2e_fallback_keys')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('key_json', 'text', (c) => c.notNull())
    .addColumn('used', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('e2e_fallback_keys_pk', ['user_id', 'device_id', 'algorithm'])
    .execute();

  // The current master, self-signing and user-signing key of each user, as uploaded.
  await db.schema.createTable('e2e_cross_signing_keys')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('key_type', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('key_json', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('e2e_cross_signing_keys_pk', ['user_id', 'key_type'])
    .execute();

  // Signatures from keys/signatures/upload. The target is a device (target_key_id = device ID)
  // or a cross-signing key (target_key_id = its public key): the spec keeps the two apart.
  // The signer is kept so that keys/query can hide signatures others may not see.
  await db.schema.createTable('e2e_key_signatures')
    .addColumn('target_user_id', 'text', (c) => c.notNull())
    .addColumn('target_key_id', 'text', (c) => c.notNull())
    .addColumn('signer_user_id', 'text', (c) => c.notNull())
    .addColumn('signer_key_id', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('e2e_key_signatures_pk', ['target_user_id', 'target_key_id', 'signer_user_id', 'signer_key_id'])
    .execute();

  // The device-list stream. kind 'keys': `user_id`'s devices or cross-signing keys changed
  // (seen by everyone sharing a room with them, or only by `audience` when set); kind 'join' /
  // 'leave': `user_id` joined or left `room_id`, which changes who shares a room with whom.
  await sql`CREATE TABLE device_list_changes (
    ${autoId('stream_id')},
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    device_id TEXT,
    room_id TEXT,
    audience TEXT
  )`.execute(db);

  // To-device messages waiting for their device; deleted once the device acknowledges them.
  await sql`CREATE TABLE to_device_messages (
    ${autoId('stream_id')},
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL
  )`.execute(db);
  await db.schema.createIndex('to_device_messages_device').on('to_device_messages').columns(['user_id', 'device_id', 'stream_id']).execute();

  // sendToDevice transaction IDs already handled, per sending device and event type (the path).
  await db.schema.createTable('to_device_txns')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('txn_id', 'text', (c) => c.notNull())
    .addColumn('created_ts', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('to_device_txns_pk', ['user_id', 'device_id', 'event_type', 'txn_id'])
    .execute();
  await db.schema.createIndex('to_device_txns_created').on('to_device_txns').column('created_ts').execute();

  // Key backup versions; `deleted` ones stay so that their numbers are never reused and a second
  // DELETE succeeds. `etag` counts the changes to the version's keys.
  await db.schema.createTable('e2e_room_keys_versions')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('algorithm', 'text', (c) => c.notNull())
    .addColumn('auth_data', 'text', (c) => c.notNull())
    .addColumn('etag', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('e2e_room_keys_versions_pk', ['user_id', 'version'])
    .execute();

  await db.schema.createTable('e2e_room_keys')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('room_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('first_message_index', 'bigint', (c) => c.notNull())
    .addColumn('forwarded_count', 'bigint', (c) => c.notNull())
    .addColumn('is_verified', 'integer', (c) => c.notNull())
    .addColumn('session_data', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('e2e_room_keys_pk', ['user_id', 'version', 'room_id', 'session_id'])
    .execute();
}
