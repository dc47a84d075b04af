// The full-text index of server-side search: SQLite FTS5 (a contentless table whose rowid is the
// event's nid) or a PostgreSQL table with a tsvector and a GIN index. Both index the words that
// core/search.ts makes of an event's text, and both are written inside the event's transaction
// (the PersistHook `index`), so the index never disagrees with the events table: a redaction
// removes its target's row in the redaction's own transaction, and enabling encryption in a room
// removes the room's rows (spec: "The search will not include rooms that are end to end encrypted").
// spec: client-server-api modules/search
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { indexText, SEARCH_KEYS, searchableText, toFts5Query, toTsQuery, type SearchQuery } from '../core/search.js';
import type { RoomEvent } from '../core/pdu.js';
import type { DB, Engine, Tx } from './database.js';
import { redactionTarget } from './redactions.js';
import { rowsAtEnd, type Defer } from './write-batcher.js';

/** The event types that have searchable text (core/search.ts SEARCH_KEYS). */
const SEARCHABLE_TYPES: string[] = Object.values(SEARCH_KEYS);

/** A room to search, up to `maxNid` (inclusive) when the user is no longer in it. */
export interface SearchRoom { roomId: string; maxNid?: number }

/** Where a page ended: results continue after (rank, nid) in the query's order. */
export interface SearchCursor { rank: number; nid: number }

export interface IndexSearch {
  query: SearchQuery;
  rooms: SearchRoom[];
  /** Some of the searchable types; results have one of them. */
  types: string[];
  senders?: string[];
  notSenders?: string[];
}

export interface SearchHit { nid: number; rank: number }

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

function isPostgres(db: AnyDb): boolean {
  return db.getExecutor().adapter.constructor.name.startsWith('Postgres');
}

/** The indexable text of an event, or undefined when it has none. */
function textOf(ev: Pick<RoomEvent, 'type' | 'state_key' | 'content'>): string | undefined {
  // m.room.message is not a state event; the name and topic are state with the empty key.
  if (ev.type === 'm.room.message' ? ev.state_key !== undefined : ev.state_key !== '') return undefined;
  const raw = searchableText(ev.type, ev.content);
  const text = raw === undefined ? '' : indexText(raw);
  return text === '' ? undefined : text;
}

interface IndexRow { nid: number; roomId: string; sender: string; type: string; text: string }

async function insertRows(db: AnyDb, rows: IndexRow[]): Promise<void> {
  if (rows.length === 0) return;
  if (isPostgres(db)) {
    await sql`INSERT INTO event_search (nid, room_id, sender, type, vector) VALUES ${sql.join(rows.map((r) =>
      sql`(${r.nid}, ${r.roomId}, ${r.sender}, ${r.type}, to_tsvector('simple', ${r.text}))`))} ON CONFLICT (nid) DO NOTHING`.execute(db);
  } else {
    await sql`INSERT INTO event_search (rowid, text) VALUES ${sql.join(rows.map((r) => sql`(${r.nid}, ${r.text})`))}`.execute(db);
  }
}

/**
 * Indexes the events already stored (run once, by migration 011): accepted, not soft-failed,
 * not redacted, and not in rooms that are encrypted now.
 */
export async function backfillSearchIndex(db: AnyDb): Promise<void> {
  let after = 0;
  for (;;) {
    const { rows } = await sql<{ nid: number; room_id: string; sender: string; type: string; state_key: string | null; json: string }>`
      SELECT e.nid, e.room_id, e.sender, e.type, e.state_key, e.json FROM events e
      WHERE e.nid > ${after} AND e.type IN (${sql.join(SEARCHABLE_TYPES)})
        AND e.rejected_reason IS NULL AND e.soft_failed = 0 AND e.outlier = 0
        AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = e.event_id)
        AND NOT EXISTS (SELECT 1 FROM current_state c WHERE c.room_id = e.room_id AND c.type = 'm.room.encryption' AND c.state_key = '')
      ORDER BY e.nid LIMIT 1000`.execute(db);
    if (rows.length === 0) return;
    after = Number(rows[rows.length - 1].nid);
    const batch: IndexRow[] = [];
    for (const r of rows) {
      const ev = JSON.parse(r.json) as RoomEvent;
      const text = textOf({ type: r.type, state_key: r.state_key ?? undefined, content: ev.content });
      if (text !== undefined) batch.push({ nid: Number(r.nid), roomId: r.room_id, sender: r.sender, type: r.type, text });
    }
    await insertRows(db, batch);
  }
}

