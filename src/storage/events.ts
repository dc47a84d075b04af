// Rooms and their events: the DAG (edges, auth events, forward extremities), each event's
// state group, current state, memberships and redactions. Written only by the persistence
// pipeline (services/rooms/pipeline.ts), one transaction per event.
import { splitStateKey, stateKey, type RoomEvent, type StateKey } from '../core/pdu.js';
import type { DB, Tx } from './database.js';
import type { NidStateMap, StateStore } from './state.js';
import { WriteBatcher, type Defer } from './write-batcher.js';
import { indexRelations } from './relations.js';
import { prepared } from './prepared.js';
import { redactionTarget } from './redactions.js';

export interface RoomRow {
  roomId: string;
  roomVersion: string;
  creator: string;
  isPublic: boolean;
  currentStateGroup: number | null;
  forwardExtremities: string[];
}

export interface StoredEvent {
  nid: number;
  event: RoomEvent;
  rejectedReason: string | null;
  softFailed: boolean;
  outlier: boolean;
  stateGroup: number | null;
  replacesState: string | null;
  txn: { userId: string; deviceId: string; txnId: string } | null;
  /** A backfilled event's timeline position (negative, below the room-events stream: migration 016); absent for the others, whose position is their nid. */
  backfillPos?: number;
}

/** An event of a room's earlier history, fetched with /backfill (services/federation/backfill.ts). */
export interface BackfilledEvent {
  event: RoomEvent;
  rejectedReason: string | null;
  /** The state before the event: exactly stored group `group`, or `state` (stored as deltas over `parent`). */
  before: { state: NidStateMap; group?: number; parent?: number | null };
  replacesState: string | null;
  /** Its timeline position: below every position the room has. */
  position: number;
}

export interface NewEvent {
  event: RoomEvent;
  rejectedReason: string | null;
  softFailed: boolean;
  /** The state after this event, or null when it equals the state group before it. */
  stateAfter: { state: NidStateMap; parent: number | null } | null;
  /** The group to record when `stateAfter` is null (the state before the event). */
  stateGroupBefore: number | null;
  replacesState: string | null;
  txn: { userId: string; deviceId: string; txnId: string } | null;
  /**
   * The nid of the outlier row this event already has (received in the timeline after being
   * held as an outlier): the row is updated in place, keeping the nid that state groups refer to.
   */
  outlierNid?: number;
}

export interface CurrentStateUpdate {
  /** The room's forward extremities after this event. */
  extremities: string[];
  /** The new current state, as a group id ('self' for the event's own state group) and its map. */
  group: number | 'self';
  state: NidStateMap;
  previous: NidStateMap;
}

type EventRow = {
  nid: number; event_id: string; json: string; rejected_reason: string | null; soft_failed: number;
  outlier: number; state_group: number | null; replaces_state: string | null;
  txn_user_id: string | null; txn_device_id: string | null; txn_id: string | null; backfill_pos: number | null;
};

/**
 * Work that must commit with each event (the push actions of services/notifications.ts, the
 * search index). It runs inside the event's transaction, after the event and its relations are
 * written and before the current state changes; it must read through `tx` (SQLite has one
 * connection). What it hands to `defer` runs at the end of the transaction (WriteBatcher.run).
 */
export type PersistHook = (tx: Tx, e: NewEvent, nid: number, defer: Defer) => Promise<void>;

// The statements every event runs, compiled once (storage/prepared.ts).
const insertEvent = prepared((db, p: {
  event_id: string; room_id: string; type: string; state_key: string | null; sender: string; depth: number;
  origin_server_ts: number; json: string; rejected_reason: string | null; soft_failed: number; state_group: number | null;
  replaces_state: string | null; txn_user_id: string | null; txn_device_id: string | null; txn_id: string | null;
}) => db.insertInto('events').values({
  event_id: p.event_id, room_id: p.room_id, type: p.type, state_key: p.state_key, sender: p.sender, depth: p.depth,
  origin_server_ts: p.origin_server_ts, json: p.json, outlier: 0, rejected_reason: p.rejected_reason, soft_failed: p.soft_failed,
  state_group: p.state_group, replaces_state: p.replaces_state, txn_user_id: p.txn_user_id, txn_device_id: p.txn_device_id, txn_id: p.txn_id,
}).returning('nid'));
/** An outlier taking its place in the DAG (NewEvent.outlierNid): its row becomes an ordinary event's. */
const placeOutlier = prepared((db, p: { nid: number; json: string; rejected_reason: string | null; soft_failed: number; state_group: number | null; replaces_state: string | null }) =>
  db.updateTable('events').set({ outlier: 0, json: p.json, rejected_reason: p.rejected_reason, soft_failed: p.soft_failed, state_group: p.state_group, replaces_state: p.replaces_state })
    .where('nid', '=', p.nid).where('outlier', '=', 1));
