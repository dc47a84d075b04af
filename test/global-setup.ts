// Decides once per run whether the PostgreSQL half of the suite runs.
import pg from 'pg';

export default async function setup(): Promise<void> {
  const url = process.env.WEFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    process.env.WEFT_TEST_PG_URL = url;
    process.env.WEFT_TEST_PG = '1';
  } catch (err) {
    process.env.WEFT_TEST_PG = '0';
    console.warn(`\n[weft tests] PostgreSQL at ${url} is not reachable (${(err as Error).message}); the PostgreSQL half of the suite is skipped.\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
