// Rooms and their events: the DAG (edges, auth events, forward extremities), each event's
// state group, current state, memberships and redactions. Written only by the persistence
// pipeline (services/rooms/pipeline.ts), one transaction per event.
import { splitStateKey, stateKey, type RoomEvent, type StateKey } from '../core/pdu.js';
import type { DB, Tx } from './database.js';
import type { NidStateMap, StateStore } from './state.js';
import { WriteBatcher } from './write-batcher.js';
import { indexRelations } from './relations.js';

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
  txn_user_id: string | null; txn_device_id: string | null; txn_id: string | null;
};

/**
 * Work that must commit with each event (the push actions of services/notifications.ts). It runs
 * inside the event's transaction, after the event and its relations are written and before the
 * current state changes; it must read through `tx` (SQLite has one connection).
 */
export type PersistHook = (tx: Tx, e: NewEvent, nid: number) => Promise<void>;

const EVENT_COLUMNS = ['nid', 'event_id', 'json', 'rejected_reason', 'soft_failed', 'outlier', 'state_group', 'replaces_state', 'txn_user_id', 'txn_device_id', 'txn_id'] as const;
const CACHE_EVENTS = 20_000;

export class EventStore {
  private readonly byId = new Map<string, StoredEvent>();
  private readonly byNid = new Map<number, StoredEvent>();
  private readonly rooms = new Map<string, RoomRow>();

  private readonly writer: WriteBatcher;
  private readonly persistHooks: PersistHook[] = [];

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
    const r = await this.db.selectFrom('events').select('event_id')
      .where('txn_user_id', '=', userId).where('txn_device_id', '=', deviceId).where('txn_id', '=', txnId).executeTakeFirst();
    return r?.event_id;
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
    const ev = e.event;
    const stateKeys: StateKey[] = ev.state_key === undefined ? [] : [stateKey(ev.type, ev.state_key)];
    if (e.stateAfter) stateKeys.push(...e.stateAfter.state.keys());
    if (current) stateKeys.push(...current.state.keys(), ...current.previous.keys());
    await this.state.internKeys(stateKeys);

    let groupState: NidStateMap | undefined;
    const { nid, group } = await this.writer.run(async (tx) => {
      if (newRoom) await this.insertRoom(tx, newRoom);
      const inserted = await tx.insertInto('events').values({
        event_id: ev.event_id, room_id: ev.room_id, type: ev.type, state_key: ev.state_key ?? null, sender: ev.sender,
        depth: ev.depth, origin_server_ts: ev.origin_server_ts, json: JSON.stringify(stripUnsigned(ev)),
        outlier: 0, rejected_reason: e.rejectedReason, soft_failed: e.softFailed ? 1 : 0,
        // A state event's group includes the event itself, so it is known only after the insert.
        state_group: e.stateAfter ? null : e.stateGroupBefore,
        replaces_state: e.replacesState,
        txn_user_id: e.txn?.userId ?? null, txn_device_id: e.txn?.deviceId ?? null, txn_id: e.txn?.txnId ?? null,
      }).returning('nid').executeTakeFirstOrThrow();
      const nid = Number(inserted.nid);

      let group = e.stateGroupBefore;
      if (e.stateAfter) {
        const after = new Map(e.stateAfter.state);
        if (ev.state_key !== undefined && e.rejectedReason === null) after.set(stateKey(ev.type, ev.state_key), nid);
        group = await this.state.createGroup(tx, ev.room_id, after, e.stateAfter.parent);
        groupState = after;
        await tx.updateTable('events').set({ state_group: group }).where('nid', '=', nid).execute();
      }

      const prevs = ev.prev_events.map(refId);
      if (prevs.length) await tx.insertInto('event_edges').values(prevs.map((p) => ({ event_nid: nid, prev_event_id: p }))).onConflict((oc) => oc.doNothing()).execute();
      const redacts = redactsOf(ev);
      if (ev.type === 'm.room.redaction' && redacts && e.rejectedReason === null) {
        await tx.insertInto('redactions').values({ redacts, redaction_id: ev.event_id }).onConflict((oc) => oc.doNothing()).execute();
        this.byId.delete(redacts);
      }
      // ---- relations index (storage/relations.ts): same transaction as the event ----
      await indexRelations(tx, e, nid);
      // ---- push actions and unread counts (services/notifications.ts): same transaction as the event ----
      for (const hook of this.persistHooks) await hook(tx, e, nid);

      if (current) {
        const state = new Map(current.state);
        if (current.group === 'self' && ev.state_key !== undefined && e.rejectedReason === null) state.set(stateKey(ev.type, ev.state_key), nid);
        await this.applyCurrentStateDelta(tx, ev.room_id, current.previous, state, ev, nid);
        const newGroup = current.group === 'self' ? group : current.group;
        await tx.updateTable('rooms').set({ current_state_group: newGroup, forward_extremities: JSON.stringify(current.extremities) })
          .where('room_id', '=', ev.room_id).execute();
      }
      return { nid, group };
    });