const setEventStateGroup = prepared((db, p: { nid: number; group: number }) =>
  db.updateTable('events').set({ state_group: p.group }).where('nid', '=', p.nid));
const insertEdge = prepared((db, p: { nid: number; prev: string }) =>
  db.insertInto('event_edges').values({ event_nid: p.nid, prev_event_id: p.prev }).onConflict((oc) => oc.doNothing()));
const updateRoomHead = prepared((db, p: { roomId: string; group: number | null; extremities: string }) =>
  db.updateTable('rooms').set({ current_state_group: p.group, forward_extremities: p.extremities }).where('room_id', '=', p.roomId));
const selectTxn = prepared((db, p: { userId: string; deviceId: string; txnId: string }) =>
  db.selectFrom('events').select('event_id').where('txn_user_id', '=', p.userId).where('txn_device_id', '=', p.deviceId).where('txn_id', '=', p.txnId));
const upsertCurrentState = prepared((db, p: { roomId: string; type: string; stateKey: string; nid: number; membership: string | null }) =>
  db.insertInto('current_state').values({ room_id: p.roomId, type: p.type, state_key: p.stateKey, event_nid: p.nid, membership: p.membership })
    .onConflict((oc) => oc.columns(['room_id', 'type', 'state_key']).doUpdateSet({ event_nid: p.nid, membership: p.membership })));
const upsertMembership = prepared((db, p: { roomId: string; userId: string; membership: string; nid: number }) =>
  db.insertInto('memberships').values({ room_id: p.roomId, user_id: p.userId, membership: p.membership, event_nid: p.nid, forgotten: 0, last_join_nid: null })
    .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet({ membership: p.membership, event_nid: p.nid, forgotten: 0 })));
const upsertJoin = prepared((db, p: { roomId: string; userId: string; nid: number }) =>
  db.insertInto('memberships').values({ room_id: p.roomId, user_id: p.userId, membership: 'join', event_nid: p.nid, forgotten: 0, last_join_nid: p.nid })
    .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet({ membership: 'join', event_nid: p.nid, forgotten: 0, last_join_nid: p.nid })));

const EVENT_COLUMNS = ['nid', 'event_id', 'json', 'rejected_reason', 'soft_failed', 'outlier', 'state_group', 'replaces_state', 'txn_user_id', 'txn_device_id', 'txn_id', 'backfill_pos'] as const;
const CACHE_EVENTS = 20_000;
/** Rows per multi-row insert (16 columns: well under either database's limit on parameters). */
const ROWS_PER_INSERT = 500;

/** The events row of a new event. A state event's group includes the event itself, so it is set after the insert. */
function eventRow(e: NewEvent) {
  const ev = e.event;
  return {
    event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: ev.state_key ?? null, sender: ev.sender,
    depth: ev.depth, origin_server_ts: ev.origin_server_ts, json: JSON.stringify(stripUnsigned(ev)),
    rejected_reason: e.rejectedReason, soft_failed: e.softFailed ? 1 : 0,
    state_group: e.stateAfter ? null : e.stateGroupBefore,
    replaces_state: e.replacesState,
    txn_user_id: e.txn?.userId ?? null, txn_device_id: e.txn?.deviceId ?? null, txn_id: e.txn?.txnId ?? null,
  };
}

export class EventStore {
  private readonly byId = new Map<string, StoredEvent>();
  private readonly byNid = new Map<number, StoredEvent>();
  private readonly rooms = new Map<string, RoomRow>();

  private readonly writer: WriteBatcher;
  private readonly persistHooks: PersistHook[] = [];
  /** The lowest nid handed to a backfilled event by this process (negative nids: persistBackfilled). */
  private lowestNid = 0;

  constructor(private readonly db: DB, readonly state: StateStore, groupCommit: boolean) {
    this.writer = new WriteBatcher(db, groupCommit);
  }

  /** Adds work to every event's transaction (see PersistHook). */
  onPersisting(hook: PersistHook): void {
    this.persistHooks.push(hook);
  }

  // ---- rooms ----

