// The highest position ever handed out by a stream table's autoincrementing column. Unlike
// MAX(column) it does not go back when rows are deleted (to-device messages are deleted once
// delivered), so a position survives a restart.
import { sql } from 'kysely';
import type { DB } from './database.js';

export function isPostgres(db: DB): boolean {
  return db.getExecutor().adapter.constructor.name.startsWith('Postgres');
}

/** `table` must have been created with AUTOINCREMENT (SQLite) or BIGSERIAL `column` (PostgreSQL). */
export async function streamHighWater(db: DB, table: string, column: string): Promise<number> {
  if (isPostgres(db)) {
    const seq = `${table}_${column}_seq`;
    const r = await sql<{ last_value: string | number; is_called: boolean }>`SELECT last_value, is_called FROM ${sql.table(seq)}`.execute(db);
    const row = r.rows[0];
    return row && row.is_called ? Number(row.last_value) : 0;
  }
  const r = await sql<{ seq: number }>`SELECT seq FROM sqlite_sequence WHERE name = ${table}`.execute(db);
  return Number(r.rows[0]?.seq ?? 0);
}
