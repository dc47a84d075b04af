// Backfill: a room's history from before this server was in it, fetched from the servers that
// hold it when a local user pages /messages back past the oldest events we have (typically
// our own join's prev events, for a room joined over federation).
//
// Every event of an answer passes the checks of any received event: format, signatures and
// hashes (event-checks.ts), its own auth events (fetched with /event_auth when missing), and
// the state before it (from its prev events when we hold them, else /state_ids at it from the
// answering server). Events failing 1–2 are dropped, those failing 4–5 stored rejected (never
// shown). There is no soft-failure check: history cannot fail against the current state.
// Backfilled events take timeline positions below everything the room has
// (EventStore.persistBackfilled, migration 016): they change neither the room's current state
// nor its forward extremities, and /sync, push and search never see them as new.
// spec: server-server-api "Backfilling and retrieving missing events" (GET /backfill),
// "Checks performed on receipt of a PDU"
import type { Logger } from 'pino';
import { authorizeEvent } from '../../core/auth.js';
import { isCreateEvent, referencedEventId } from '../../core/events.js';
import { domainOf } from '../../core/identifiers.js';
import { stateKey, type RoomEvent } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';
import type { ServerAcls } from './acl.js';
import { checkPdus, type FederationRequester, type KeySource } from './event-checks.js';
import type { FederationEventHandler } from './receive.js';
import { authStateFrom, resolveStoredStates } from './room-state.js';

/** Events asked for per /backfill, and the most taken from one answer (whatever it holds). */
export const BACKFILL_BATCH = 100;
/** Backward extremities named per request (`v`). */
const MAX_EXTREMITIES = 20;
/** Servers tried per backfill. */
const MAX_SERVERS = 5;
/** A server that failed is not asked again for this long. */
const SERVER_RETRY_MS = 60_000;
/** The same extremities, once no server had anything for them, are not asked about again for this long. */
const NOTHING_MORE_MS = 60_000;

export interface BackfillDeps {
  storage: Storage;
  keys: KeySource;
  client: FederationRequester;
  acl: ServerAcls;
  /** For its checks of received events (storeOutliers, checkAgainstAuthEvents). */
  events: FederationEventHandler;
  serverName: string;
  log: Logger;
  now?: () => number;
  /** Events per /backfill (default BACKFILL_BATCH). */
  batch?: number;
}

type StateBefore = { state: NidStateMap; group?: number; parent?: number | null };

export class FederationBackfill {
  private readonly running = new Map<string, Promise<number>>();
  private readonly serverFailedAt = new Map<string, number>();
  private readonly nothingMore = new Map<string, { key: string; at: number }>();
  /** Rooms whose history we hold back to their create event. */
  private readonly complete = new Set<string>();
  private readonly batch: number;

  constructor(private readonly d: BackfillDeps) {
    this.batch = Math.max(1, Math.min(d.batch ?? BACKFILL_BATCH, BACKFILL_BATCH));
  }

  private now(): number {
    return (this.d.now ?? Date.now)();
  }

  /**
   * Fetches the history just before the oldest events we hold of a room, one batch; resolves
   * to how many events it added to the timeline (0: none to add, or none could be had). One
   * backfill per room at a time: a caller arriving meanwhile shares the running one.
   */
  backfill(roomId: string): Promise<number> {
    if (this.complete.has(roomId)) return Promise.resolve(0);
    const running = this.running.get(roomId);
    if (running) return running;
    const p = this.run(roomId).catch((err: unknown) => {
      this.d.log.error({ err, roomId }, 'backfill failed');
      return 0;
    }).finally(() => this.running.delete(roomId));
    this.running.set(roomId, p);
    return p;
  }

