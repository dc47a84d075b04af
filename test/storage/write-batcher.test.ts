// Group commit: writes that arrive together share a transaction, each in its own savepoint, and
// the work they defer runs at the end of it, only for the writes that succeeded.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openSqlite, openPostgres } from '../../src/storage/database.js';
import { WriteBatcher } from '../../src/storage/write-batcher.js';
import { ENGINES, createTestDatabase } from '../helpers/databases.js';

describe.each(ENGINES)('WriteBatcher (%s)', (engine) => {
  it('runs deferred work after every write of the transaction, and none of a write that failed', async () => {
    const test = await createTestDatabase(engine);
    const database = engine === 'sqlite' ? openSqlite(test.config.path) : openPostgres(test.config.url as string, 4);
    try {
      const db = database.db;
      await sql`CREATE TABLE log (n INTEGER NOT NULL, what TEXT NOT NULL)`.execute(db);
      const batcher = new WriteBatcher(db, engine === 'sqlite');
      const order: string[] = [];
      const write = (n: number, fail: boolean) => batcher.run(async (tx, defer) => {
        await sql`INSERT INTO log (n, what) VALUES (${n}, 'write')`.execute(tx);
        defer(async (end) => {
          // Runs in the same transaction: it sees its own write.
          const seen = await sql<{ c: number | string }>`SELECT count(*) AS c FROM log WHERE what = 'write' AND n = ${n}`.execute(end);
          order.push(`deferred ${n} saw ${Number(seen.rows[0].c) === 1 ? 'its write' : 'nothing'}`);
          await sql`INSERT INTO log (n, what) VALUES (${n}, 'deferred')`.execute(end);
        });
        order.push(`write ${n}`);
        if (fail) throw new Error(`write ${n} fails`);
        return n;
      });
      const results = await Promise.allSettled([write(1, false), write(2, true), write(3, false)]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const rows = (await sql<{ n: number; what: string }>`SELECT n, what FROM log ORDER BY what, n`.execute(db)).rows;
      expect(rows.map((r) => `${r.what} ${r.n}`)).toEqual(['deferred 1', 'deferred 3', 'write 1', 'write 3']);
      if (engine === 'sqlite') {
        // One transaction: the writes first, then what they deferred.
        expect(order).toEqual(['write 1', 'write 2', 'write 3', 'deferred 1 saw its write', 'deferred 3 saw its write']);
      }
    } finally {
      await database.close();
      await test.drop();
    }
  });
});
