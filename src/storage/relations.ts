// The relations index: which events relate to which (content["m.relates_to"]), and the threads
// they form. Rows are written inside EventStore.persist's transaction (indexRelations), so the
// index never disagrees with the events table; a redaction deletes the row of the event it
// redacts, since redaction strips m.relates_to (spec: "Aggregations of child events").
import { sql } from 'kysely';
import type { RoomEvent } from '../core/pdu.js';
import type { DB, Tx } from './database.js';
import { redactionTarget } from './redactions.js';

export interface Relation { relType: string; eventId: string }

/** A parent/child row as read back from the index. */
export interface RelationRow { eventNid: number; eventId: string; roomId: string; relatesTo: string; relType: string; sender: string }

/** Limits chosen to keep the index's columns sane; longer values are not valid identifiers anyway. */
const MAX_ID_LENGTH = 255;

/**
 * The relation an event's content declares, or undefined when there is none or it is malformed
 * (spec: relationships that do not match the schema "are simply ignored"). NUL is refused
 * because PostgreSQL text cannot hold it.
 */
export function relationOf(content: Record<string, unknown>): Relation | undefined {
  const r = content['m.relates_to'];
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return undefined;
  const { rel_type: relType, event_id: eventId } = r as Record<string, unknown>;
  if (typeof relType !== 'string' || typeof eventId !== 'string') return undefined;
  if (relType.length === 0 || relType.length > MAX_ID_LENGTH || relType.includes('\u0000')) return undefined;
  if (!eventId.startsWith('$') || eventId.length > MAX_ID_LENGTH || eventId.includes('\u0000')) return undefined;
  return { relType, eventId };
}

/**
 * Keeps the index in step with one newly persisted event; called inside its transaction.
 * Mirrors EventStore.persist: rejected events relate to nothing, and a redaction takes effect
 * when it is not rejected.
 */
export async function indexRelations(tx: Tx, e: { event: RoomEvent; rejectedReason: string | null; softFailed: boolean }, nid: number): Promise<void> {
  if (e.rejectedReason !== null) return;
  const ev = e.event;
  if (ev.type === 'm.room.redaction') {
    const redacts = await redactionTarget(tx, ev);
    if (redacts !== undefined) await unindex(tx, redacts);
    return;
  }
  // Soft-failed events are never served to clients, so they aggregate into nothing.
  if (e.softFailed) return;
  const rel = relationOf(ev.content);
  if (!rel) return;
  // A redaction that arrived before the event (over federation) already broke the relationship.
  const redacted = await tx.selectFrom('redactions').select('redaction_id').where('redacts', '=', ev.event_id).executeTakeFirst();
  if (redacted) return;
  const threadRoot = rel.relType === 'm.thread'
    ? rel.eventId
    : (await tx.selectFrom('event_relations').select('thread_root').where('event_id', '=', rel.eventId).executeTakeFirst())?.thread_root ?? null;
  await tx.insertInto('event_relations').values({
    event_nid: nid, event_id: ev.event_id, room_id: ev.room_id, relates_to: rel.eventId, rel_type: rel.relType,
    type: ev.type, sender: ev.sender, thread_root: threadRoot,
  }).onConflict((oc) => oc.doNothing()).execute();
  if (rel.relType === 'm.thread') {
    // nids only grow, so the newest reply is this one.
    await tx.insertInto('threads').values({ room_id: ev.room_id, thread_root: rel.eventId, latest_nid: nid })
      .onConflict((oc) => oc.columns(['room_id', 'thread_root']).doUpdateSet({ latest_nid: nid })).execute();
  }
}

/** Forgets a redacted event's relation; a thread falls back to its newest remaining reply. */
async function unindex(tx: Tx, eventId: string): Promise<void> {
  const removed = await tx.deleteFrom('event_relations').where('event_id', '=', eventId).returning(['room_id', 'relates_to', 'rel_type']).executeTakeFirst();
  if (!removed || removed.rel_type !== 'm.thread') return;
  const latest = await tx.selectFrom('event_relations').select((eb) => eb.fn.max('event_nid').as('latest'))
    .where('relates_to', '=', removed.relates_to).where('rel_type', '=', 'm.thread').where('room_id', '=', removed.room_id).executeTakeFirst();
  if (latest?.latest == null) {
    await tx.deleteFrom('threads').where('room_id', '=', removed.room_id).where('thread_root', '=', removed.relates_to).execute();
  } else {
    await tx.updateTable('threads').set({ latest_nid: Number(latest.latest) })
      .where('room_id', '=', removed.room_id).where('thread_root', '=', removed.relates_to).execute();
  }
}

