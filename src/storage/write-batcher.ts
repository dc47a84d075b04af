// Group commit: writes that arrive while a transaction is committing wait, and then go in
// together in the next one, each inside its own savepoint so that one failure undoes only
// itself. A commit costs more than the few inserts of one event; sharing it is what lets
// many rooms write at once.
import { CompiledQuery } from 'kysely';
import type { DB, Tx } from './database.js';

const SAVEPOINT = CompiledQuery.raw('SAVEPOINT weft_write');
const RELEASE = CompiledQuery.raw('RELEASE SAVEPOINT weft_write');
const ROLLBACK = CompiledQuery.raw('ROLLBACK TO SAVEPOINT weft_write');

interface Job {
  work: (tx: Tx) => Promise<unknown>;
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

  /** Runs `work` in a transaction (shared with other writes when grouping), resolving after the commit. */
  run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    if (!this.groupCommit) return this.db.transaction().execute(work);
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
            for (const job of batch) {
              await tx.executeQuery(SAVEPOINT);
              try {
                const value = await job.work(tx);
                await tx.executeQuery(RELEASE);
                outcomes.push({ ok: true, value });
              } catch (error) {
                await tx.executeQuery(ROLLBACK);
                await tx.executeQuery(RELEASE);
                outcomes.push({ ok: false, error });
              }
            }
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
