// Events and state served to other servers: /event, /state, /state_ids, /event_auth,
// /backfill and /get_missing_events. The asking server must be in the room (or the room
// world-readable) and allowed by its ACL, and sees an event in full only if one of its users
// could (history visibility at the event); otherwise it gets the redacted event, which keeps
// the DAG walkable without leaking content.
// spec: server-server-api "Retrieving events", "Backfilling and retrieving missing events",
// "Server Access Control Lists (ACLs)"; client-server-api modules/history_visibility
// "Server behaviour"
import { redactEvent, referencedEventId, toFederationPdu } from '../../core/events.js';
import { domainOf } from '../../core/identifiers.js';
import { splitStateKey, stateKey, type PDU, type RoomEvent } from '../../core/pdu.js';
import { getRoomVersion, type RoomVersion } from '../../core/room-versions.js';
import { MatrixError, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';
import type { ServerAcls } from './acl.js';
import { loadAuthChain } from './room-state.js';

const HISTORY_KEY = stateKey('m.room.history_visibility', '');
/** Upper bound on events returned by /backfill and /get_missing_events, whatever the limit asked. */
const MAX_EVENTS = 100;

export class FederationEventServer {
  constructor(
    private readonly storage: Storage,
    private readonly acl: ServerAcls,
    private readonly serverName: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** spec: GET /_matrix/federation/v1/event/{eventId} */
  async getEvent(origin: string, eventId: string): Promise<{ origin: string; origin_server_ts: number; pdus: PDU[] }> {
    const s = await this.storage.events.getEvent(eventId);
    if (!s) throw notFound('Event not found');
    const version = await this.roomAccess(s.event.room_id, origin);
    const [pdu] = await this.forServer(origin, version, [s]);
    if (!pdu) throw notFound('Event not found');
    return { origin: this.serverName, origin_server_ts: this.now(), pdus: [pdu] };
  }

  /** spec: GET /_matrix/federation/v1/state_ids/{roomId}: the state before the event and its auth chain, as IDs. */
  async stateIds(origin: string, roomId: string, eventId: string): Promise<{ pdu_ids: string[]; auth_chain_ids: string[] }> {
    const { state, chain } = await this.stateAt(origin, roomId, eventId);
    return { pdu_ids: state.map((s) => s.event.event_id), auth_chain_ids: chain.map((s) => s.event.event_id) };
  }

  /** spec: GET /_matrix/federation/v1/state/{roomId} */
  async state(origin: string, roomId: string, eventId: string): Promise<{ pdus: PDU[]; auth_chain: PDU[] }> {
    const version = await this.roomAccess(roomId, origin);
    const { state, chain } = await this.stateAt(origin, roomId, eventId);
    return { pdus: await this.asPdus(version, state), auth_chain: await this.asPdus(version, chain) };
  }

  /** spec: GET /_matrix/federation/v1/event_auth/{roomId}/{eventId} */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<{ auth_chain: PDU[] }> {
    const version = await this.roomAccess(roomId, origin);
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId) throw notFound('Event not found');
    const chain = [...(await loadAuthChain(this.storage.events, [eventId])).values()];
    return { auth_chain: await this.asPdus(version, chain) };
  }

  /** spec: GET /_matrix/federation/v1/backfill/{roomId}: `limit` events before (and including) those of `v`, newest first. */
  async backfill(origin: string, roomId: string, from: string[], limit: number): Promise<{ origin: string; origin_server_ts: number; pdus: PDU[] }> {
    const version = await this.roomAccess(roomId, origin);
    const max = Math.max(0, Math.min(limit, MAX_EVENTS));
    const found = await this.walkBack(roomId, from, max, { includeStart: true });
    return { origin: this.serverName, origin_server_ts: this.now(), pdus: await this.forServer(origin, version, found) };
  }

  /**
   * spec: POST /_matrix/federation/v1/get_missing_events/{roomId}: the prev events of
   * `latest`, back to `earliest` (excluded) or `minDepth`, oldest first.
   */
  async missingEvents(origin: string, roomId: string, q: { earliest: string[]; latest: string[]; limit: number; minDepth: number }): Promise<{ events: PDU[] }> {
    const version = await this.roomAccess(roomId, origin);
    const max = Math.max(0, Math.min(q.limit, MAX_EVENTS));
    const found = await this.walkBack(roomId, q.latest, max, { includeStart: false, stopAt: new Set(q.earliest), minDepth: q.minDepth });
    found.sort((a, b) => a.event.depth - b.event.depth || a.nid - b.nid);
    return { events: await this.forServer(origin, version, found) };
  }

  /**
   * The room's version if `origin` may ask about the room: allowed by the ACL, and with a joined
   * member there (or the room world-readable). spec: "ACLs"; Synapse's "server in room" rule.
   */
  async roomAccess(roomId: string, origin: string): Promise<RoomVersion> {
    const room = await this.storage.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version) throw notFound('Unknown room');
    await this.acl.require(roomId, origin);
    if (await this.serverJoined(roomId, origin)) return version;
    const current = await this.storage.events.currentState(roomId);
    const hist = current.get(HISTORY_KEY);
    const histEvent = hist === undefined ? undefined : (await this.storage.events.getEventsByNid([hist])).get(hist);
    if (histEvent?.event.content.history_visibility === 'world_readable') return version;
    throw new MatrixError('M_FORBIDDEN', `Server ${origin} is not in room ${roomId}`, 403);
  }

  async serverJoined(roomId: string, server: string): Promise<boolean> {
    return (await this.storage.rooms.joinedMemberIds(roomId)).some((u) => domainOf(u) === server);
  }

  /** The state before an event (its group without it, for a state event) and the auth chain of that state and the event. */
  private async stateAt(origin: string, roomId: string, eventId: string): Promise<{ state: StoredEvent[]; chain: StoredEvent[] }> {
    await this.roomAccess(roomId, origin);
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId || s.stateGroup === null) throw notFound('Event not found');
    const state = await this.stateBeforeEvent(s);
    const stateEvents = [...(await this.storage.events.getEventsByNid(state.values())).values()];
    const chain = await loadAuthChain(this.storage.events, [...stateEvents.map((e) => e.event.event_id), eventId]);
    for (const e of stateEvents) chain.delete(e.event.event_id);
    return { state: stateEvents, chain: [...chain.values()] };
  }

  /** The stored event's state group is the state after it; before a state event, its key held what it replaced. */
  async stateBeforeEvent(s: StoredEvent): Promise<NidStateMap> {
    const after = await this.storage.state.loadGroup(s.stateGroup!);
    if (s.event.state_key === undefined || s.rejectedReason !== null) return after;
    const key = stateKey(s.event.type, s.event.state_key);
    if (after.get(key) !== s.nid) return after;
    const before = new Map(after);
    const replaced = s.replacesState === null ? undefined : await this.storage.events.getEvent(s.replacesState);
    if (replaced) before.set(key, replaced.nid);
    else before.delete(key);
    return before;
  }

  /** Walks prev_events back from `start`, deepest first, up to `max` events. */
  private async walkBack(roomId: string, start: string[], max: number, opts: { includeStart: boolean; stopAt?: Set<string>; minDepth?: number }): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    const seen = new Set<string>(start);
    let frontier: StoredEvent[] = [];
    const first = await this.storage.events.getEvents(start);
    for (const s of first.values()) {
      if (s.event.room_id !== roomId) continue;
      if (opts.includeStart) out.push(s);
      frontier.push(s);
    }
    while (frontier.length > 0 && out.length < max) {
      const next = new Set<string>();
      for (const s of frontier) {
        for (const ref of s.event.prev_events) {
          const id = referencedEventId(ref);
          if (seen.has(id) || opts.stopAt?.has(id)) continue;
          seen.add(id);
          next.add(id);
        }
      }
      const loaded = [...(await this.storage.events.getEvents(next)).values()]
        .filter((s) => s.event.room_id === roomId && !s.outlier && (opts.minDepth === undefined || s.event.depth >= opts.minDepth))
        .sort((a, b) => b.event.depth - a.event.depth);
      for (const s of loaded) if (out.length < max) out.push(s);
      frontier = loaded;
    }
    return out.slice(0, max);
  }

  private async asPdus(version: RoomVersion, events: StoredEvent[]): Promise<PDU[]> {
    const redacted = await this.storage.rooms.redactionsOf(events.map((s) => s.event.event_id));
    return events.map((s) => toFederationPdu(redacted.has(s.event.event_id) ? redactEvent(s.event, version) : s.event, version));
  }

  /** Events as `server` may see them: in full when visible to one of its users, else redacted. */
  private async forServer(server: string, version: RoomVersion, events: StoredEvent[]): Promise<PDU[]> {
    const redacted = await this.storage.rooms.redactionsOf(events.map((s) => s.event.event_id));
    const out: PDU[] = [];
    const byGroup = new Map<number, boolean>();
    for (const s of events) {
      let visible = true;
      if (s.stateGroup !== null) {
        let v = byGroup.get(s.stateGroup);
        if (v === undefined) {
          v = await this.visibleInState(server, await this.storage.state.loadGroup(s.stateGroup));
          byGroup.set(s.stateGroup, v);
        }
        visible = v;
      }
      const ev: RoomEvent = !visible || redacted.has(s.event.event_id) ? redactEvent(s.event, version) : s.event;
      out.push(toFederationPdu(ev, version));
    }
    return out;
  }

  /**
   * Whether some user of `server` could see an event with this state: world_readable and
   * shared history are visible to a server in the room; invited needs one of its users
   * invited or joined; joined needs one joined. (Per user rules, summed over the server's users.)
   */
  private async visibleInState(server: string, state: NidStateMap): Promise<boolean> {
    const histNid = state.get(HISTORY_KEY);
    const hist = histNid === undefined ? undefined : (await this.storage.events.getEventsByNid([histNid])).get(histNid);
    const visibility = typeof hist?.event.content.history_visibility === 'string' ? hist.event.content.history_visibility : 'shared';
    if (visibility === 'world_readable' || (visibility !== 'invited' && visibility !== 'joined')) return true;
    const memberNids: number[] = [];
    for (const [k, nid] of state) {
      const [type, key] = splitStateKey(k);
      if (type === 'm.room.member' && domainOf(key) === server) memberNids.push(nid);
    }
    const members = await this.storage.events.getEventsByNid(memberNids);
    for (const m of members.values()) {
      const membership = m.event.content.membership;
      if (membership === 'join') return true;
      if (visibility === 'invited' && membership === 'invite') return true;
    }
    return false;
  }
}