  async getRoom(roomId: string): Promise<RoomRow | undefined> {
    const cached = this.rooms.get(roomId);
    if (cached) return cached;
    const r = await this.db.selectFrom('rooms').selectAll().where('room_id', '=', roomId).executeTakeFirst();
    if (!r) return undefined;
    const row: RoomRow = {
      roomId: r.room_id, roomVersion: r.room_version, creator: r.creator, isPublic: r.is_public === 1,
      currentStateGroup: r.current_state_group === null ? null : Number(r.current_state_group),
      forwardExtremities: JSON.parse(r.forward_extremities) as string[],
    };
    this.rooms.set(roomId, row);
    return row;
  }

  async insertRoom(tx: Tx, r: { roomId: string; roomVersion: string; creator: string; now: number }): Promise<void> {
    await tx.insertInto('rooms').values({ room_id: r.roomId, room_version: r.roomVersion, creator: r.creator, is_public: 0, created_ts: r.now, current_state_group: null, forward_extremities: '[]' }).execute();
  }

  async setRoomPublic(roomId: string, isPublic: boolean): Promise<void> {
    await this.db.updateTable('rooms').set({ is_public: isPublic ? 1 : 0 }).where('room_id', '=', roomId).execute();
    const cached = this.rooms.get(roomId);
    if (cached) this.rooms.set(roomId, { ...cached, isPublic });
  }

  // ---- events ----

  async getEvent(eventId: string): Promise<StoredEvent | undefined> {
    return (await this.getEvents([eventId])).get(eventId);
  }

  async getEvents(eventIds: Iterable<string>): Promise<Map<string, StoredEvent>> {
    const out = new Map<string, StoredEvent>();
    const missing: string[] = [];
    for (const id of new Set(eventIds)) {
      const c = this.byId.get(id);
      if (c) out.set(id, c);
      else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += 500) {
      const rows = await this.db.selectFrom('events').select(EVENT_COLUMNS).where('event_id', 'in', missing.slice(i, i + 500)).execute();
      for (const r of rows) out.set(r.event_id, this.remember(toStored(r as EventRow)));
    }
    return out;
  }

  async getEventsByNid(nids: Iterable<number>): Promise<Map<number, StoredEvent>> {
    const out = new Map<number, StoredEvent>();
    const missing: number[] = [];
    for (const nid of new Set(nids)) {
      const c = this.byNid.get(nid);
      if (c) out.set(nid, c);
      else missing.push(nid);
    }
    for (let i = 0; i < missing.length; i += 500) {
      const rows = await this.db.selectFrom('events').select(EVENT_COLUMNS).where('nid', 'in', missing.slice(i, i + 500)).execute();
      for (const r of rows) out.set(Number(r.nid), this.remember(toStored(r as EventRow)));
    }
    return out;
  }

  async findTxn(userId: string, deviceId: string, txnId: string): Promise<string | undefined> {
    const r = await selectTxn(this.db, { userId, deviceId, txnId });
    return r.rows[0]?.event_id;
  }

  async forwardExtremities(roomId: string): Promise<string[]> {
    return (await this.getRoom(roomId))?.forwardExtremities ?? [];
  }

  /** The room's current state as (type, state_key) → event nid. Shared map: do not modify. */
  async currentState(roomId: string): Promise<NidStateMap> {
    const room = await this.getRoom(roomId);
    if (!room || room.currentStateGroup === null) return new Map();
    return this.state.loadGroup(room.currentStateGroup);
  }

  /** Writes one event and everything that follows from it, in one transaction. Returns its nid. */
  async persist(e: NewEvent, current: CurrentStateUpdate | null, newRoom?: { roomId: string; roomVersion: string; creator: string; now: number }): Promise<number> {
    return (await this.persistMany([{ e, current }], newRoom))[0]!;
  }

