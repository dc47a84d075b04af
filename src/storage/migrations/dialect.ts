// What the migrations need to know about the database they run on.
import { sql, type Kysely, type RawBuilder } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter.constructor.name.startsWith('Postgres');
}

/** An integer primary key that counts up by itself: a stream position or an interned id. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function autoIdColumn(db: Kysely<any>, name: string): RawBuilder<unknown> {
  return isPostgres(db) ? sql.raw(`${name} BIGSERIAL PRIMARY KEY`) : sql.raw(`${name} INTEGER PRIMARY KEY AUTOINCREMENT`);
}
