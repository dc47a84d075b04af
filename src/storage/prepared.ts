// Queries compiled once. Kysely builds and compiles a query on every call, which on the send
// path costs more than SQLite running it; a prepared query is built once per database dialect
// with named placeholders, and each call only binds the values.
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import type { Schema } from './schema.js';

/** Stands for a value bound at each call (see `prepared`). */
class Placeholder {
  constructor(readonly name: string) {}
}

type Params = Record<string, unknown>;

interface Compiled {
  sql: string;
  /** For each SQL parameter: the name of the value to bind, or a constant of the query's shape. */
  binds: Array<{ name: string } | { constant: unknown }>;
}

/**
 * A query of fixed shape: `build` receives placeholders in place of the values (use them only as
 * plain values: no arrays for `in`, no conditional shape) and the compiled SQL is kept per
 * dialect. Returns a function that runs it on a database or transaction with the given values.
 */
export function prepared<P extends Params, R>(
  build: (db: Kysely<Schema>, p: P) => Compilable<R>,
): (db: Kysely<Schema>, params: P) => Promise<QueryResult<R>> {
  const byAdapter = new Map<unknown, Compiled>();
  // Reading a property gives its placeholder; the object has no keys of its own, so spreading it gives nothing.
  const placeholders = new Proxy({} as P, { get: (_t, name) => new Placeholder(String(name)) });
  return (db, params) => {
    const adapter = db.getExecutor().adapter.constructor;
    let compiled = byAdapter.get(adapter);
    if (!compiled) {
      const query = build(db, placeholders).compile();
      compiled = {
        sql: query.sql,
        binds: query.parameters.map((v) => (v instanceof Placeholder ? { name: v.name } : { constant: v })),
      };
      byAdapter.set(adapter, compiled);
    }
    const values = compiled.binds.map((b) => ('name' in b ? params[b.name] : b.constant));
    return db.executeQuery<R>(CompiledQuery.raw(compiled.sql, values));
  };
}