  /**
   * Writes events one after another, each as `persist` would, in one transaction: a run of
   * events received together shares one commit (on PostgreSQL a commit is a WAL flush). Each
   * item's `current` must already account for the items before it. Returns their nids.
   */
  async persistMany(items: ReadonlyArray<{ e: NewEvent; current: CurrentStateUpdate | null }>, newRoom?: { roomId: string; roomVersion: string; creator: string; now: number }): Promise<number[]> {
    // The keys of a new state group need ids; a message makes no group and needs none (its room's
    // state may have thousands of keys).
    for (const { e } of items) {
      if (!e.stateAfter) continue;
      const keys: StateKey[] = [...e.stateAfter.state.keys()];
      if (e.event.state_key !== undefined) keys.push(stateKey(e.event.type, e.event.state_key));
      await this.state.internKeys(keys);
    }

    const groupStates = new Map<number, NidStateMap>();
    const plain = items.length > 1 && !newRoom && items.every(({ e, current }) => !e.stateAfter && e.outlierNid === undefined && (!current || (current.group !== 'self' && current.state === current.previous)));
    const written = await this.writer.run(async (tx, defer) => {
      if (newRoom) await this.insertRoom(tx, newRoom);
      if (plain) return this.writePlainRun(tx, defer, items);
      const out: Array<{ nid: number; group: number | null }> = [];
      for (const { e, current } of items) out.push(await this.writeEvent(tx, defer, e, current, groupStates));
      return out;
    });

    if (newRoom) this.rooms.delete(newRoom.roomId);
    items.forEach(({ e, current }, i) => {
      const { nid, group } = written[i]!;
      const groupState = group === null ? undefined : groupStates.get(group);
      if (group !== null && groupState) this.state.rememberGroup(group, groupState);
      this.remember({
        nid, event: e.event, rejectedReason: e.rejectedReason, softFailed: e.softFailed, outlier: false, stateGroup: group,
        replacesState: e.replacesState, txn: e.txn,
      });
      if (current) {
        const room = this.rooms.get(e.event.room_id);
        if (room) this.rooms.set(e.event.room_id, { ...room, currentStateGroup: current.group === 'self' ? group : current.group, forwardExtremities: current.extremities });
      }
    });
    return written.map((w) => w.nid);
  }

  /** The writes of one event inside a transaction (persistMany). A new state group's contents go into `groupStates`. */
  private async writeEvent(tx: Tx, defer: Defer, e: NewEvent, current: CurrentStateUpdate | null, groupStates: Map<number, NidStateMap>): Promise<{ nid: number; group: number | null }> {
    const ev = e.event;
    const row = eventRow(e);
    let nid: number;
    if (e.outlierNid === undefined) {
      nid = Number((await insertEvent(tx, row)).rows[0].nid);
    } else {
      // Held as an outlier until now: the same row (its nid is in state groups) takes its place.
      nid = e.outlierNid;
      const updated = await placeOutlier(tx, { nid, json: row.json, rejected_reason: row.rejected_reason, soft_failed: row.soft_failed, state_group: row.state_group, replaces_state: row.replaces_state });
      if (Number(updated.numAffectedRows ?? 0) !== 1) throw new Error(`event ${ev.event_id} is not an outlier any more`);
    }

    let group = e.stateGroupBefore;
    if (e.stateAfter) {
      const after = new Map(e.stateAfter.state);
      if (ev.state_key !== undefined && e.rejectedReason === null) after.set(stateKey(ev.type, ev.state_key), nid);
      group = await this.state.createGroup(tx, ev.room_id, after, e.stateAfter.parent);
      groupStates.set(group, after);
      await setEventStateGroup(tx, { nid, group });
    }

    for (const prev of new Set(ev.prev_events.map(refId))) await insertEdge(tx, { nid, prev });
    await this.writeFollowing(tx, defer, e, nid);

    if (current) {
      const addsItself = current.group === 'self' && ev.state_key !== undefined && e.rejectedReason === null;
      // A message leaves the current state as it was: nothing to compare (or copy) then.
      if (addsItself || current.state !== current.previous) {
        const state = new Map(current.state);
        if (addsItself) state.set(stateKey(ev.type, ev.state_key as string), nid);
        await this.applyCurrentStateDelta(tx, ev.room_id, current.previous, state, ev, nid);
      }
      const newGroup = current.group === 'self' ? group : current.group;
      await updateRoomHead(tx, { roomId: ev.room_id, group: newGroup, extremities: JSON.stringify(current.extremities) });
    }
    return { nid, group };
  }

  /** What follows from an event once its row and edges are written: its redaction, relation, push actions and search entry. */
  private async writeFollowing(tx: Tx, defer: Defer, e: NewEvent, nid: number): Promise<void> {
    const ev = e.event;
    const redacts = e.rejectedReason === null ? await redactionTarget(tx, ev) : undefined;
    if (redacts !== undefined) {
      await tx.insertInto('redactions').values({ redacts, redaction_id: ev.event_id }).onConflict((oc) => oc.doNothing()).execute();
      this.byId.delete(redacts);
    }
    // ---- relations index (storage/relations.ts): same transaction as the event ----
    await indexRelations(tx, e, nid);
    // ---- push actions and unread counts (services/notifications.ts), search: same transaction as the event ----
    for (const hook of this.persistHooks) await hook(tx, e, nid, defer);
  }