function isEmpty(q: IndexSearch): boolean {
  return q.rooms.length === 0 || q.types.length === 0 || q.query.clauses.length === 0;
}

interface PendingEntry { nid: number; eventId: string; roomId: string; sender: string; type: string; text: string }
/** Entries per multi-row insert (6 values each). */
const ENTRIES_PER_INSERT = 500;

export class SearchStore {
  constructor(private readonly db: DB, private readonly engine: Engine) {}

  /**
   * The PersistHook (EventStore.onPersisting): keeps the index in step with one newly persisted
   * event, inside its transaction. Mirrors EventStore.persist: a redaction takes effect when it
   * is not rejected; rejected and soft-failed events are never indexed.
   */
  readonly index = async (tx: Tx, e: { event: RoomEvent; rejectedReason: string | null; softFailed: boolean }, nid: number, defer: Defer): Promise<void> => {
    if (e.rejectedReason !== null) return;
    const ev = e.event;
    if (ev.type === 'm.room.redaction') {
      const redacts = await redactionTarget(tx, ev);
      if (redacts !== undefined) await this.unindex(tx, redacts);
      return;
    }
    if (e.softFailed) return;
    if (ev.type === 'm.room.encryption' && ev.state_key === '') {
      await this.unindexRoom(tx, ev.room_id);
      return;
    }
    const text = textOf(ev);
    if (text === undefined) return;
    // Written at the end of the transaction (WriteBatcher.run), all the events of one write in
    // one statement, which also sees a redaction or encryption later in the same commit.
    this.addEntry(defer, { nid, eventId: ev.event_id, roomId: ev.room_id, sender: ev.sender, type: ev.type, text });
  };

  private readonly addEntry = rowsAtEnd<PendingEntry>((tx, entries) => this.insertEntries(tx, entries));

