// The outbound federation queue: PDUs and EDUs per destination, persisted (federation_outbox) so
// that pending work survives a restart, sent in transactions of at most 50 PDUs and 100 EDUs, one
// transaction in flight per destination, retried with the same transaction ID and exponential
// backoff. A destination that keeps failing is "down": nothing is sent to it until its backoff
// ends or it contacts us (then it is tried at once).
// spec: server-server-api "Transactions"
import type { Logger } from 'pino';
import { isValidServerName } from '../../core/identifiers.js';
import type { FederationStore, OutboxItem } from '../../storage/federation.js';
import { FederationRequestError, RESPONSE_LIMITS, type FederationClient } from './client.js';

/** spec: "Transactions are limited in size; they can have at most 50 PDUs and 100 EDUs." */
export const MAX_PDUS_PER_TXN = 50;
export const MAX_EDUS_PER_TXN = 100;

export interface Edu { edu_type: string; content: Record<string, unknown> }

/** A typing notification older than this is dropped rather than sent late (a remote user's typing lasts 30 s there). */
const STALE_TYPING_MS = 30_000;

export interface FederationSenderOptions {
  serverName: string;
  store: FederationStore;
  client: FederationClient;
  log: Logger;
  /** First retry delay after a failure; doubles with each failure in a row. */
  backoffBaseMs: number;
  /** Longest retry delay. */
  backoffMaxMs: number;
  /** How long one transaction may take. */
  requestTimeoutMs?: number;
  now?: () => number;
}

interface InFlight { txnId: string; ids: number[]; body: Record<string, unknown> }

interface DestinationState {
  failures: number;
  retryAfterTs: number;
  timer?: NodeJS.Timeout;
  running: boolean;
  /** More work arrived while sending: look at the queue again before stopping. */
  again: boolean;
  /** The transaction that failed last, to be retried as it was (same ID, same content). */
  inFlight?: InFlight;
}

export class FederationSender {
  private readonly now: () => number;
  private readonly destinations = new Map<string, DestinationState>();
  /** Writes to the outbox, chained so that items keep their order. */
  private writes: Promise<void> = Promise.resolve();
  private readonly loops = new Set<Promise<void>>();
  private txnCounter = 0;
  private readonly txnPrefix: string;
  private closed = false;

  constructor(private readonly opts: FederationSenderOptions) {
    this.now = opts.now ?? Date.now;
    this.txnPrefix = String(this.now());
  }

  /** Resumes sending what was queued before a restart, respecting each destination's backoff. */
  async start(): Promise<void> {
    for (const [destination, retry] of await this.opts.store.allRetryStates()) {
      this.state(destination).failures = retry.failures;
      this.state(destination).retryAfterTs = retry.retryAfterTs;
    }
    for (const destination of await this.opts.store.queuedDestinations()) this.wake(destination);
  }

  /** Queues a PDU (federation format) for these destinations (our own server skipped). */
  sendPdu(pdu: Record<string, unknown>, destinations: Iterable<string>): void {
    const json = JSON.stringify(pdu);
    this.enqueue([...new Set(destinations)].map((destination) => ({ destination, kind: 'pdu' as const, json })));
  }

  sendEdu(destination: string, edu: Edu): void {
    this.enqueue([{ destination, kind: 'edu', json: JSON.stringify(edu) }]);
  }

  /** A destination contacted us: it is up, so its backoff ends now. */
  onRemoteContact(destination: string): void {
    const s = this.destinations.get(destination);
    if (s === undefined || s.failures === 0) return;
    s.failures = 0;
    s.retryAfterTs = 0;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    this.opts.store.clearRetryState(destination).catch((err: unknown) => this.opts.log.error({ err }, 'federation retry state update failed'));
    this.wake(destination);
  }

  /** Whether we currently hold off sending to `destination` after failures. */
  isBackingOff(destination: string): boolean {
    const s = this.destinations.get(destination);
    return s !== undefined && s.retryAfterTs > this.now();
  }

