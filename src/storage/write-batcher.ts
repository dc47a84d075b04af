// Group commit: writes that arrive while a transaction is committing wait, and then go in
// together in the next one, each inside its own savepoint so that one failure undoes only
// itself. A commit costs more than the few inserts of one event; sharing it is what lets
// many rooms write at once.
import { CompiledQuery } from 'kysely';
import type { DB, Tx } from './database.js';

const SAVEPOINT = CompiledQuery.raw('SAVEPOINT weft_write');
const RELEASE = CompiledQuery.raw('RELEASE SAVEPOINT weft_write');
const ROLLBACK = CompiledQuery.raw('ROLLBACK TO SAVEPOINT weft_write');

/** Work a write leaves for the end of its transaction (see WriteBatcher.run). */
export type Deferred = (tx: Tx) => Promise<void>;
export type Defer = (work: Deferred) => void;

/**
 * Rows that the events of one write (one `run`) collect for `flush` to write at the end of its
 * transaction, all together (a multi-row statement instead of one per event). Returns `add`.
 * Per write, not per transaction: a write that fails takes its rows with it.
 */
export function rowsAtEnd<T>(flush: (tx: Tx, rows: T[]) => Promise<void>): (defer: Defer, row: T) => void {
  const pending = new WeakMap<Defer, T[]>();
  return (defer, row) => {
    let rows = pending.get(defer);
    if (!rows) {
      const list: T[] = [];
      rows = list;
      pending.set(defer, list);
      defer((tx) => flush(tx, list));
    }
    rows.push(row);
  };
}

interface Job {
  work: (tx: Tx, defer: Defer) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class WriteBatcher {
  private queue: Job[] = [];
  private draining = false;

  /**
   * `groupCommit` suits SQLite, where one connection writes and a commit costs more than the
   * inserts. PostgreSQL runs transactions side by side on its pool and groups concurrent
   * commits in its WAL itself; funnelling them through one connection would make every
   * statement of every event wait for a network round trip in turn.
   */
  constructor(private readonly db: DB, private readonly groupCommit: boolean, private readonly maxBatch = 64) {}

  /**
   * Runs `work` in a transaction (shared with other writes when grouping), resolving after the
   * commit. What `work` hands to `defer` runs once every write of the transaction is done, still
   * inside it but outside the writes' savepoints, and only for writes that succeeded: SQLite's
   * full-text index flushes its pending terms at every savepoint release, so indexing there
   * costs three times what it costs once per commit.
   */
  run<T>(work: (tx: Tx, defer: Defer) => Promise<T>): Promise<T> {
    if (!this.groupCommit) {
      return this.db.transaction().execute(async (tx) => {
        const deferred: Deferred[] = [];
        const value = await work(tx, (d) => deferred.push(d));
        for (const d of deferred) await d(tx);
        return value;
      });
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) {
        this.draining = true;
        // Start on the next turn of the event loop, so that writes from requests that arrived
        // together (a synchronous SQLite transaction never yields to them) share the commit.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
        try {
          await this.db.transaction().execute(async (tx) => {
            const deferred: Deferred[] = [];
            for (const job of batch) {
              await tx.executeQuery(SAVEPOINT);
              const jobDeferred: Deferred[] = [];
              try {
                const value = await job.work(tx, (d) => jobDeferred.push(d));
                await tx.executeQuery(RELEASE);
                deferred.push(...jobDeferred);
                outcomes.push({ ok: true, value });
              } catch (error) {
                await tx.executeQuery(ROLLBACK);
                await tx.executeQuery(RELEASE);
                outcomes.push({ ok: false, error });
              }
            }
            for (const d of deferred) await d(tx);
          });
        } catch (error) {
          for (const job of batch) job.reject(error);
          continue;
        }
        batch.forEach((job, i) => {
          const o = outcomes[i];
          if (o.ok) job.resolve(o.value);
          else job.reject(o.error);
        });
      }
    } finally {
      this.draining = false;
    }
  }
}
