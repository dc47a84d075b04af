// Decides once per run whether the PostgreSQL half of the suite runs, and tells the workers.
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string | null;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const url = process.env.WEFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    project.provide('pgUrl', url);
  } catch (err) {
    project.provide('pgUrl', null);
    console.warn(`\n[weft tests] PostgreSQL at ${url} is not reachable (${(err as Error).message}); the PostgreSQL half of the suite is SKIPPED.\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