  /**
   * persistMany for events that make no state group and leave the current state as it was (a
   * run of messages received together): their rows and edges in multi-row statements, the
   * room's head written once, after the last of them.
   */
  private async writePlainRun(tx: Tx, defer: Defer, items: ReadonlyArray<{ e: NewEvent; current: CurrentStateUpdate | null }>): Promise<Array<{ nid: number; group: number | null }>> {
    const nids = new Map<string, number>();
    for (let i = 0; i < items.length; i += ROWS_PER_INSERT) {
      const rows = await tx.insertInto('events').values(items.slice(i, i + ROWS_PER_INSERT).map(({ e }) => ({ ...eventRow(e), outlier: 0 })))
        .returning(['nid', 'event_id']).execute();
      for (const r of rows) nids.set(r.event_id, Number(r.nid));
    }
    const nidOf = (e: NewEvent) => nids.get(e.event.event_id)!;
    const edges = items.flatMap(({ e }) => [...new Set(e.event.prev_events.map(refId))].map((prev) => ({ event_nid: nidOf(e), prev_event_id: prev })));
    for (let i = 0; i < edges.length; i += ROWS_PER_INSERT) {
      await tx.insertInto('event_edges').values(edges.slice(i, i + ROWS_PER_INSERT)).onConflict((oc) => oc.doNothing()).execute();
    }
    for (const { e } of items) await this.writeFollowing(tx, defer, e, nidOf(e));
    const heads = new Map<string, CurrentStateUpdate>();
    for (const { e, current } of items) if (current) heads.set(e.event.room_id, current);
    for (const [roomId, current] of heads) {
      await updateRoomHead(tx, { roomId, group: current.group as number | null, extremities: JSON.stringify(current.extremities) });
    }
    return items.map(({ e }) => ({ nid: nidOf(e), group: e.stateGroupBefore }));
  }

  // ---- federation: a room's earlier history ----

  /**
   * Writes one backfilled event: its state group, edges and redaction, at timeline position
   * `position` (migration 016). Unlike `persist` it leaves the room's current state and forward
   * extremities alone and runs no persist hooks (push actions, search): old history is neither
   * news nor a notification. An event held as an outlier takes its place in the DAG (it keeps its
   * nid, which state refers to); a new one gets a negative nid, below the room-events stream,
   * so that no stream reader (/sync) ever takes it for a new event. An event already in the
   * timeline is left as it is. Returns the stored event.
   */
  async persistBackfilled(e: BackfilledEvent): Promise<StoredEvent> {
    const ev = e.event;
    const needsGroup = ev.state_key !== undefined || e.before.group === undefined;
    if (needsGroup) {
      const keys: StateKey[] = [...e.before.state.keys()];
      if (ev.state_key !== undefined) keys.push(stateKey(ev.type, ev.state_key));
      await this.state.internKeys(keys);
    }
    let groupState: NidStateMap | undefined;
    const result = await this.writer.run(async (tx) => {
      const existing = await tx.selectFrom('events').select(['nid', 'outlier']).where('event_id', '=', ev.event_id).executeTakeFirst();
      if (existing && existing.outlier === 0) return { nid: Number(existing.nid), group: null, fresh: false, skipped: true };
      let nid: number;
      if (existing) {
        nid = Number(existing.nid);
      } else {
        const min = await tx.selectFrom('events').select((eb) => eb.fn.min('nid').as('min')).executeTakeFirst();
        // Synchronous from here to the insert: concurrent backfills of other rooms get other nids.
        nid = Math.min(Number(min?.min ?? 0), this.lowestNid, 0) - 1;
        this.lowestNid = nid;
        await tx.insertInto('events').values({
          nid, event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: ev.state_key ?? null, sender: ev.sender,
          depth: ev.depth, origin_server_ts: ev.origin_server_ts, json: JSON.stringify(stripUnsigned(ev)),
          outlier: 0, rejected_reason: e.rejectedReason, soft_failed: 0, state_group: null, replaces_state: e.replacesState,
          txn_user_id: null, txn_device_id: null, txn_id: null, backfill_pos: e.position,
        }).execute();
      }
      let group = e.before.group ?? null;
      if (needsGroup) {
        const after = new Map(e.before.state);
        if (ev.state_key !== undefined && e.rejectedReason === null) after.set(stateKey(ev.type, ev.state_key), nid);
        group = await this.state.createGroup(tx, ev.room_id, after, e.before.group ?? e.before.parent ?? null);
        groupState = after;
      }
      await tx.updateTable('events').set({
        outlier: 0, state_group: group, backfill_pos: e.position, rejected_reason: e.rejectedReason, replaces_state: e.replacesState,
      }).where('nid', '=', nid).execute();
      for (const prev of new Set(ev.prev_events.map(refId))) await insertEdge(tx, { nid, prev });
      const redacts = e.rejectedReason === null ? await redactionTarget(tx, ev) : undefined;
      if (redacts !== undefined) {
        await tx.insertInto('redactions').values({ redacts, redaction_id: ev.event_id }).onConflict((oc) => oc.doNothing()).execute();
        this.byId.delete(redacts);
      }
      return { nid, group, fresh: !existing, skipped: false };
    });
    if (result.skipped) return (await this.getEventsByNid([result.nid])).get(result.nid)!;
    if (result.group !== null && groupState) this.state.rememberGroup(result.group, groupState);
    return this.remember({
      nid: result.nid, event: ev, rejectedReason: e.rejectedReason, softFailed: false, outlier: false, stateGroup: result.group,
      replacesState: e.replacesState, txn: null, backfillPos: e.position,
    });
  }

