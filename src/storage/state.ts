// State snapshots: each state group is its parent's state plus a few deltas over interned
// (type, state_key) ids, so a 10,000-member room does not copy its state per event.
// A chain of parents is cut at MAX_CHAIN by writing a full snapshot.
import { sql } from 'kysely';
import { splitStateKey, stateKey, type StateKey } from '../core/pdu.js';
import type { DB, Tx } from './database.js';

/** (type, state_key) → event nid */
export type NidStateMap = Map<StateKey, number>;

const MAX_CHAIN = 100;
const CACHE_GROUPS = 512;

export class StateStore {
  private readonly keyIds = new Map<StateKey, number>();
  private readonly keysById = new Map<number, StateKey>();
  private readonly groups = new Map<number, NidStateMap>();

  constructor(private readonly db: DB) {}

  /**
   * Interns (type, state_key) pairs, creating ids for new ones. Runs outside any transaction
   * (an id handed out by a transaction that rolls back would be cached but not exist).
   */
  async internKeys(keys: Iterable<StateKey>): Promise<Map<StateKey, number>> {
    const db = this.db;
    const out = new Map<StateKey, number>();
    const missing: StateKey[] = [];
    for (const k of new Set(keys)) {
      const id = this.keyIds.get(k);
      if (id !== undefined) out.set(k, id);
      else missing.push(k);
    }
    for (let i = 0; i < missing.length; i += 200) {
      const chunk = missing.slice(i, i + 200);
      const rows = chunk.map((k) => { const [type, state_key] = splitStateKey(k); return { type, state_key }; });
      await db.insertInto('state_keys').values(rows).onConflict((oc) => oc.columns(['type', 'state_key']).doNothing()).execute();
      const found = await db.selectFrom('state_keys').select(['id', 'type', 'state_key'])
        .where((eb) => eb.or(rows.map((r) => eb.and([eb('type', '=', r.type), eb('state_key', '=', r.state_key)])))).execute();
      for (const f of found) this.remember(Number(f.id), stateKey(f.type, f.state_key));
    }
    for (const k of missing) out.set(k, this.keyIds.get(k) as number);
    return out;
  }

  /**
   * Stores `state` as a new group: as deltas over `parent` when the chain is short enough,
   * else in full. Returns the new group's id. Every key of `state` must have been interned.
   */
  async createGroup(tx: Tx, roomId: string, state: NidStateMap, parent: number | null): Promise<number> {
    let parentChain = -1;
    let parentState: NidStateMap | undefined;
    if (parent !== null) {
      const p = await tx.selectFrom('state_groups').select('chain').where('id', '=', parent).executeTakeFirstOrThrow();
      parentChain = p.chain;
      if (parentChain + 1 >= MAX_CHAIN) parent = null;
      else parentState = await this.loadGroup(parent, tx);
    }
    const deltas = new Map<StateKey, number | null>();
    if (parentState) {
      for (const [k, nid] of state) if (parentState.get(k) !== nid) deltas.set(k, nid);
      for (const k of parentState.keys()) if (!state.has(k)) deltas.set(k, null);
    } else {
      for (const [k, nid] of state) deltas.set(k, nid);
    }
    const inserted = await tx.insertInto('state_groups')
      .values({ room_id: roomId, parent, chain: parent === null ? 0 : parentChain + 1 })
      .returning('id').executeTakeFirstOrThrow();
    const groupId = Number(inserted.id);
    const rows = [...deltas].map(([k, nid]) => {
      const id = this.keyIds.get(k);
      if (id === undefined) throw new Error(`state key not interned: ${JSON.stringify(splitStateKey(k))}`);
      return { group_id: groupId, state_key_id: id, event_nid: nid };
    });
    for (let i = 0; i < rows.length; i += 500) await tx.insertInto('state_group_deltas').values(rows.slice(i, i + 500)).execute();
    return groupId;
  }

  /** Caches a group written by a committed transaction (an id from a rolled-back one may be reused). */
  rememberGroup(groupId: number, state: NidStateMap): void {
    this.cache(groupId, state);
  }

  /** The full state of a group. The returned map is shared: do not modify it. */
  async loadGroup(groupId: number, db: DB | Tx = this.db): Promise<NidStateMap> {
    const cached = this.groups.get(groupId);
    if (cached) return cached;
    // The chain from this group up to its full snapshot, deltas applied from the root down.
    const rows = await sql<{ id: number; chain: number; state_key_id: number; event_nid: number | null }>`
      WITH RECURSIVE chain_groups(id, parent, chain) AS (
        SELECT id, parent, chain FROM state_groups WHERE id = ${groupId}
        UNION ALL
        SELECT g.id, g.parent, g.chain FROM state_groups g JOIN chain_groups c ON g.id = c.parent
      )
      SELECT c.id AS id, c.chain AS chain, d.state_key_id AS state_key_id, d.event_nid AS event_nid
      FROM chain_groups c JOIN state_group_deltas d ON d.group_id = c.id
      ORDER BY c.chain ASC`.execute(db);
    await this.resolveKeyIds(db, rows.rows.map((r) => Number(r.state_key_id)));
    const state: NidStateMap = new Map();
    for (const r of rows.rows) {
      const k = this.keysById.get(Number(r.state_key_id)) as StateKey;
      if (r.event_nid === null) state.delete(k);
      else state.set(k, Number(r.event_nid));
    }
    this.cache(groupId, state);
    return state;
  }

  private async resolveKeyIds(db: DB | Tx, ids: number[]): Promise<void> {
    const unknown = [...new Set(ids)].filter((id) => !this.keysById.has(id));
    for (let i = 0; i < unknown.length; i += 500) {
      const rows = await db.selectFrom('state_keys').select(['id', 'type', 'state_key']).where('id', 'in', unknown.slice(i, i + 500)).execute();
      for (const r of rows) this.remember(Number(r.id), stateKey(r.type, r.state_key));
    }
  }

  private remember(id: number, k: StateKey): void {
    this.keyIds.set(k, id);
    this.keysById.set(id, k);
  }

  private cache(groupId: number, state: NidStateMap): void {
    if (this.groups.size >= CACHE_GROUPS) this.groups.delete(this.groups.keys().next().value as number);
    this.groups.set(groupId, state);
  }
}
