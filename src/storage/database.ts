// Opens the configured database (SQLite or PostgreSQL) behind one Kysely interface.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import type { Schema } from './schema.js';

export type DB = Kysely<Schema>;
export type Tx = Transaction<Schema>;
export type Engine = 'sqlite' | 'postgres';

export interface Database {
  readonly db: DB;
  readonly engine: Engine;
  close(): Promise<void>;
}

// BIGINT (int8) columns hold millisecond timestamps and counters that fit in a double.
pg.types.setTypeParser(20, (v) => Number(v));

export function openSqlite(path: string): Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Room DAG indexes take inserts at random places (event IDs are hashes): keep their pages in
  // memory (64 MiB of cache, reads through mmap), and checkpoint the WAL less often so that a page
  // written by many commits reaches the main file once.
  sqlite.pragma('cache_size = -65536');
  sqlite.pragma('mmap_size = 268435456');
  sqlite.pragma('wal_autocheckpoint = 10000');
  sqlite.pragma('temp_store = MEMORY');
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, engine: 'sqlite', close: () => db.destroy() };
}

/**
 * Kysely prepares every statement anew; preparing costs more than running a small one.
 * Statements are keyed by their SQL text (parameters are bound separately), so the cache holds
 * one entry per query shape.
 */
function withStatementCache(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'prepare') {
        return (sql: string) => {
          let stmt = cache.get(sql);
          if (!stmt) {
            stmt = target.prepare(sql);
            if (cache.size >= 1000) cache.delete(cache.keys().next().value as string);
            cache.set(sql, stmt);
          }
          return stmt;
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

export function openPostgres(url: string, poolSize: number): Database {
  // JIT compilation pays off for long analytical queries; a homeserver's are short, and for the
  // few large ones (a big initial sync) compiling costs more than it saves.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, options: '-c jit=off' });
  // An idle connection that the server drops (a restart, an administrator) is an 'error' event
  // on the pool; unhandled, it would end the process. The pool replaces the connection on the
  // next query, and a query on a dead connection fails with its own error.
  pool.on('error', () => undefined);
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return { db, engine: 'postgres', close: () => db.destroy() };
}

export function openDatabase(cfg: { engine: Engine; path: string; url: string | null; pool_size: number }): Database {
  return cfg.engine === 'postgres' ? openPostgres(cfg.url as string, cfg.pool_size) : openSqlite(cfg.path);
}
