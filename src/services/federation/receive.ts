// Receiving events from other servers: the spec's "Checks performed on receipt of a PDU", in
// order, then the same persistence path as local events (EventStore.persist, the pipeline's
// listeners: /sync, push counts, device lists...).
//
// 1. format, 2. signatures, 3. hashes (redacted on mismatch): event-checks.ts, per batch;
// 4. auth against the event's own auth_events (missing ones fetched with /event_auth);
// 5. auth against the state before the event (missing prev_events fetched with
//    /get_missing_events; beyond that gap, the state at a prev event comes from /state_ids);
// 6. auth against the room's current state: failure soft-fails the event (stored, never an
//    extremity, never shown to clients);
// 7. in a room with a Policy Server, its signature (asked for when missing or invalid;
//    policy-check.ts): without one the event is soft failed.
// Events failing 4 or 5 are stored as rejected. Writes to a room hold the pipeline's room lock.
// spec: server-server-api "Checks performed on receipt of a PDU", "Soft failure",
// "Retrieving events" (get_missing_events), "Rejection"
import type { Logger } from 'pino';
import { authorizeEvent, checkAuthEventsList } from '../../core/auth.js';
import { isCreateEvent, parsePdu, referencedEventId } from '../../core/events.js';
import { stateKey, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';
import type { RoomPipeline } from '../rooms/pipeline.js';
import type { ServerAcls } from './acl.js';
import type { PolicyCheck } from './policy-check.js';
import { checkPdus, type FederationRequester, type KeySource } from './event-checks.js';
import { authStateFrom, resolveStoredStates } from './room-state.js';

export type ReceiveOutcome =
  | { status: 'persisted' | 'soft_failed' | 'known'; stored: StoredEvent; reason?: undefined }
  | { status: 'rejected' | 'refused'; reason: string; stored?: undefined };

/** How many events one /get_missing_events asks for (spec example and Synapse: 10). */
const MISSING_EVENTS_LIMIT = 10;
/** Beyond this many unknown state events, /state is asked for instead of /event per event. */
const FETCH_ONE_BY_ONE_LIMIT = 50;
const CREATE_KEY = stateKey('m.room.create', '');

export interface FederationEventDeps {
  storage: Storage;
  pipeline: RoomPipeline;
  keys: KeySource;
  client: FederationRequester;
  acl: ServerAcls;
  policy: Pick<PolicyCheck, 'check'>;
  serverName: string;
  log: Logger;
}

/** The most state and auth-chain event IDs taken from one /state_ids answer. */
const MAX_STATE_IDS = 200_000;

export class FederationEventHandler {
  constructor(private readonly d: FederationEventDeps) {}

  /**
   * The PDUs of an inbound transaction from `origin`: each checked and persisted; returns the
   * per-event results of the /send response ({} or { error }). PDUs of rooms this server is not
   * in, and PDUs too malformed to have an event ID, are dropped (nothing to name them by).
   */
  async receiveTransactionPdus(origin: string, pdus: unknown[]): Promise<Record<string, { error?: string }>> {
    const results: Record<string, { error?: string }> = {};
    const byRoom = new Map<string, unknown[]>();
    for (const raw of pdus) {
      const roomId = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).room_id : undefined;
      if (typeof roomId !== 'string') continue;
      byRoom.set(roomId, [...(byRoom.get(roomId) ?? []), raw]);
    }
    await Promise.all([...byRoom].map(async ([roomId, list]) => {
      try {
        await this.receiveRoomPdus(origin, roomId, list, results);
      } catch (err) {
        this.d.log.error({ err, roomId, origin }, 'processing received PDUs failed');
      }
    }));
    return results;
  }

  private async receiveRoomPdus(origin: string, roomId: string, raws: unknown[], results: Record<string, { error?: string }>): Promise<void> {
    const room = await this.d.storage.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version) {
      this.d.log.info({ roomId, origin }, 'ignoring PDUs for a room this server is not in');
      return;
    }
    // spec: "ACLs MUST be applied to all PDUs on a per-PDU basis"
    if (!(await this.d.acl.allows(roomId, origin))) {
      for (const raw of raws) {
        const p = parsePdu(raw, version);
        if (p.ok) results[p.value.event_id] = { error: `Server ${origin} is denied by the room's server ACL` };
      }
      return;
    }
    const checked = await checkPdus(this.d.keys, version, raws);
    const passed: RoomEvent[] = [];
    for (const c of checked) {
      if (c.ok) {
        passed.push(c.event);
        continue;
      }
      if (c.eventId !== undefined) results[c.eventId] = { error: c.error };
      this.d.log.info({ roomId, origin, eventId: c.eventId, error: c.error }, 'refused a PDU');
    }
    await this.d.pipeline.exclusive(roomId, async () => {
      for (let i = 0; i < passed.length;) {
        // A run of messages that continues the room's head is checked and written in one go;
        // anything else (state, forks, gaps, failures) goes one event at a time.
        const run = await this.persistLinearRun(version, passed.slice(i));
        for (const ev of run) results[ev.event_id] = {};
        i += run.length;
        if (i >= passed.length) break;
        const ev = passed[i++]!;
        const outcome = await this.processEvent(origin, version, ev, true);
        results[ev.event_id] = outcome.status === 'rejected' || outcome.status === 'refused' ? { error: outcome.reason } : {};
      }
    });
  }

  /**
   * The longest prefix of `candidates` that extends the room's head in a straight line with
   * events that change no state and pass checks 4–7 against the current state (which is then the
   * state before each of them, so checks 5 and 6 are one), persisted in one transaction and
   * announced; returns those events. Empty when the first one does not qualify. The caller holds
   * the room lock.
   */
  private async persistLinearRun(version: RoomVersion, candidates: RoomEvent[]): Promise<RoomEvent[]> {
    const events = this.d.storage.events;
    const first = candidates[0];
    const room = first && await events.getRoom(first.room_id);
    if (!first || !room || room.currentStateGroup === null) return [];
    const group = room.currentStateGroup;
    const head = await events.getEvents(room.forwardExtremities);
    const firstPrevs = new Set(first.prev_events.map(referencedEventId));
    if (firstPrevs.size !== room.forwardExtremities.length || !room.forwardExtremities.every((id) => firstPrevs.has(id))) return [];
    if ([...head.values()].some((s) => s.outlier || s.stateGroup !== group)) return [];

    const authIds = new Set<string>();
    for (const ev of candidates) {
      for (const ref of ev.auth_events) authIds.add(referencedEventId(ref));
      if (version.roomIdIsCreateEventHash) authIds.add(`$${ev.room_id.slice(1)}`);
    }
    const [known, authEvents] = await Promise.all([events.getEvents(candidates.map((e) => e.event_id)), events.getEvents(authIds)]);
    const current = await events.currentState(first.room_id);
    const run: RoomEvent[] = [];
    for (const candidate of candidates) {
      let ev = candidate;
      const previous = run.at(-1);
      if (ev.state_key !== undefined || known.has(ev.event_id) || isCreateEvent(ev)) break;
      if (previous !== undefined && (ev.prev_events.length !== 1 || referencedEventId(ev.prev_events[0]!) !== previous.event_id)) break;
      if (this.checkAgainstAuthEvents(version, ev, authEvents) !== null) break;
      if (!authorizeEvent(version, ev, await authStateFrom(events, version, current, ev)).ok) break;
      const policy = await this.d.policy.check(ev, version, current);
      if (!policy.recommended) break;
      ev = policy.event;
      run.push(ev);
    }
    if (run.length === 0) return [];
    const nids = await events.persistMany(run.map((event) => ({
      e: { event, rejectedReason: null, softFailed: false, stateAfter: null, stateGroupBefore: group, replacesState: null, txn: null },
      current: { extremities: [event.event_id], group, state: current, previous: current },
    })));
    for (const nid of nids) await this.d.pipeline.announcePersisted(nid);
    return run;
  }

  /**
   * Checks 4–6 and persistence of one event whose format, signatures and hashes passed; the
   * caller holds the room lock. `fetchMissing`: ask `origin` for missing prev events first.
   */
  async processEvent(origin: string, version: RoomVersion, event: RoomEvent, fetchMissing: boolean, given?: { state: NidStateMap; group: number }): Promise<ReceiveOutcome> {
    const events = this.d.storage.events;
    const known = await events.getEvent(event.event_id);
    // An event held as an outlier (an auth or state event fetched earlier) that now arrives in
    // the timeline is checked as a new one and takes its place in the DAG, keeping its row and
    // nid. One stored rejected against its own auth events stays rejected, outside the DAG.
    if (known && (!known.outlier || known.rejectedReason !== null || isCreateEvent(event))) return { status: 'known', stored: known };
    const outlierNid = known?.nid;
    if (isCreateEvent(event)) return { status: 'refused', reason: 'a room is not created by a PDU sent to it' };
    const room = await events.getRoom(event.room_id);
    if (!room) return { status: 'refused', reason: `unknown room ${event.room_id}` };

    const prevIds = event.prev_events.map(referencedEventId);
    if (!given && fetchMissing && (await this.missingPrevs(prevIds)).length > 0) await this.fetchMissingPrevEvents(origin, version, event);

    // Check 4: the event's own auth events.
    const authEvents = await this.ensureAuthEvents(origin, version, event);
    const ownAuth = authEvents === undefined ? 'its auth events could not be obtained' : this.checkAgainstAuthEvents(version, event, authEvents);

    // Check 5: the state before the event.
    const before: { state: NidStateMap; group?: number; parent?: number } | undefined = given ?? await this.stateBefore(origin, version, event, prevIds);
    let rejectedReason = ownAuth;
    if (rejectedReason === null) {
      if (before === undefined) rejectedReason = 'the state before the event could not be obtained';
      else {
        const verdict = authorizeEvent(version, event, await authStateFrom(events, version, before.state, event));
        if (!verdict.ok) rejectedReason = verdict.reason;
      }
    }

    // Check 6: soft failure against the current state.
    let softFailed = false;
    const current = await events.currentState(event.room_id);
    if (rejectedReason === null) {
      softFailed = !authorizeEvent(version, event, await authStateFrom(events, version, current, event)).ok;
    }

    // Check 7: the room's Policy Server recommends it (our own join, `given`, was built here).
    if (rejectedReason === null && !softFailed && !given) {
      const verdict = await this.d.policy.check(event, version, current);
      event = verdict.event;
      softFailed = !verdict.recommended;
    }

    const beforeState = before?.state ?? new Map<StateKey, number>();
    const key = event.state_key === undefined ? undefined : stateKey(event.type, event.state_key);
    const replacedNid = key === undefined ? undefined : beforeState.get(key);
    const replacesState = replacedNid === undefined ? null : (await events.getEventsByNid([replacedNid])).get(replacedNid)?.event.event_id ?? null;
    const needsGroup = key !== undefined || before?.group === undefined;
    // An accepted event that follows every forward extremity moves the room in its own
    // transaction: its state after is the room's state. Otherwise (a fork) the current state is
    // resolved with it afterwards.
    const room2 = (await events.getRoom(event.room_id))!;
    const others = room2.forwardExtremities.filter((id) => !prevIds.includes(id) && id !== event.event_id);
    const accepted = rejectedReason === null && !softFailed;
    const linear = accepted && others.length === 0 && before !== undefined;
    const onCurrent = before?.group !== undefined && before.group === room2.currentStateGroup;
    const nid = await events.persist({
      event, rejectedReason, softFailed,
      stateAfter: needsGroup ? { state: beforeState, parent: before?.group ?? before?.parent ?? null } : null,
      stateGroupBefore: before?.group ?? null, replacesState, txn: null, ...(outlierNid === undefined ? {} : { outlierNid }),
    }, linear ? {
      extremities: [event.event_id],
      group: needsGroup ? 'self' : before!.group!,
      // The same map when the event sits on the current state: nothing to compare for a message.
      state: onCurrent ? current : beforeState,
      previous: current,
    } : null);
    const stored = (await events.getEventsByNid([nid])).get(nid)!;

    if (accepted && !linear) await this.advanceRoom(version, event, stored, prevIds);
    await this.d.pipeline.announcePersisted(nid);
    if (rejectedReason !== null) {
      this.d.log.info({ eventId: event.event_id, origin, reason: rejectedReason }, 'rejected a received event');
      return { status: 'rejected', reason: rejectedReason };
    }
    return { status: softFailed ? 'soft_failed' : 'persisted', stored };
  }

  /**
   * Our own join to a room joined over federation: its prev events are the resident server's
   * extremities, which we do not have; the state before it is the state the resident server
   * sent (stored by EventStore.importRoomState). The caller holds the room lock.
   */
  persistWithStateBefore(version: RoomVersion, event: RoomEvent, before: { state: NidStateMap; group: number }): Promise<ReceiveOutcome> {
    return this.processEvent(this.d.serverName, version, event, false, before);
  }

  /** New forward extremities and current state after an accepted event. */
  private async advanceRoom(version: RoomVersion, event: RoomEvent, stored: StoredEvent, prevIds: string[]): Promise<void> {
    const events = this.d.storage.events;
    const room = (await events.getRoom(event.room_id))!;
    const others = room.forwardExtremities.filter((id) => !prevIds.includes(id) && id !== event.event_id);
    const extremities = [...others, event.event_id];
    const after = await this.d.storage.state.loadGroup(stored.stateGroup!);
    if (others.length === 0) {
      // The event follows every extremity: the state after it is the room's state.
      await events.updateCurrentState(event.room_id, { group: stored.stateGroup!, next: after, extremities });
      return;
    }
    const current = await events.currentState(event.room_id);
    const resolved = await resolveStoredStates(events, version, [current, after]);
    await events.updateCurrentState(event.room_id, { next: resolved, extremities });
  }

  private async missingPrevs(prevIds: string[]): Promise<string[]> {
    const found = await this.d.storage.events.getEvents(prevIds);
    return prevIds.filter((id) => {
      const s = found.get(id);
      return !s || s.outlier || s.stateGroup === null;
    });
  }

  /** spec: POST /get_missing_events: the events between our forward extremities and this one. */
  private async fetchMissingPrevEvents(origin: string, version: RoomVersion, event: RoomEvent): Promise<void> {
    const room = (await this.d.storage.events.getRoom(event.room_id))!;
    const extremities = await this.d.storage.events.getEvents(room.forwardExtremities);
    const minDepth = Math.min(...[...extremities.values()].map((s) => s.event.depth), event.depth);
    let response: { events?: unknown };
    try {
      response = await this.d.client.request(origin, 'POST', `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(event.room_id)}`, {
        body: { earliest_events: room.forwardExtremities, latest_events: [event.event_id], limit: MISSING_EVENTS_LIMIT, min_depth: minDepth },
      });
    } catch (err) {
      this.d.log.info({ err, origin, eventId: event.event_id }, 'get_missing_events failed');
      return;
    }
    const list = Array.isArray(response.events) ? response.events : [];
    const checked = await checkPdus(this.d.keys, version, list);
    const fetched = checked.flatMap((c) => (c.ok && c.event.room_id === event.room_id ? [c.event] : []))
      .sort((a, b) => a.depth - b.depth);
    for (const ev of fetched) {
      if (ev.event_id === event.event_id) continue;
      await this.processEvent(origin, version, ev, false);
    }
  }

  /**
   * The state before `event` from its prev events' states (resolved when several), with the
   * group to reuse when it is exactly one stored group. A prev event we do not have (with its
   * state) gets its state from `origin` (/state_ids). Undefined when it cannot be had.
   */
  private async stateBefore(origin: string, version: RoomVersion, event: RoomEvent, prevIds: string[]): Promise<{ state: NidStateMap; group?: number; parent?: number } | undefined> {
    const events = this.d.storage.events;
    const stored = await events.getEvents(prevIds);
    const states: NidStateMap[] = [];
    let onlyGroup: number | undefined;
    for (const id of prevIds) {
      const s = stored.get(id);
      if (s && !s.outlier && s.stateGroup !== null) {
        states.push(await this.d.storage.state.loadGroup(s.stateGroup));
        onlyGroup = s.stateGroup;
        continue;
      }
      const fetched = await this.fetchStateAfter(origin, version, event.room_id, id);
      if (fetched === undefined) continue;
      states.push(fetched);
    }
    if (states.length === 0) return undefined;
    if (states.length === 1 && prevIds.length === 1 && onlyGroup !== undefined) return { state: states[0]!, group: onlyGroup };
    const unique = [...new Set(states)];
    if (unique.length === 1 && onlyGroup !== undefined && states.length === prevIds.length) return { state: unique[0]!, group: onlyGroup };
    // Stored as deltas over one of the prev events' groups: a merge in a big room stays small.
    return { state: await resolveStoredStates(events, version, states), parent: onlyGroup };
  }

  /**
   * The state after a prev event we lack, from the server that sent us its child: the state
   * before it (fetchStateBefore) and the prev event itself.
   */
  private async fetchStateAfter(origin: string, version: RoomVersion, roomId: string, prevId: string): Promise<NidStateMap | undefined> {
    const state = await this.fetchStateBefore(origin, version, roomId, prevId, [prevId]);
    const prev = state && await this.d.storage.events.getEvent(prevId);
    if (!state || !prev || prev.event.room_id !== roomId) return undefined;
    if (prev.event.state_key !== undefined && prev.rejectedReason === null) state.set(stateKey(prev.event.type, prev.event.state_key), prev.nid);
    return state;
  }

  /**
   * The state before event `eventId` as `origin` has it (/state_ids at it), the events we lack
   * fetched (by /event, or /state when many; `alsoFetch` with them), all checked and stored as
   * outliers. Undefined when it cannot be had. Also backfill's (backfill.ts).
   */
  async fetchStateBefore(origin: string, version: RoomVersion, roomId: string, eventId: string, alsoFetch: string[] = []): Promise<NidStateMap | undefined> {
    const events = this.d.storage.events;
    let ids: { pdu_ids?: unknown; auth_chain_ids?: unknown };
    try {
      ids = await this.d.client.request(origin, 'GET', `/_matrix/federation/v1/state_ids/${encodeURIComponent(roomId)}`, { query: { event_id: eventId } });
    } catch (err) {
      this.d.log.info({ err, origin, eventId }, 'state_ids failed');
      return undefined;
    }
    const stateIds = stringList(ids.pdu_ids);
    const wanted = [...new Set([...stateIds, ...stringList(ids.auth_chain_ids), ...alsoFetch])];
    // A room's state and auth chain run to tens of thousands of events; an answer far past that
    // is a server trying to make us fetch and hold without end.
    if (wanted.length > MAX_STATE_IDS) {
      this.d.log.info({ origin, eventId, ids: wanted.length }, 'state_ids answer too large');
      return undefined;
    }
    const have = await events.getEvents(wanted);
    const missing = wanted.filter((id) => !have.has(id));
    let raw: unknown[] = [];
    if (missing.length > FETCH_ONE_BY_ONE_LIMIT) {
      try {
        const st = await this.d.client.request<{ pdus?: unknown; auth_chain?: unknown }>(origin, 'GET', `/_matrix/federation/v1/state/${encodeURIComponent(roomId)}`, { query: { event_id: eventId } });
        raw = [...(Array.isArray(st.pdus) ? st.pdus : []), ...(Array.isArray(st.auth_chain) ? st.auth_chain : [])];
      } catch (err) {
        this.d.log.info({ err, origin, eventId }, '/state failed');
        return undefined;
      }
      raw.push(...await this.fetchEvents(origin, alsoFetch.filter((id) => !have.has(id))));
    } else {
      raw = await this.fetchEvents(origin, missing);
    }
    if (raw.length > 0) {
      const checked = await checkPdus(this.d.keys, version, raw);
      await this.storeOutliers(version, checked.flatMap((c) => (c.ok && c.event.room_id === roomId ? [c.event] : [])));
    }
    const all = await events.getEvents(stateIds);
    const state: NidStateMap = new Map();
    for (const id of stateIds) {
      const s = all.get(id);
      if (s && s.event.room_id === roomId && s.rejectedReason === null && s.event.state_key !== undefined) state.set(stateKey(s.event.type, s.event.state_key), s.nid);
    }
    return state;
  }

  /** Events by ID from `origin` (/event), a few at a time: a gap is usually small, and the remote server is asked politely. */
  async fetchEvents(origin: string, ids: string[]): Promise<unknown[]> {
    const out: unknown[] = [];
    for (let i = 0; i < ids.length; i += 10) {
      const batch = await Promise.all(ids.slice(i, i + 10).map(async (id) => {
        try {
          const r = await this.d.client.request<{ pdus?: unknown }>(origin, 'GET', `/_matrix/federation/v1/event/${encodeURIComponent(id)}`);
          return Array.isArray(r.pdus) ? r.pdus.slice(0, 1) : []; // one event asked for, one taken
        } catch {
          return [];
        }
      }));
      for (const b of batch) out.push(...b);
    }
    return out;
  }

  /**
   * The events named by `event.auth_events`, fetching the missing ones (and their auth chains)
   * from `origin` with /event_auth. Undefined if some remain missing. Also backfill's.
   */
  async ensureAuthEvents(origin: string, version: RoomVersion, event: RoomEvent): Promise<Map<string, StoredEvent> | undefined> {
    const events = this.d.storage.events;
    const ids = event.auth_events.map(referencedEventId);
    if (version.roomIdIsCreateEventHash) ids.push(`$${event.room_id.slice(1)}`);
    let have = await events.getEvents(ids);
    if (ids.every((id) => have.has(id))) return have;
    if (origin === this.d.serverName) return undefined;
    try {
      const r = await this.d.client.request<{ auth_chain?: unknown }>(origin, 'GET',
        `/_matrix/federation/v1/event_auth/${encodeURIComponent(event.room_id)}/${encodeURIComponent(event.event_id)}`);
      const checked = await checkPdus(this.d.keys, version, Array.isArray(r.auth_chain) ? r.auth_chain : []);
      await this.storeOutliers(version, checked.flatMap((c) => (c.ok && c.event.room_id === event.room_id ? [c.event] : [])));
    } catch (err) {
      this.d.log.info({ err, origin, eventId: event.event_id }, 'event_auth failed');
    }
    have = await events.getEvents(ids);
    return ids.every((id) => have.has(id)) ? have : undefined;
  }

  /**
   * Stores checked events as outliers, each authorised against its own auth events (in depth
   * order, so that an event's auth events are judged first): those failing are stored rejected.
   */
  async storeOutliers(version: RoomVersion, fetched: RoomEvent[]): Promise<void> {
    const events = this.d.storage.events;
    const sorted = [...new Map(fetched.map((e) => [e.event_id, e])).values()].sort((a, b) => a.depth - b.depth);
    const known = await events.getEvents(sorted.map((e) => e.event_id));
    const fresh = sorted.filter((e) => !known.has(e.event_id));
    const authIds = new Set<string>();
    for (const e of fresh) for (const ref of e.auth_events) authIds.add(referencedEventId(ref));
    // Where the room ID is the create event's hash, the create event is an auth event of every event without being listed.
    if (version.roomIdIsCreateEventHash && fresh.length > 0) authIds.add(`$${fresh[0]!.room_id.slice(1)}`);
    const pool = new Map<string, { event: RoomEvent; rejected: boolean }>();
    for (const [id, s] of await events.getEvents(authIds)) pool.set(id, { event: s.event, rejected: s.rejectedReason !== null });
    const out: Array<{ event: RoomEvent; rejectedReason: string | null }> = [];
    for (const e of fresh) {
      const authEvents = new Map<string, StoredEvent>();
      let missing = false;
      const needed = e.auth_events.map(referencedEventId);
      if (version.roomIdIsCreateEventHash && !isCreateEvent(e)) needed.push(`$${e.room_id.slice(1)}`);
      for (const id of needed) {
        const p = pool.get(id);
        if (!p) { missing = true; break; }
        authEvents.set(id, { nid: 0, event: p.event, rejectedReason: p.rejected ? 'rejected' : null, softFailed: false, outlier: true, stateGroup: null, replacesState: null, txn: null });
      }
      const reason = missing ? 'its auth events are missing' : this.checkAgainstAuthEvents(version, e, authEvents);
      pool.set(e.event_id, { event: e, rejected: reason !== null });
      out.push({ event: e, rejectedReason: reason });
    }
    if (out.length > 0) await events.persistOutliers(out);
  }

  /** Check 4: the rules about the auth_events list, then the auth rules over those events. Null: passed. */
  checkAgainstAuthEvents(version: RoomVersion, event: RoomEvent, authEvents: ReadonlyMap<string, StoredEvent>): string | null {
    if (isCreateEvent(event)) {
      const v = authorizeEvent(version, event, new Map());
      return v.ok ? null : v.reason;
    }
    const listed = event.auth_events.map(referencedEventId).map((id) => authEvents.get(id)?.event).filter((e): e is RoomEvent => e !== undefined);
    const create = version.roomIdIsCreateEventHash ? authEvents.get(`$${event.room_id.slice(1)}`)?.event : undefined;
    const isRejected = (id: string) => authEvents.get(id)?.rejectedReason != null;
    const list = checkAuthEventsList(version, event, listed, { isRejected, createEvent: create });
    if (!list.ok) return list.reason;
    const authState = new Map<StateKey, RoomEvent>();
    for (const e of listed) if (e.state_key !== undefined) authState.set(stateKey(e.type, e.state_key), e);
    if (create) authState.set(CREATE_KEY, create);
    const verdict = authorizeEvent(version, event, authState);
    return verdict.ok ? null : verdict.reason;
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