  // ---- federation: events we hold without their place in the DAG ----

  /**
   * Stores events as outliers (spec: server-server-api "outliers"): auth-chain and state events
   * fetched from other servers, kept for auth checks and state but never in a timeline, without
   * edges or state groups. Events already known are left alone. Returns every event's nid.
   */
  async persistOutliers(events: ReadonlyArray<{ event: RoomEvent; rejectedReason: string | null }>): Promise<Map<string, number>> {
    return this.writer.run((tx) => this.insertOutliers(tx, events));
  }

  private async insertOutliers(tx: Tx, events: ReadonlyArray<{ event: RoomEvent; rejectedReason: string | null }>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const unique = new Map(events.map((e) => [e.event.event_id, e]));
    const ids = [...unique.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await tx.selectFrom('events').select(['nid', 'event_id']).where('event_id', 'in', ids.slice(i, i + 500)).execute();
      for (const r of rows) { out.set(r.event_id, Number(r.nid)); unique.delete(r.event_id); }
    }
    const fresh = [...unique.values()];
    for (let i = 0; i < fresh.length; i += 400) {
      const rows = fresh.slice(i, i + 400).map(({ event: ev, rejectedReason }) => ({
        event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: ev.state_key ?? null, sender: ev.sender,
        depth: ev.depth, origin_server_ts: ev.origin_server_ts, json: JSON.stringify(stripUnsigned(ev)),
        outlier: 1, rejected_reason: rejectedReason, soft_failed: 0, state_group: null, replaces_state: null,
        txn_user_id: null, txn_device_id: null, txn_id: null,
      }));
      const inserted = await tx.insertInto('events').values(rows).returning(['nid', 'event_id']).execute();
      for (const r of inserted) out.set(r.event_id, Number(r.nid));
    }
    return out;
  }

