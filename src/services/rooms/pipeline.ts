// The event persistence pipeline for events this server creates: build → authorise against
// the state the event will be applied to → persist event, edges and state in one transaction
// → update current state and forward extremities → tell the listeners.
// spec: server-server-api "Checks performed on receipt of a PDU" (the same checks, locally)
import { randomBytes } from 'node:crypto';
import { authTypesForEvent, authorizeEvent, getNamedPowerLevel, getPowerLevel } from '../../core/auth.js';
import { buildEvent, type EventSigner, type EventTemplate } from '../../core/events.js';
import { stateKey, type JsonObject, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import { MatrixError, forbidden } from '../../errors.js';
import type { EventStore, StoredEvent } from '../../storage/events.js';
import type { NidStateMap } from '../../storage/state.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { checkStateContent } from './content-checks.js';

export interface LocalEventRequest {
  type: string;
  state_key?: string;
  sender: string;
  content: JsonObject;
  redacts?: string;
  txn?: { userId: string; deviceId: string; txnId: string };
}

export type PersistedListener = (stored: StoredEvent) => void;
/**
 * Work on a local event once it is built and authorised, before it is persisted; may return
 * the event to persist instead (the same event with more signatures: an invite the invited
 * server counter-signed, the room's Policy Server's signature). Throwing aborts the event.
 * `current`: the room's current state, which the event is applied to.
 */
export type BuiltHook = (event: RoomEvent, version: RoomVersion, current: NidStateMap) => Promise<RoomEvent | undefined>;

const MALFORMED = new Set(['power_levels_invalid', 'membership_invalid', 'create_invalid']);

/** At most this many forward extremities become prev_events of a new event (spec recommends a few). */
const MAX_PREV_EVENTS = 10;

export class RoomPipeline {
  private readonly locks = new KeyedMutex();
  private readonly listeners: PersistedListener[] = [];
  private readonly builtHooks: BuiltHook[] = [];
  private lastCreateTs = 0;

  constructor(
    private readonly events: EventStore,
    private readonly signer: EventSigner,
    private readonly now: () => number = Date.now,
  ) {}

  onPersisted(l: PersistedListener): void {
    this.listeners.push(l);
  }

  onBuilt(hook: BuiltHook): void {
    this.builtHooks.push(hook);
  }

  /** Runs `fn` holding the room's write lock (events received over federation share it). */
  exclusive<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(roomId, fn);
  }

  /** Tells the listeners about an event persisted outside `send` (received over federation). */
  async announcePersisted(nid: number): Promise<StoredEvent> {
    return this.announce(nid);
  }

  /** Creates a room with its m.room.create event; returns the room ID. */
  async createRoom(version: RoomVersion, creator: string, content: JsonObject): Promise<StoredEvent> {
    // Where the room ID is the create event's hash, two rooms created by one user in the same
    // millisecond would collide: each create event here gets its own timestamp.
    const ts = Math.max(this.now(), this.lastCreateTs + 1);
    this.lastCreateTs = ts;
    const template = {
      type: 'm.room.create', state_key: '', sender: creator, content,
      prev_events: [], auth_events: [], depth: 1, origin_server_ts: ts,
      ...(version.roomIdIsCreateEventHash ? {} : { room_id: `!${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}:${this.signer.serverName}` }),
    };
    const built = buildEvent(template, version, this.signer, randomBytes(16));
    if (!built.ok) throw new MatrixError('M_BAD_JSON', built.reason, 400);
    const verdict = authorizeEvent(version, built.value, new Map());
    if (!verdict.ok) throw new MatrixError('M_BAD_JSON', `Invalid create event: ${verdict.reason}`, 400);
    const ev = built.value;
    return this.locks.run(ev.room_id, async () => {
      if (await this.events.getRoom(ev.room_id)) throw new MatrixError('M_UNKNOWN', 'Room ID collision, please retry', 409);
      const nid = await this.events.persist(
        { event: ev, rejectedReason: null, softFailed: false, stateAfter: { state: new Map(), parent: null }, stateGroupBefore: null, replacesState: null, txn: null },
        { extremities: [ev.event_id], group: 'self', state: new Map(), previous: new Map() },
        { roomId: ev.room_id, roomVersion: version.id, creator, now: this.now() },
      );
      return this.announce(nid);
    });
  }

  /** Builds, authorises and persists one event in a room; throws M_FORBIDDEN if the rules forbid it. */
  async send(roomId: string, req: LocalEventRequest): Promise<StoredEvent> {
    // PostgreSQL text cannot hold NUL; no legitimate event type or state key needs one.
    if (req.type.includes('\u0000') || req.state_key?.includes('\u0000')) {
      throw new MatrixError('M_INVALID_PARAM', 'Event types and state keys may not contain NUL', 400);
    }
    return this.locks.run(roomId, async () => {
      if (req.txn) {
        const existing = await this.events.findTxn(req.txn.userId, req.txn.deviceId, req.txn.txnId);
        if (existing) return (await this.events.getEvent(existing)) as StoredEvent;
      }
      const room = await this.events.getRoom(roomId);
      if (!room) throw new MatrixError('M_NOT_FOUND', 'Unknown room', 404);
      const version = getRoomVersion(room.roomVersion);
      if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${room.roomVersion} is not supported`, 400);

      if (req.state_key !== undefined) checkStateContent(version, req.type, req.content);
      const { template, current, extremities, prevs, authState } = await this.template(roomId, version, req);
      const built = buildEvent(template, version, this.signer, randomBytes(16));
      if (!built.ok) {
        const tooLarge = /65,?536|too large|size/i.test(built.reason);
        throw new MatrixError(tooLarge ? 'M_TOO_LARGE' : 'M_BAD_JSON', built.reason, tooLarge ? 413 : 400);
      }
      let ev = built.value;
      if (req.redacts !== undefined) await this.checkMayRedact(version, current, req.sender, req.redacts);
      const verdict = authorizeEvent(version, ev, authState);
      if (!verdict.ok) {
        // Content the rules cannot read is the client's mistake; anything else is a refusal.
        if (MALFORMED.has(verdict.code)) throw new MatrixError('M_BAD_JSON', verdict.reason, 400);
        throw forbidden(verdict.reason);
      }
      for (const hook of this.builtHooks) ev = (await hook(ev, version, current)) ?? ev;

      const key = ev.state_key === undefined ? undefined : stateKey(ev.type, ev.state_key);
      const replaced = key === undefined ? undefined : current.get(key);
      const replacesState = replaced === undefined ? null : (await this.events.getEventsByNid([replaced])).get(replaced)?.event.event_id ?? null;
      const remaining = extremities.filter((id) => !prevs.some((p) => p.event.event_id === id));
      const nid = await this.events.persist(
        {
          event: ev, rejectedReason: null, softFailed: false,
          stateAfter: key === undefined ? null : { state: current, parent: room.currentStateGroup },
          stateGroupBefore: room.currentStateGroup, replacesState, txn: req.txn ?? null,
        },
        { extremities: [...remaining, ev.event_id], group: key === undefined ? room.currentStateGroup ?? 'self' : 'self', state: current, previous: current },
      );
      return this.announce(nid);
    });
  }

  /**
   * The unsigned template of a new event in a room: the forward extremities (the deepest few)
   * as prev_events, the auth events selected from the current state, depth and timestamp.
   * Also what `send` needs next. Used by `send` and, for another server's user, by make_join,
   * make_leave and make_knock (spec: server-server-api "Joining Rooms").
   */
  async template(roomId: string, version: RoomVersion, req: Omit<LocalEventRequest, 'txn'>): Promise<{
    template: EventTemplate; current: NidStateMap; extremities: string[]; prevs: StoredEvent[]; authState: Map<StateKey, RoomEvent>;
  }> {
    const extremities = await this.events.forwardExtremities(roomId);
    const prevs = [...(await this.events.getEvents(extremities)).values()]
      .sort((a, b) => b.event.depth - a.event.depth).slice(0, MAX_PREV_EVENTS);
    const depth = Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, ...prevs.map((p) => p.event.depth)) + 1);
    const current = await this.events.currentState(roomId);
    const draft = { ...req, room_id: roomId } as unknown as RoomEvent;
    const authKeys = authTypesForEvent(version, draft).map(([t, k]) => stateKey(t, k));
    const authState = await this.loadState(current, [...authKeys, stateKey('m.room.create', '')]);
    const authEventIds = authKeys.map((k) => authState.get(k)?.event_id).filter((id): id is string => id !== undefined);
    const template: EventTemplate = {
      type: req.type, state_key: req.state_key, sender: req.sender, content: req.content, room_id: roomId,
      prev_events: prevs.map((p) => (version.eventReferencesWithHashes ? [p.event.event_id, p.event.hashes] : p.event.event_id)) as RoomEvent['prev_events'],
      auth_events: (version.eventReferencesWithHashes
        ? authEventIds.map((id) => [id, authState.get(authKeyOf(authState, id))!.hashes])
        : authEventIds) as RoomEvent['auth_events'],
      depth, origin_server_ts: this.now(), redacts: req.redacts,
    };
    return { template, current, extremities, prevs, authState };
  }

  /**
   * A user may redact their own events, or others' with the `redact` power level
   * (spec: client-server-api "Redactions"; the auth rules of v3+ leave this to the server).
   */
  private async checkMayRedact(version: RoomVersion, current: NidStateMap, sender: string, redacts: string): Promise<void> {
    const original = await this.events.getEvent(redacts);
    if (original?.event.sender === sender) return;
    const state = await this.loadState(current, [stateKey('m.room.power_levels', ''), stateKey('m.room.create', '')]);
    if (getPowerLevel(version, state, sender) < getNamedPowerLevel(version, state, 'redact')) {
      throw forbidden('You may only redact your own events');
    }
  }

  /** The events of `keys` in a state map. */
  async loadState(state: NidStateMap, keys: Iterable<StateKey>): Promise<Map<StateKey, RoomEvent>> {
    const wanted = new Map<number, StateKey>();
    for (const k of keys) {
      const nid = state.get(k);
      if (nid !== undefined) wanted.set(nid, k);
    }
    const loaded = await this.events.getEventsByNid(wanted.keys());
    const out = new Map<StateKey, RoomEvent>();
    for (const [nid, k] of wanted) {
      const e = loaded.get(nid);
      if (e) out.set(k, e.event);
    }
    return out;
  }

  private async announce(nid: number): Promise<StoredEvent> {
    const stored = (await this.events.getEventsByNid([nid])).get(nid) as StoredEvent;
    for (const l of this.listeners) l(stored);
    return stored;
  }
}

function authKeyOf(state: Map<StateKey, RoomEvent>, eventId: string): StateKey {
  for (const [k, e] of state) if (e.event_id === eventId) return k;
  throw new Error(`auth event ${eventId} not in state`);
}