export interface ChildrenQuery {
  roomId: string;
  parentId: string;
  relType?: string;
  eventType?: string;
  /** Exclusive bound: children strictly after (dir f) or before (dir b) this nid. */
  from: number;
  /** Exclusive far bound, if any. */
  to?: number;
  dir: 'b' | 'f';
  limit: number;
  /** 1 = direct children only; n = also children of children, n levels deep. */
  depth: number;
}

export interface ThreadSummaryRow { roomId: string; root: string; count: number; latestNid: number; userReplied: boolean }
export interface EditCandidate { roomId: string; parentId: string; eventNid: number; eventId: string; sender: string; ts: number }
export interface ThreadRow { root: string; latestNid: number }

export class RelationStore {
  constructor(private readonly db: DB) {}

  /** One page of the nids of events relating to a parent, in `dir` order. */
  async children(q: ChildrenQuery): Promise<number[]> {
    if (q.depth <= 1) {
      let sel = this.db.selectFrom('event_relations').select('event_nid')
        .where('relates_to', '=', q.parentId).where('room_id', '=', q.roomId);
      if (q.relType !== undefined) sel = sel.where('rel_type', '=', q.relType);
      if (q.eventType !== undefined) sel = sel.where('type', '=', q.eventType);
      sel = q.dir === 'b' ? sel.where('event_nid', '<', q.from) : sel.where('event_nid', '>', q.from);
      if (q.to !== undefined) sel = q.dir === 'b' ? sel.where('event_nid', '>', q.to) : sel.where('event_nid', '<', q.to);
      const rows = await sel.orderBy('event_nid', q.dir === 'b' ? 'desc' : 'asc').limit(q.limit).execute();
      return rows.map((r) => Number(r.event_nid));
    }
    // Children of children, following only edges that match the filters (spec: "Relationships
    // API": events related only through a non-matching intermediate event are not included).
    const relType = q.relType === undefined ? sql`` : sql` AND r.rel_type = ${q.relType}`;
    const eventType = q.eventType === undefined ? sql`` : sql` AND r.type = ${q.eventType}`;
    const bound = q.dir === 'b' ? sql`event_nid < ${q.from}` : sql`event_nid > ${q.from}`;
    const far = q.to === undefined ? sql`` : q.dir === 'b' ? sql` AND event_nid > ${q.to}` : sql` AND event_nid < ${q.to}`;
    const order = q.dir === 'b' ? sql`DESC` : sql`ASC`;
    const { rows } = await sql<{ event_nid: number }>`
      WITH RECURSIVE related(event_nid, event_id, depth) AS (
        SELECT r.event_nid, r.event_id, 1 FROM event_relations r
          WHERE r.relates_to = ${q.parentId} AND r.room_id = ${q.roomId}${relType}${eventType}
        UNION
        SELECT r.event_nid, r.event_id, related.depth + 1 FROM event_relations r
          JOIN related ON r.relates_to = related.event_id
          WHERE related.depth < ${q.depth} AND r.room_id = ${q.roomId}${relType}${eventType}
      )
      SELECT DISTINCT event_nid FROM related WHERE ${bound}${far} ORDER BY event_nid ${order} LIMIT ${q.limit}`.execute(this.db);
    return rows.map((r) => Number(r.event_nid));
  }