    if (group !== null && groupState) this.state.rememberGroup(group, groupState);
    this.remember({
      nid, event: ev, rejectedReason: e.rejectedReason, softFailed: e.softFailed, outlier: false, stateGroup: group,
      replacesState: e.replacesState, txn: e.txn,
    });
    if (newRoom) this.rooms.delete(newRoom.roomId);
    if (current) {
      const room = this.rooms.get(ev.room_id);
      if (room) this.rooms.set(ev.room_id, { ...room, currentStateGroup: current.group === 'self' ? group : current.group, forwardExtremities: current.extremities });
    }
    return nid;
  }

  /** Makes current_state and memberships match `next`, writing only what changed. */
  private async applyCurrentStateDelta(tx: Tx, roomId: string, previous: NidStateMap, next: NidStateMap, ev: RoomEvent, evNid: number): Promise<void> {
    const changed: Array<[StateKey, number]> = [];
    for (const [k, nid] of next) if (previous.get(k) !== nid) changed.push([k, nid]);
    const removed = [...previous.keys()].filter((k) => !next.has(k));
    // Membership values of the changed member events.
    const needed = changed.filter(([k]) => k.startsWith('m.room.member\u0000')).map(([, nid]) => nid).filter((n) => n !== evNid);
    const loaded = needed.length ? await this.getEventsByNidTx(tx, needed) : new Map<number, RoomEvent>();
    loaded.set(evNid, ev);
    for (const [k, nid] of changed) {
      const [type, key] = splitStateKey(k);
      const membership = type === 'm.room.member' ? membershipOf(loaded.get(nid)) : null;
      await tx.insertInto('current_state').values({ room_id: roomId, type, state_key: key, event_nid: nid, membership })
        .onConflict((oc) => oc.columns(['room_id', 'type', 'state_key']).doUpdateSet({ event_nid: nid, membership })).execute();
      if (type === 'm.room.member' && membership) {
        const joinNid = membership === 'join' ? nid : null;
        await tx.insertInto('memberships').values({ room_id: roomId, user_id: key, membership, event_nid: nid, forgotten: 0, last_join_nid: joinNid })
          .onConflict((oc) => oc.columns(['room_id', 'user_id']).doUpdateSet(joinNid === null ? { membership, event_nid: nid, forgotten: 0 } : { membership, event_nid: nid, forgotten: 0, last_join_nid: joinNid })).execute();
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
  };
}

function refId(ref: string | [string, unknown]): string {
  return typeof ref === 'string' ? ref : ref[0];
}

function redactsOf(ev: RoomEvent): string | undefined {
  const r = typeof ev.content.redacts === 'string' ? ev.content.redacts : ev.redacts;
  return typeof r === 'string' ? r : undefined;
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
