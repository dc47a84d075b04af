// Per-user data: account data (global and per room, tags included) as a stream, custom
// profile fields, and OpenID tokens.
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const autoId = (name: string) => autoIdColumn(db, name);

  // The latest content of each (user, room, type); `room_id` is '' for global account data.
  // Every change replaces the row, so `stream_id` is the position of the latest change and
  // "changed since position P" is `stream_id > P`.
  await sql`CREATE TABLE account_data (
    ${autoId('stream_id')},
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    type TEXT NOT NULL,
    content TEXT NOT NULL,
    UNIQUE (user_id, room_id, type)
  )`.execute(db);
  await db.schema.createIndex('account_data_user_stream').on('account_data').columns(['user_id', 'stream_id']).execute();

  // Profile fields other than displayname and avatar_url (m.tz and custom keys); value is JSON.
  await db.schema.createTable('profile_fields')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('field', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('profile_fields_pk', ['user_id', 'field'])
    .execute();

  // Tokens from /user/{userId}/openid/request_token, kept as SHA-256 hashes.
  await db.schema.createTable('openid_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('expires_ts', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('openid_tokens_expiry').on('openid_tokens').column('expires_ts').execute();
}