  /** Which of `parentIds` have children of each of `relTypes`: parent → rel_types present. */
  async relTypesPresent(parentIds: string[], relTypes: string[]): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (let i = 0; i < parentIds.length; i += 500) {
      const rows = await this.db.selectFrom('event_relations').select(['relates_to', 'rel_type']).distinct()
        .where('relates_to', 'in', parentIds.slice(i, i + 500)).where('rel_type', 'in', relTypes).execute();
      for (const r of rows) {
        let set = out.get(r.relates_to);
        if (!set) out.set(r.relates_to, set = new Set());
        set.add(r.rel_type);
      }
    }
    return out;
  }

  /**
   * Per thread root: how many m.thread children, the newest, and whether `userId` sent one;
   * children sent by `ignoredSenders` are not counted (spec: threading, `count`).
   */
  async threadSummaries(roots: string[], userId: string, ignoredSenders: string[] = []): Promise<ThreadSummaryRow[]> {
    const out: ThreadSummaryRow[] = [];
    for (let i = 0; i < roots.length; i += 500) {
      let sel = this.db.selectFrom('event_relations')
        .select((eb) => [
          'room_id', 'relates_to',
          eb.fn.countAll().as('count'),
          eb.fn.max('event_nid').as('latest'),
          eb.fn.sum(eb.case().when('sender', '=', userId).then(1).else(0).end()).as('mine'),
        ])
        .where('relates_to', 'in', roots.slice(i, i + 500)).where('rel_type', '=', 'm.thread');
      if (ignoredSenders.length) sel = sel.where('sender', 'not in', ignoredSenders);
      const rows = await sel.groupBy(['room_id', 'relates_to']).execute();
      for (const r of rows) out.push({ roomId: r.room_id, root: r.relates_to, count: Number(r.count), latestNid: Number(r.latest), userReplied: Number(r.mine) > 0 });
    }
    return out;
  }

  /**
   * Replacements of `parentIds` that can be valid (spec: "Validity of replacement events"):
   * same room, sender and type as the original, and not state events. Newest first by
   * origin_server_ts; ties are broken by the caller (event IDs compare by code point, which a
   * database collation may not do).
   */
  async editCandidates(parentIds: string[]): Promise<EditCandidate[]> {
    const out: EditCandidate[] = [];
    for (let i = 0; i < parentIds.length; i += 500) {
      const rows = await this.db.selectFrom('event_relations as r')
        .innerJoin('events as e', 'e.nid', 'r.event_nid')
        .innerJoin('events as p', 'p.event_id', 'r.relates_to')
        .select(['r.room_id', 'r.relates_to', 'r.event_nid', 'r.event_id', 'r.sender', 'e.origin_server_ts'])
        .where('r.relates_to', 'in', parentIds.slice(i, i + 500)).where('r.rel_type', '=', 'm.replace')
        .whereRef('p.room_id', '=', 'r.room_id').whereRef('p.sender', '=', 'r.sender').whereRef('p.type', '=', 'r.type')
        .where('e.state_key', 'is', null).where('p.state_key', 'is', null)
        .orderBy('e.origin_server_ts', 'desc').execute();
      for (const r of rows) out.push({ roomId: r.room_id, parentId: r.relates_to, eventNid: Number(r.event_nid), eventId: r.event_id, sender: r.sender, ts: Number(r.origin_server_ts) });
    }
    return out;
  }

  /** All children of `parentIds` with one rel_type, oldest first. */
  async childrenOf(parentIds: string[], relType: string): Promise<RelationRow[]> {
    const out: RelationRow[] = [];
    for (let i = 0; i < parentIds.length; i += 500) {
      const rows = await this.db.selectFrom('event_relations').select(['event_nid', 'event_id', 'room_id', 'relates_to', 'rel_type', 'sender'])
        .where('relates_to', 'in', parentIds.slice(i, i + 500)).where('rel_type', '=', relType).orderBy('event_nid').execute();
      for (const r of rows) out.push({ eventNid: Number(r.event_nid), eventId: r.event_id, roomId: r.room_id, relatesTo: r.relates_to, relType: r.rel_type, sender: r.sender });
    }
    return out;
  }

  /**
   * One page of a room's threads, newest activity first: roots the server has (accepted, not
   * soft-failed) whose newest reply is before `before`. With `participant`, only threads that
   * user started or replied to (spec: threads_list `include=participated`).
   */
  async threads(q: { roomId: string; before: number; limit: number; participant?: string }): Promise<ThreadRow[]> {
    let sel = this.db.selectFrom('threads as t')
      .innerJoin('events as root', (j) => j.onRef('root.event_id', '=', 't.thread_root').onRef('root.room_id', '=', 't.room_id'))
      .select(['t.thread_root', 't.latest_nid'])
      .where('t.room_id', '=', q.roomId).where('t.latest_nid', '<', q.before)
      .where('root.rejected_reason', 'is', null).where('root.soft_failed', '=', 0).where('root.outlier', '=', 0);
    const participant = q.participant;
    if (participant !== undefined) {
      sel = sel.where((eb) => eb.or([
        eb('root.sender', '=', participant),
        eb.exists(eb.selectFrom('event_relations as r').select('r.event_nid')
          .whereRef('r.relates_to', '=', 't.thread_root').whereRef('r.room_id', '=', 't.room_id')
          .where('r.rel_type', '=', 'm.thread').where('r.sender', '=', participant)),
      ]));
    }
    const rows = await sel.orderBy('t.latest_nid', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({ root: r.thread_root, latestNid: Number(r.latest_nid) }));
  }
}