  /** Waits for queued writes and running transactions (tests, shutdown). */
  async flush(): Promise<void> {
    await this.writes;
    while (this.loops.size > 0) await Promise.all([...this.loops]);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.destinations.values()) if (s.timer) clearTimeout(s.timer);
    await this.writes;
    await Promise.all([...this.loops]);
  }

  private enqueue(items: Array<{ destination: string; kind: 'pdu' | 'edu'; json: string }>): void {
    const wanted = items.filter((i) => i.destination !== this.opts.serverName && isValidServerName(i.destination));
    if (wanted.length === 0 || this.closed) return;
    this.writes = this.writes.then(async () => {
      try {
        await this.opts.store.enqueue(wanted, this.now());
      } catch (err) {
        this.opts.log.error({ err }, 'queueing federation items failed');
        return;
      }
      for (const d of new Set(wanted.map((i) => i.destination))) this.wake(d);
    });
  }

  private state(destination: string): DestinationState {
    let s = this.destinations.get(destination);
    if (s === undefined) {
      s = { failures: 0, retryAfterTs: 0, running: false, again: false };
      this.destinations.set(destination, s);
    }
    return s;
  }

  private wake(destination: string): void {
    if (this.closed) return;
    const s = this.state(destination);
    if (s.running) {
      s.again = true;
      return;
    }
    const wait = s.retryAfterTs - this.now();
    if (wait > 0) {
      // Down: try again when the backoff ends (or sooner, if it contacts us).
      if (s.timer === undefined) s.timer = setTimeout(() => { s.timer = undefined; this.wake(destination); }, wait);
      return;
    }
    s.running = true;
    const loop = this.run(destination, s).finally(() => {
      s.running = false;
      this.loops.delete(loop);
    });
    this.loops.add(loop);
  }

  private async run(destination: string, s: DestinationState): Promise<void> {
    try {
      for (;;) {
        s.again = false;
        const txn = s.inFlight ?? await this.nextTransaction(destination);
        if (txn === undefined) {
          if (s.again && !this.closed) continue;
          return;
        }
        s.inFlight = txn;
        const outcome = await this.transmit(destination, txn);
        if (outcome === 'retry') {
          await this.failed(destination, s);
          return;
        }
        s.inFlight = undefined;
        await this.opts.store.dequeue(txn.ids);
        if (s.failures > 0) {
          s.failures = 0;
          s.retryAfterTs = 0;
          await this.opts.store.clearRetryState(destination);
        }
        if (this.closed) return;
      }
    } catch (err) {
      this.opts.log.error({ err, destination }, 'federation sender failed');
    }
  }

  private async nextTransaction(destination: string): Promise<InFlight | undefined> {
    const items: OutboxItem[] = await this.opts.store.nextBatch(destination, MAX_PDUS_PER_TXN, MAX_EDUS_PER_TXN);
    if (items.length === 0) return undefined;
    const pdus = items.filter((i) => i.kind === 'pdu').map((i) => JSON.parse(i.json) as unknown);
    // Typing that waited out a destination's downtime is over by now: it goes out of the queue unsent.
    const staleBefore = this.now() - STALE_TYPING_MS;
    const edus: Edu[] = [];
    for (const i of items) {
      if (i.kind !== 'edu') continue;
      const edu = JSON.parse(i.json) as Edu;
      if (edu.edu_type === 'm.typing' && i.createdTs < staleBefore) continue;
      edus.push(edu);
    }
    if (pdus.length === 0 && edus.length === 0) {
      await this.opts.store.dequeue(items.map((i) => i.id));
      return this.nextTransaction(destination);
    }
    const body: Record<string, unknown> = { origin: this.opts.serverName, origin_server_ts: this.now(), pdus };
    if (edus.length > 0) body.edus = edus;
    return { txnId: `${this.txnPrefix}_${++this.txnCounter}`, ids: items.map((i) => i.id), body };
  }

  /** 'done' when the destination took the transaction (or refused it for good), 'retry' otherwise. */
  private async transmit(destination: string, txn: InFlight): Promise<'done' | 'retry'> {
    try {
      const response = await this.opts.client.request<{ pdus?: Record<string, { error?: string }> }>(destination, 'PUT',
        `/_matrix/federation/v1/send/${encodeURIComponent(txn.txnId)}`, { body: txn.body, timeoutMs: this.opts.requestTimeoutMs ?? 60_000, maxResponseBytes: RESPONSE_LIMITS.small });
      for (const [eventId, result] of Object.entries(response.pdus ?? {})) {
        if (result && typeof result.error === 'string') this.opts.log.info({ destination, event_id: eventId, error: result.error }, 'destination rejected a PDU');
      }
      return 'done';
    } catch (err) {
      const status = err instanceof FederationRequestError ? err.status : undefined;
      // A request the destination understood and refused will never succeed as it is: drop it
      // rather than block the queue (Synapse does the same). Rate limits and auth failures (our
      // key may not be fetchable yet) are retried.
      if (status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 401 && status !== 408) {
        this.opts.log.warn({ destination, status, err: (err as Error).message }, 'destination refused a transaction; dropped');
        return 'done';
      }
      this.opts.log.info({ destination, err: (err as Error).message }, 'sending a transaction failed; will retry');
      return 'retry';
    }
  }

  private async failed(destination: string, s: DestinationState): Promise<void> {
    s.failures++;
    const delay = Math.min(this.opts.backoffBaseMs * 2 ** Math.min(s.failures - 1, 30), this.opts.backoffMaxMs);
    s.retryAfterTs = this.now() + delay;
    await this.opts.store.setRetryState(destination, { failures: s.failures, retryAfterTs: s.retryAfterTs }, this.now());
    if (!this.closed && s.timer === undefined) s.timer = setTimeout(() => { s.timer = undefined; this.wake(destination); }, delay);
  }
}
