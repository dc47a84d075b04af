// Fresh databases for tests: a temporary SQLite file, and a new PostgreSQL database
// on the reachable server (dropped afterwards).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export type TestEngine = 'sqlite' | 'postgres';

/** The engines this run covers: SQLite always, PostgreSQL when the global setup reached it. */
export const ENGINES: TestEngine[] = inject('pgUrl') ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestDatabase {
  config: { engine: TestEngine; path: string; url: string | null; pool_size: number };
  dir: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(engine: TestEngine): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-test-'));
  if (engine === 'sqlite') {
    return {
      config: { engine, path: join(dir, 'weft.db'), url: null, pool_size: 4 },
      dir,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const adminUrl = inject('pgUrl') as string;
  const name = `weft_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    config: { engine, path: join(dir, 'unused.db'), url: url.toString(), pool_size: 4 },
    dir,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