  /**
   * A room joined over federation: its row, the state and auth chain the resident server sent
   * (as outliers), a state group for that state, and the room's current state, in one transaction
   * and in bulk (a 10,000-member room is 10,000 rows per table, not 10,000 statements). The join
   * event itself goes through `persist` afterwards, on top of the returned group.
   * `state` maps (type, state_key) to event IDs among `events` (or already stored).
   */
  async importRoomState(
    room: { roomId: string; roomVersion: string; creator: string; now: number },
    events: ReadonlyArray<{ event: RoomEvent; rejectedReason: string | null }>,
    state: ReadonlyMap<StateKey, string>,
  ): Promise<{ group: number; state: NidStateMap }> {
    await this.state.internKeys(state.keys());
    const result = await this.writer.run(async (tx) => {
      await tx.insertInto('rooms').values({ room_id: room.roomId, room_version: room.roomVersion, creator: room.creator, is_public: 0, created_ts: room.now, current_state_group: null, forward_extremities: '[]' })
        .onConflict((oc) => oc.column('room_id').doNothing()).execute();
      const nids = await this.insertOutliers(tx, events);
      const nidState: NidStateMap = new Map();
      for (const [k, id] of state) {
        const nid = nids.get(id);
        if (nid !== undefined) nidState.set(k, nid);
      }
      const group = await this.state.createGroup(tx, room.roomId, nidState, null);
      const byId = new Map(events.map((e) => [e.event.event_id, e.event]));
      const currentRows: Array<{ room_id: string; type: string; state_key: string; event_nid: number; membership: string | null }> = [];
      for (const [k, nid] of nidState) {
        const [type, key] = splitStateKey(k);
        currentRows.push({ room_id: room.roomId, type, state_key: key, event_nid: nid, membership: type === 'm.room.member' ? membershipOf(byId.get(state.get(k)!)) : null });
      }
      await tx.deleteFrom('current_state').where('room_id', '=', room.roomId).execute();
      for (let i = 0; i < currentRows.length; i += 400) await tx.insertInto('current_state').values(currentRows.slice(i, i + 400)).execute();
      const memberRows = currentRows.filter((r) => r.type === 'm.room.member' && r.membership !== null)
        .map((r) => ({ room_id: room.roomId, user_id: r.state_key, membership: r.membership!, event_nid: r.event_nid, forgotten: 0, last_join_nid: r.membership === 'join' ? r.event_nid : null }));
      for (let i = 0; i < memberRows.length; i += 400) {
        await tx.insertInto('memberships').values(memberRows.slice(i, i + 400))
          .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet((eb) => ({ membership: eb.ref('excluded.membership'), event_nid: eb.ref('excluded.event_nid') }))).execute();
      }
      // Extremities from an earlier stay in the room are not ours to build on any more.
      await tx.updateTable('rooms').set({ current_state_group: group, forward_extremities: '[]' }).where('room_id', '=', room.roomId).execute();
      // Invites and knocks recorded while we were outside the room have no place in its DAG
      // here: from now on they are outliers, out of the timeline that starts at our join.
      await tx.updateTable('events').set({ outlier: 1 }).where('room_id', '=', room.roomId).where('outlier', '=', 0).where('state_group', 'is', null).execute();
      return { group, state: nidState };
    });
    this.state.rememberGroup(result.group, result.state);
    this.rooms.delete(room.roomId);
    for (const [id, s] of [...this.byId]) {
      if (s.event.room_id === room.roomId && s.stateGroup === null && !s.outlier) { this.byId.delete(id); this.byNid.delete(s.nid); }
    }
    return result;
  }

  /**
   * A membership of a local user in a room this server is not in (an invite from another
   * server, or its rejection): the member event as an ordinary event without state, the
   * user's memberships row, and the stripped state the client sees with the invite.
   * Returns the event's nid.
   */
  async recordOutOfRoomMembership(ev: RoomEvent, strippedState: unknown[] | null): Promise<number> {
    const membership = membershipOf(ev) ?? 'leave';
    const nid = await this.writer.run(async (tx) => {
      const existing = await tx.selectFrom('events').select('nid').where('event_id', '=', ev.event_id).executeTakeFirst();
      const nid = existing ? Number(existing.nid) : Number((await tx.insertInto('events').values({
        event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: ev.state_key ?? null, sender: ev.sender,
        depth: ev.depth, origin_server_ts: ev.origin_server_ts, json: JSON.stringify(stripUnsigned(ev)),
        outlier: 0, rejected_reason: null, soft_failed: 0, state_group: null, replaces_state: null,
        txn_user_id: null, txn_device_id: null, txn_id: null,
      }).returning('nid').executeTakeFirstOrThrow()).nid);
      await tx.insertInto('memberships').values({ room_id: ev.room_id, user_id: ev.state_key!, membership, event_nid: nid, forgotten: 0, last_join_nid: null })
        .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet({ membership, event_nid: nid, forgotten: 0 })).execute();
      if (strippedState !== null) {
        await tx.insertInto('invite_stripped_state').values({ event_id: ev.event_id, state: JSON.stringify(strippedState) })
          .onConflict((oc) => oc.column('event_id').doNothing()).execute();
      }
      return nid;
    });
    this.byId.delete(ev.event_id);
    return nid;
  }

  /**
   * Moves a room's current state and forward extremities after an event received over
   * federation was persisted (with `current: null`): to `group` when given (the state after that
   * event), else to a new group holding `next` (a resolved state) over the current group.
   */
  async updateCurrentState(roomId: string, u: { group?: number; next: NidStateMap; extremities: string[] }): Promise<void> {
    const room = await this.getRoom(roomId);
    if (!room) throw new Error(`unknown room ${roomId}`);
    if (u.group !== undefined && u.group === room.currentStateGroup) {
      // A message on top of the current state: only the extremities move.
      await this.writer.run((tx) => tx.updateTable('rooms').set({ forward_extremities: JSON.stringify(u.extremities) }).where('room_id', '=', roomId).execute());
      this.rooms.set(roomId, { ...room, forwardExtremities: u.extremities });
      return;
    }
    const previous = room.currentStateGroup === null ? new Map<StateKey, number>() : await this.state.loadGroup(room.currentStateGroup);
    await this.state.internKeys(u.next.keys());
    const group = await this.writer.run(async (tx) => {
      const group = u.group ?? await this.state.createGroup(tx, roomId, u.next, room.currentStateGroup);
      await this.applyCurrentStateDelta(tx, roomId, previous, u.next, undefined, -1);
      await tx.updateTable('rooms').set({ current_state_group: group, forward_extremities: JSON.stringify(u.extremities) }).where('room_id', '=', roomId).execute();
      return group;
    });
    if (u.group === undefined) this.state.rememberGroup(group, u.next);
    this.rooms.set(roomId, { ...room, currentStateGroup: group, forwardExtremities: u.extremities });
  }

  /** The stripped state another server sent with an invite (recordOutOfRoomMembership). */
  async strippedStateOf(eventId: string): Promise<unknown[] | undefined> {
    const r = await this.db.selectFrom('invite_stripped_state').select('state').where('event_id', '=', eventId).executeTakeFirst();
    return r ? (JSON.parse(r.state) as unknown[]) : undefined;
  }

  /** Makes current_state and memberships match `next`, writing only what changed. */
  private async applyCurrentStateDelta(tx: Tx, roomId: string, previous: NidStateMap, next: NidStateMap, ev: RoomEvent | undefined, evNid: number): Promise<void> {
    const changed: Array<[StateKey, number]> = [];
    for (const [k, nid] of next) if (previous.get(k) !== nid) changed.push([k, nid]);
    const removed = [...previous.keys()].filter((k) => !next.has(k));
    // Membership values of the changed member events.
    const needed = changed.filter(([k]) => k.startsWith('m.room.member\u0000')).map(([, nid]) => nid).filter((n) => n !== evNid);
    const loaded = needed.length ? await this.getEventsByNidTx(tx, needed) : new Map<number, RoomEvent>();
    if (ev) loaded.set(evNid, ev);
    for (const [k, nid] of changed) {
      const [type, key] = splitStateKey(k);
      const membership = type === 'm.room.member' ? membershipOf(loaded.get(nid)) : null;
      await upsertCurrentState(tx, { roomId, type, stateKey: key, nid, membership });
      if (type === 'm.room.member' && membership) {
        if (membership === 'join') await upsertJoin(tx, { roomId, userId: key, nid });
        else await upsertMembership(tx, { roomId, userId: key, membership, nid });
      }
    }
    for (const k of removed) {
      const [type, key] = splitStateKey(k);
      await tx.deleteFrom('current_state').where('room_id', '=', roomId).where('type', '=', type).where('state_key', '=', key).execute();
      if (type === 'm.room.member') await tx.deleteFrom('memberships').where('room_id', '=', roomId).where('user_id', '=', key).execute();
    }
  }

  private async getEventsByNidTx(tx: Tx, nids: number[]): Promise<Map<number, RoomEvent>> {
    const out = new Map<number, RoomEvent>();
    const missing = nids.filter((n) => {
      const c = this.byNid.get(n);
      if (c) out.set(n, c.event);
      return !c;
    });
    for (let i = 0; i < missing.length; i += 500) {
      const rows = await tx.selectFrom('events').select(['nid', 'json']).where('nid', 'in', missing.slice(i, i + 500)).execute();
      for (const r of rows) out.set(Number(r.nid), JSON.parse(r.json) as RoomEvent);
    }
    return out;
  }

  private remember(s: StoredEvent): StoredEvent {
    if (this.byId.size >= CACHE_EVENTS) {
      const oldest = this.byId.values().next().value as StoredEvent;
      this.byId.delete(oldest.event.event_id);
      this.byNid.delete(oldest.nid);
    }
    this.byId.set(s.event.event_id, s);
    this.byNid.set(s.nid, s);
    return s;
  }
}

function toStored(r: EventRow): StoredEvent {
  return {
    nid: Number(r.nid),
    event: JSON.parse(r.json) as RoomEvent,
    rejectedReason: r.rejected_reason,
    softFailed: r.soft_failed === 1,
    outlier: r.outlier === 1,
    stateGroup: r.state_group === null ? null : Number(r.state_group),
    replacesState: r.replaces_state,
    txn: r.txn_user_id && r.txn_device_id && r.txn_id ? { userId: r.txn_user_id, deviceId: r.txn_device_id, txnId: r.txn_id } : null,
    ...(r.backfill_pos === null ? {} : { backfillPos: Number(r.backfill_pos) }),
  };
}

function refId(ref: string | [string, unknown]): string {
  return typeof ref === 'string' ? ref : ref[0];
}



function membershipOf(ev: RoomEvent | undefined): string | null {
  const m = ev?.content.membership;
  return typeof m === 'string' ? m : null;
}

function stripUnsigned(ev: RoomEvent): RoomEvent {
  if (ev.unsigned === undefined) return ev;
  const { unsigned: _u, ...rest } = ev;
  return rest as RoomEvent;
}
