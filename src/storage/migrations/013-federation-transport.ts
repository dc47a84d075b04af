// Federation transport: the keys of other servers, the outbound queue, inbound transaction IDs
// and the retry state of each destination.
// spec: server-server-api "Retrieving server keys", "Transactions"
import { sql, type Kysely } from 'kysely';
import { autoIdColumn } from './dialect.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // Every verify key of another server we have seen, never deleted (old events stay checkable).
  // `valid_until_ts` is the lesser of the response's valid_until_ts and 7 days after fetching;
  // `expired_ts` is set for keys listed in old_verify_keys.
  await sql`CREATE TABLE server_keys (
    server_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    verify_key TEXT NOT NULL,
    valid_until_ts BIGINT,
    expired_ts BIGINT,
    fetched_ts BIGINT NOT NULL,
    PRIMARY KEY (server_name, key_id)
  )`.execute(db);

  // The latest self-signed /_matrix/key/v2/server response of each server, as received: served
  // again (with our signature added) by the notary endpoint /_matrix/key/v2/query.
  await sql`CREATE TABLE server_key_responses (
    server_name TEXT PRIMARY KEY,
    response_json TEXT NOT NULL,
    valid_until_ts BIGINT NOT NULL,
    fetched_ts BIGINT NOT NULL
  )`.execute(db);

  // PDUs and EDUs waiting to be sent, per destination, in order; deleted once a transaction
  // holding them was accepted. `kind` is 'pdu' or 'edu'.
  await sql`CREATE TABLE federation_outbox (
    ${autoIdColumn(db, 'id')},
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    created_ts BIGINT NOT NULL
  )`.execute(db);
  await db.schema.createIndex('federation_outbox_destination').on('federation_outbox').columns(['destination', 'id']).execute();

  // Transactions received, with the response given, so that a retried transaction is answered
  // the same way without being processed twice.
  await sql`CREATE TABLE federation_inbound_txns (
    origin TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    response_json TEXT NOT NULL,
    received_ts BIGINT NOT NULL,
    PRIMARY KEY (origin, txn_id)
  )`.execute(db);

  // Destinations that failed: how many times in a row, and when to try again.
  await sql`CREATE TABLE federation_destinations (
    destination TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    retry_after_ts BIGINT NOT NULL,
    last_failure_ts BIGINT NOT NULL
  )`.execute(db);
}
