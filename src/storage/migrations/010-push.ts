// Pushers. (Push rules need no table: they live in the `m.push_rules` account data.)
// spec: client-server-api modules/push "Pushers"; data/api/client-server/pusher.yaml
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One pusher per (user, app_id, pushkey) (spec: POST /pushers/set). device_id is the device
  // whose access token set it: deleting the device deletes its pushers. pushkey_ts is when the
  // pushkey was last set (the Push Gateway API's `pushkey_ts`, in ms here, seconds on the wire).
  await sql`CREATE TABLE pushers (
    ${autoIdColumn(db, 'id')},
    user_id TEXT NOT NULL,
    device_id TEXT,
    kind TEXT NOT NULL,
    app_id TEXT NOT NULL,
    pushkey TEXT NOT NULL,
    pushkey_ts BIGINT NOT NULL,
    app_display_name TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag TEXT,
    lang TEXT NOT NULL,
    data TEXT NOT NULL
  )`.execute(db);
  await sql`CREATE UNIQUE INDEX pushers_user_app_pushkey ON pushers (user_id, app_id, pushkey)`.execute(db);
  // Other users' pushers with the same app_id and pushkey are removed unless `append` (spec).
  await sql`CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey)`.execute(db);
}
