// How the databases are opened: the session settings every connection gets.
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/database.js';
import { ENGINES, createTestDatabase } from '../helpers/databases.js';

describe.each(ENGINES)('database connections (%s)', (engine) => {
  it(engine === 'postgres' ? 'turns JIT compilation off on every pooled connection' : 'runs SQLite in WAL mode', async () => {
    const test = await createTestDatabase(engine);
    const database = openDatabase(test.config);
    try {
      if (engine === 'postgres') {
        // Several at once, so that the pool opens several connections.
        const settings = await Promise.all(Array.from({ length: 4 }, () => sql<{ jit: string }>`SHOW jit`.execute(database.db)));
        expect(settings.map((r) => r.rows[0].jit)).toEqual(['off', 'off', 'off', 'off']);
      } else {
        expect((await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(database.db)).rows[0].journal_mode).toBe('wal');
      }
    } finally {
      await database.close();
      await test.drop();
    }
  });
});