  private async run(roomId: string): Promise<number> {
    const room = await this.d.storage.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version) return 0;
    const extremities = (await this.d.storage.rooms.backwardExtremities(roomId)).slice(0, MAX_EXTREMITIES);
    if (extremities.length === 0) {
      this.complete.add(roomId);
      return 0;
    }
    const key = extremities.join('\u0000');
    const tried = this.nothingMore.get(roomId);
    if (tried && tried.key === key && this.now() - tried.at < NOTHING_MORE_MS) return 0;
    for (const server of await this.servers(roomId, room.creator)) {
      let pdus: unknown;
      try {
        const r = await this.d.client.request<{ pdus?: unknown }>(server, 'GET', `/_matrix/federation/v1/backfill/${encodeURIComponent(roomId)}`, {
          query: { v: extremities, limit: String(this.batch) },
        });
        pdus = r.pdus;
      } catch (err) {
        this.d.log.info({ err, server, roomId }, 'backfill request failed');
        this.serverFailedAt.set(server, this.now());
        continue;
      }
      const added = await this.take(server, version, roomId, Array.isArray(pdus) ? pdus : []);
      if (added.refused > 0) this.d.log.info({ server, roomId, refused: added.refused }, 'a backfill answer held PDUs that were refused');
      if (added.accepted > 0) {
        this.nothingMore.delete(roomId);
        return added.accepted;
      }
    }
    this.nothingMore.set(roomId, { key, at: this.now() });
    return 0;
  }

  /**
   * The servers to ask: those of the room's joined members, the creator's first, then by how
   * many members they have; not ourselves, not one that failed lately, none the ACL denies.
   */
  private async servers(roomId: string, creator: string): Promise<string[]> {
    const counts = new Map<string, number>();
    for (const userId of await this.d.storage.rooms.joinedMemberIds(roomId)) {
      const server = domainOf(userId);
      if (server !== undefined && server !== this.d.serverName) counts.set(server, (counts.get(server) ?? 0) + 1);
    }
    const first = domainOf(creator);
    const ordered = [...counts].sort(([a, n], [b, m]) => Number(b === first) - Number(a === first) || m - n || (a < b ? -1 : 1)).map(([s]) => s);
    const out: string[] = [];
    for (const server of ordered) {
      const failed = this.serverFailedAt.get(server);
      if (failed !== undefined && this.now() - failed < SERVER_RETRY_MS) continue;
      if (!(await this.d.acl.allows(roomId, server))) continue;
      out.push(server);
      if (out.length === MAX_SERVERS) break;
    }
    return out;
  }

  /**
   * One /backfill answer: checked, and the events we do not have in the timeline placed below
   * it, oldest first. `accepted`: events now visible in the timeline; `refused`: PDUs dropped.
   */
  private async take(server: string, version: RoomVersion, roomId: string, raws: unknown[]): Promise<{ accepted: number; refused: number }> {
    const events = this.d.storage.events;
    // A flood is cut to what was asked for; other rooms' events are not ours to judge here (a
    // v12 create event names no room: its ID is the room's, checked once parsed).
    const ofRoom = raws.slice(0, this.batch).filter((r) => {
      const named = typeof r === 'object' && r !== null ? (r as Record<string, unknown>).room_id : undefined;
      return named === roomId || (named === undefined && typeof r === 'object' && r !== null);
    });
    const checked = await checkPdus(this.d.keys, version, ofRoom);
    let refused = raws.length - ofRoom.length;
    const byId = new Map<string, RoomEvent>();
    for (const c of checked) {
      if (!c.ok) {
        refused++;
        this.d.log.info({ server, roomId, eventId: c.eventId, error: c.error }, 'refused a backfilled PDU');
        continue;
      }
      if (c.event.room_id !== roomId) refused++;
      else if (!byId.has(c.event.event_id)) byId.set(c.event.event_id, c.event);
    }
    const known = await events.getEvents(byId.keys());
    const todo: RoomEvent[] = [];
    const heldBefore = new Map<string, StoredEvent>();
    for (const [id, ev] of byId) {
      const s = known.get(id);
      if (s && !s.outlier) continue; // in the timeline already
      if (s) {
        // Held as an outlier (state or auth chain from the join): our copy, already judged.
        heldBefore.set(id, s);
        todo.push(s.event);
      } else if (!isCreateEvent(ev)) {
        // The room's create event came with the join; another one is not this room's.
        todo.push(ev);
      }
    }
    if (todo.length === 0) return { accepted: 0, refused };

    const ordered = oldestFirst(todo);
    const base = await this.d.storage.rooms.lowestBackfillPosition(roomId);
    let accepted = 0;
    for (const [i, ev] of ordered.entries()) {
      const position = base - ordered.length + i;
      const held = heldBefore.get(ev.event_id);
      // Check 4: the event's own auth events.
      let reason: string | null;
      if (held) {
        reason = held.rejectedReason;
      } else {
        const auth = await this.d.events.ensureAuthEvents(server, version, ev);
        if (!auth) {
          this.d.log.info({ server, eventId: ev.event_id }, 'dropped a backfilled event: its auth events could not be obtained');
          continue;
        }
        reason = this.d.events.checkAgainstAuthEvents(version, ev, auth);
      }
      // Check 5: the state before the event.
      const before = await this.stateBefore(server, version, ev);
      if (!before) {
        this.d.log.info({ server, eventId: ev.event_id }, 'dropped a backfilled event: the state before it could not be obtained');
        continue;
      }
      if (reason === null) {
        const verdict = authorizeEvent(version, ev, await authStateFrom(events, version, before.state, ev));
        if (!verdict.ok) reason = verdict.reason;
      }
      const replacedNid = ev.state_key === undefined ? undefined : before.state.get(stateKey(ev.type, ev.state_key));
      const replacesState = replacedNid === undefined ? null : (await events.getEventsByNid([replacedNid])).get(replacedNid)?.event.event_id ?? null;
      await events.persistBackfilled({ event: ev, rejectedReason: reason, before, replacesState, position });
      if (reason === null) accepted++;
      else this.d.log.info({ server, eventId: ev.event_id, reason }, 'rejected a backfilled event');
    }
    return { accepted, refused };
  }

  /**
   * The state before a backfilled event: from its prev events when we hold them in the DAG
   * (resolved when several), else what the answering server says it was (/state_ids at it).
   */
  private async stateBefore(server: string, version: RoomVersion, ev: RoomEvent): Promise<StateBefore | undefined> {
    const events = this.d.storage.events;
    const prevIds = ev.prev_events.map(referencedEventId);
    // Only a create event has none (and nothing before it).
    if (prevIds.length === 0) return { state: new Map() };
    const stored = await events.getEvents(prevIds);
    const groups: number[] = [];
    for (const id of prevIds) {
      const s = stored.get(id);
      if (!s || s.outlier || s.stateGroup === null) {
        const state = await this.d.events.fetchStateBefore(server, version, ev.room_id, ev.event_id);
        return state && { state };
      }
      groups.push(s.stateGroup);
    }
    const unique = [...new Set(groups)];
    if (unique.length === 1) return { state: await this.d.storage.state.loadGroup(unique[0]!), group: unique[0]! };
    const states = await Promise.all(unique.map((g) => this.d.storage.state.loadGroup(g)));
    return { state: await resolveStoredStates(events, version, states), parent: unique[0]! };
  }
}

/** Events in an order where each comes after its prev events among them (then by depth, then ID). */
export function oldestFirst(list: readonly RoomEvent[]): RoomEvent[] {
  const byId = new Map(list.map((e) => [e.event_id, e]));
  const waiting = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const e of byId.values()) {
    const prevs = [...new Set(e.prev_events.map(referencedEventId))].filter((p) => byId.has(p) && p !== e.event_id);
    waiting.set(e.event_id, prevs.length);
    for (const p of prevs) children.set(p, [...(children.get(p) ?? []), e.event_id]);
  }
  const cmp = (a: RoomEvent, b: RoomEvent) => a.depth - b.depth || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0);
  let ready = [...byId.values()].filter((e) => waiting.get(e.event_id) === 0).sort(cmp);
  const out: RoomEvent[] = [];
  while (ready.length > 0) {
    const next = ready.shift()!;
    out.push(next);
    for (const c of children.get(next.event_id) ?? []) {
      const n = waiting.get(c)! - 1;
      waiting.set(c, n);
      if (n === 0) ready = [...ready, byId.get(c)!].sort(cmp);
    }
  }
  // A cycle (only a forged answer has one) leaves events out: they are not placed.
  return out;
}
