// Federation transport state: other servers' keys, the outbound queue, inbound transaction IDs
// and destinations' retry state (migration 013).
import type { DB } from './database.js';

export interface StoredServerKey {
  serverName: string;
  keyId: string;
  key: string;
  validUntilTs: number | null;
  expiredTs: number | null;
}

export interface OutboxItem { id: number; kind: 'pdu' | 'edu'; json: string; createdTs: number }

export interface DestinationRetry { failures: number; retryAfterTs: number }

export class FederationStore {
  constructor(private readonly db: DB) {}

  // ---- server keys ----

  async serverKeys(serverName: string): Promise<StoredServerKey[]> {
    const rows = await this.db.selectFrom('server_keys').selectAll().where('server_name', '=', serverName).execute();
    return rows.map((r) => ({ serverName: r.server_name, keyId: r.key_id, key: r.verify_key, validUntilTs: r.valid_until_ts, expiredTs: r.expired_ts }));
  }

  /** Stores a server's keys and the response they came in, in one transaction. */
  async storeKeyResponse(serverName: string, responseJson: string, validUntilTs: number, keys: StoredServerKey[], now: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      for (const k of keys) {
        await tx.insertInto('server_keys').values({
          server_name: k.serverName, key_id: k.keyId, verify_key: k.key, valid_until_ts: k.validUntilTs, expired_ts: k.expiredTs, fetched_ts: now,
        }).onConflict((oc) => oc.columns(['server_name', 'key_id']).doUpdateSet({
          verify_key: k.key, valid_until_ts: k.validUntilTs, expired_ts: k.expiredTs, fetched_ts: now,
        })).execute();
      }
      await tx.insertInto('server_key_responses').values({ server_name: serverName, response_json: responseJson, valid_until_ts: validUntilTs, fetched_ts: now })
        .onConflict((oc) => oc.column('server_name').doUpdateSet({ response_json: responseJson, valid_until_ts: validUntilTs, fetched_ts: now }))
        .execute();
    });
  }

  async keyResponse(serverName: string): Promise<{ json: string; validUntilTs: number } | undefined> {
    const r = await this.db.selectFrom('server_key_responses').select(['response_json', 'valid_until_ts']).where('server_name', '=', serverName).executeTakeFirst();
    return r ? { json: r.response_json, validUntilTs: r.valid_until_ts } : undefined;
  }

  // ---- outbound queue ----

  async enqueue(items: Array<{ destination: string; kind: 'pdu' | 'edu'; json: string }>, now: number): Promise<void> {
    if (items.length === 0) return;
    await this.db.insertInto('federation_outbox').values(items.map((i) => ({ ...i, created_ts: now }))).execute();
  }

  /** The oldest queued items of a destination: at most `pdus` PDUs and `edus` EDUs. */
  async nextBatch(destination: string, pdus: number, edus: number): Promise<OutboxItem[]> {
    const read = (kind: 'pdu' | 'edu', limit: number) => this.db.selectFrom('federation_outbox').select(['id', 'kind', 'json', 'created_ts'])
      .where('destination', '=', destination).where('kind', '=', kind).orderBy('id').limit(limit).execute();
    const [p, e] = await Promise.all([read('pdu', pdus), read('edu', edus)]);
    return [...p, ...e].map((r) => ({ id: Number(r.id), kind: r.kind as 'pdu' | 'edu', json: r.json, createdTs: r.created_ts }));
  }

  async dequeue(ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      await this.db.deleteFrom('federation_outbox').where('id', 'in', ids.slice(i, i + 500)).execute();
    }
  }

  /** Destinations with queued items (to resume sending after a restart). */
  async queuedDestinations(): Promise<string[]> {
    const rows = await this.db.selectFrom('federation_outbox').select('destination').distinct().execute();
    return rows.map((r) => r.destination);
  }

  async queuedCount(destination: string): Promise<number> {
    const r = await this.db.selectFrom('federation_outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('destination', '=', destination).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  // ---- destinations' retry state ----

  async retryState(destination: string): Promise<DestinationRetry | undefined> {
    const r = await this.db.selectFrom('federation_destinations').select(['failures', 'retry_after_ts']).where('destination', '=', destination).executeTakeFirst();
    return r ? { failures: r.failures, retryAfterTs: r.retry_after_ts } : undefined;
  }

  async allRetryStates(): Promise<Map<string, DestinationRetry>> {
    const rows = await this.db.selectFrom('federation_destinations').selectAll().execute();
    return new Map(rows.map((r) => [r.destination, { failures: r.failures, retryAfterTs: r.retry_after_ts }]));
  }

  async setRetryState(destination: string, state: DestinationRetry, now: number): Promise<void> {
    await this.db.insertInto('federation_destinations').values({ destination, failures: state.failures, retry_after_ts: state.retryAfterTs, last_failure_ts: now })
      .onConflict((oc) => oc.column('destination').doUpdateSet({ failures: state.failures, retry_after_ts: state.retryAfterTs, last_failure_ts: now }))
      .execute();
  }

  async clearRetryState(destination: string): Promise<void> {
    await this.db.deleteFrom('federation_destinations').where('destination', '=', destination).execute();
  }

  // ---- inbound transactions ----

  async inboundTxnResponse(origin: string, txnId: string): Promise<string | undefined> {
    const r = await this.db.selectFrom('federation_inbound_txns').select('response_json').where('origin', '=', origin).where('txn_id', '=', txnId).executeTakeFirst();
    return r?.response_json;
  }

  async storeInboundTxn(origin: string, txnId: string, responseJson: string, now: number): Promise<void> {
    await this.db.insertInto('federation_inbound_txns').values({ origin, txn_id: txnId, response_json: responseJson, received_ts: now })
      .onConflict((oc) => oc.columns(['origin', 'txn_id']).doNothing()).execute();
  }

  /** Forgets transactions received before `before` (a sender retries for minutes, not days). */
  async pruneInboundTxns(before: number): Promise<void> {
    await this.db.deleteFrom('federation_inbound_txns').where('received_ts', '<', before).execute();
  }
}