  /**
   * One statement per chunk, no extra round trip: an entry is skipped in an encrypted room, and
   * when a redaction of its event arrived before it (over federation) or in the same commit.
   */
  private async insertEntries(tx: Tx, entries: PendingEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += ENTRIES_PER_INSERT) {
      const chunk = entries.slice(i, i + ENTRIES_PER_INSERT);
      if (this.engine === 'postgres') {
        const values = sql.join(chunk.map((e) => sql`(${e.nid}::bigint, ${e.eventId}, ${e.roomId}, ${e.sender}, ${e.type}, ${e.text})`));
        await sql`INSERT INTO event_search (nid, room_id, sender, type, vector)
          SELECT v.nid, v.room_id, v.sender, v.type, to_tsvector('simple', v.text)
          FROM (VALUES ${values}) AS v(nid, event_id, room_id, sender, type, text)
          WHERE NOT EXISTS (SELECT 1 FROM current_state c WHERE c.room_id = v.room_id AND c.type = 'm.room.encryption' AND c.state_key = '')
            AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = v.event_id)
          ON CONFLICT (nid) DO NOTHING`.execute(tx);
      } else {
        const values = sql.join(chunk.map((e) => sql`(${e.nid}, ${e.eventId}, ${e.roomId}, ${e.text})`));
        await sql`WITH v(nid, event_id, room_id, text) AS (VALUES ${values})
          INSERT INTO event_search (rowid, text) SELECT v.nid, v.text FROM v
          WHERE NOT EXISTS (SELECT 1 FROM current_state c WHERE c.room_id = v.room_id AND c.type = 'm.room.encryption' AND c.state_key = '')
            AND NOT EXISTS (SELECT 1 FROM redactions r WHERE r.redacts = v.event_id)`.execute(tx);
      }
    }
  }

  private async unindex(tx: Tx, eventId: string): Promise<void> {
    const target = sql`(SELECT nid FROM events WHERE event_id = ${eventId})`;
    if (this.engine === 'postgres') await sql`DELETE FROM event_search WHERE nid = ${target}`.execute(tx);
    else await sql`DELETE FROM event_search WHERE rowid = ${target}`.execute(tx);
  }

  private async unindexRoom(tx: Tx, roomId: string): Promise<void> {
    if (this.engine === 'postgres') {
      await sql`DELETE FROM event_search WHERE room_id = ${roomId}`.execute(tx);
    } else {
      await sql`DELETE FROM event_search WHERE rowid IN (SELECT nid FROM events WHERE room_id = ${roomId} AND type IN (${sql.join(SEARCHABLE_TYPES)}))`.execute(tx);
    }
  }

  /**
   * The rooms a user's search covers (spec: "all rooms that the user has been in, including
   * those that they have left"): joined rooms whole, rooms left or banned from up to the
   * membership event that ended it ("it won't include events … that happened after you left").
   * Invites, knocks and forgotten rooms are not searched.
   */
  async roomsToSearch(userId: string): Promise<SearchRoom[]> {
    const rows = await this.db.selectFrom('memberships').select(['room_id', 'membership', 'event_nid'])
      .where('user_id', '=', userId).where('membership', 'in', ['join', 'leave', 'ban']).where('forgotten', '=', 0).execute();
    return rows.map((r) => (r.membership === 'join' ? { roomId: r.room_id } : { roomId: r.room_id, maxNid: Number(r.event_nid) }));
  }

  /** Indexes events written outside EventStore.persist (bench/search.ts's bulk fill), through `db` (a transaction). */
  async indexBulk(db: DB | Tx, rows: Array<{ nid: number; event: Pick<RoomEvent, 'room_id' | 'sender' | 'type' | 'state_key' | 'content'> }>): Promise<void> {
    const batch: IndexRow[] = [];
    for (const r of rows) {
      const text = textOf(r.event);
      if (text !== undefined) batch.push({ nid: r.nid, roomId: r.event.room_id, sender: r.event.sender, type: r.event.type, text });
    }
    for (let i = 0; i < batch.length; i += 500) await insertRows(db, batch.slice(i, i + 500));
  }

  /**
   * One page of matches, best first (`rank`: higher is better; ties by newest) or newest first
   * (`recent`, whose hits have rank 0: bm25 would read every match for its statistics),
   * strictly after `after` in that order, among matches at or after `minNid`.
   */
  async search(q: IndexSearch, order: 'rank' | 'recent', after: SearchCursor | undefined, limit: number, minNid?: number): Promise<SearchHit[]> {
    if (isEmpty(q)) return [];
    const { from, rank, nid } = this.source(q, minNid);
    let rows: Array<{ nid: number | string; rank: number | string }>;
    if (order === 'recent') {
      const bound = after ? sql` AND ${nid} < ${after.nid}` : sql``;
      ({ rows } = await sql<{ nid: number; rank: number }>`SELECT ${nid} AS nid, 0 AS rank ${from}${bound}
        ORDER BY ${nid} DESC LIMIT ${limit}`.execute(this.db));
    } else {
      const bound = after ? sql` WHERE rank < ${after.rank} OR (rank = ${after.rank} AND nid < ${after.nid})` : sql``;
      ({ rows } = await sql<{ nid: number; rank: number }>`SELECT nid, rank FROM (SELECT ${nid} AS nid, ${rank} AS rank ${from}) matches${bound}
        ORDER BY rank DESC, nid DESC LIMIT ${limit}`.execute(this.db));
    }
    return rows.map((r) => ({ nid: Number(r.nid), rank: Number(r.rank) }));
  }

  /**
   * The newest `window` matches at most: how many there are, and the newest and oldest of them.
   * Cheap whatever the number of matches, since both indexes walk matches in nid order.
   */
  async newestMatches(q: IndexSearch, window: number): Promise<{ n: number; newest: number; oldest: number }> {
    if (isEmpty(q)) return { n: 0, newest: 0, oldest: 0 };
    const { from, nid } = this.source(q);
    const { rows } = await sql<{ n: number | string; newest: number | string | null; oldest: number | string | null }>`
      SELECT count(*) AS n, max(nid) AS newest, min(nid) AS oldest FROM (SELECT ${nid} AS nid ${from} ORDER BY ${nid} DESC LIMIT ${window}) newest`.execute(this.db);
    const r = rows[0];
    return { n: Number(r?.n ?? 0), newest: Number(r?.newest ?? 0), oldest: Number(r?.oldest ?? 0) };
  }

  /** The nid of the oldest match, if any. */
  async oldestMatch(q: IndexSearch): Promise<number | undefined> {
    if (isEmpty(q)) return undefined;
    const { from, nid } = this.source(q);
    const { rows } = await sql<{ nid: number | string }>`SELECT ${nid} AS nid ${from} ORDER BY ${nid} ASC LIMIT 1`.execute(this.db);
    return rows.length ? Number(rows[0].nid) : undefined;
  }

  /** FROM and WHERE of a search, and its nid and rank expressions, for the configured engine. */
  private source(q: IndexSearch, minNid?: number): { from: RawBuilder<unknown>; nid: RawBuilder<unknown>; rank: RawBuilder<unknown> } {
    const postgres = this.engine === 'postgres';
    // Room, type and sender live in event_search on PostgreSQL, in events (joined by nid) on SQLite.
    const t = postgres ? sql.raw('s') : sql.raw('e');
    const nid = postgres ? sql`s.nid` : sql`event_search.rowid`;
    const joined = q.rooms.filter((r) => r.maxNid === undefined).map((r) => r.roomId);
    const roomConds: RawBuilder<unknown>[] = [];
    if (joined.length) roomConds.push(sql`${t}.room_id IN (${sql.join(joined)})`);
    for (const r of q.rooms) if (r.maxNid !== undefined) roomConds.push(sql`(${t}.room_id = ${r.roomId} AND ${nid} <= ${r.maxNid})`);
    const conds: RawBuilder<unknown>[] = [sql`(${sql.join(roomConds, sql` OR `)})`];
    // Every indexed event has one of the searchable types: a restriction is needed only for fewer.
    if (SEARCHABLE_TYPES.some((type) => !q.types.includes(type))) conds.push(sql`${t}.type IN (${sql.join(q.types)})`);
    if (q.senders) conds.push(q.senders.length ? sql`${t}.sender IN (${sql.join(q.senders)})` : sql`1 = 0`);
    if (q.notSenders?.length) conds.push(sql`${t}.sender NOT IN (${sql.join(q.notSenders)})`);
    if (minNid !== undefined) conds.push(sql`${nid} >= ${minNid}`);
    const where = sql.join(conds, sql` AND `);
    if (postgres) {
      const tsq = sql`to_tsquery('simple', ${toTsQuery(q.query)})`;
      return { from: sql`FROM event_search s WHERE s.vector @@ ${tsq} AND ${where}`, nid, rank: sql`ts_rank(s.vector, ${tsq})::float8` };
    }
    // bm25() is lower for better matches; the spec's rank is higher for better ones.
    return {
      from: sql`FROM event_search JOIN events e ON e.nid = event_search.rowid WHERE event_search MATCH ${toFts5Query(q.query)} AND ${where}`,
      nid, rank: sql`-bm25(event_search)`,
    };
  }
}
