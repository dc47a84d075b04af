// The full-text index of server-side search (storage/search.ts).
// spec: client-server-api modules/search
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './dialect.js';
import { backfillSearchIndex } from '../search.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  if (isPostgres(db)) {
    // One row per indexed event; `vector` holds the words of core/search.ts's indexText under
    // the 'simple' configuration (lower case, no stemming, no stop words), so any language works.
    await sql`CREATE TABLE event_search (
      nid BIGINT PRIMARY KEY,
      room_id TEXT NOT NULL,
      sender TEXT NOT NULL,
      type TEXT NOT NULL,
      vector TSVECTOR NOT NULL
    )`.execute(db);
    await sql`CREATE INDEX event_search_vector ON event_search USING GIN (vector)`.execute(db);
  } else {
    // Contentless FTS5 (the text is in the event's JSON already), rowid = the event's nid;
    // contentless_delete lets a redaction remove a row. Room, sender and type are read from
    // `events` by nid. The prefix indexes of 2 and 3 letters make `hi*` one lookup instead of
    // a merge of every word starting so (92 ms → 1 ms over 300,000 messages, for an index
    // about twice the size and inserts ~30% slower).
    await sql`CREATE VIRTUAL TABLE event_search USING fts5(
      text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2', prefix='2 3'
    )`.execute(db);
  }
  await backfillSearchIndex(db);
}
