// GET /sync: reads every stream between the client's `since` token and the current positions,
// and, when nothing the user can see has changed, waits for the Notifier (long-polling).
// Each stream has its own provider (this directory); this file orders them and shapes the reply.
// spec: client-server-api "Syncing", GET /sync
import { matchesRoom, type Filter } from '../../core/filter.js';
import type { JsonObject } from '../../core/pdu.js';
import { invalidParam } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import type { MembershipRow } from '../../storage/sync.js';
import type { DeviceListService } from '../e2ee/device-lists.js';
import type { ToDeviceService } from '../e2ee/to-device.js';
import type { Notifier, StreamName } from '../notifier.js';
import type { PresenceService } from '../presence.js';
import type { ReceiptService } from '../receipts.js';
import type { EventFormatter } from '../rooms/format.js';
import type { Visibility } from '../rooms/visibility.js';
import type { TypingService } from '../typing.js';
import { accountDataChanges } from './account-data.js';
import type { AccountDataEvent } from '../../storage/account-data.js';
import { e2eeSection } from './e2ee.js';
import { ephemeralEvents } from './ephemeral.js';
import { FilterService } from './filters.js';
import { shapeEvents } from './format.js';
import { LazyMemberCache } from './lazy-members.js';
import { planRooms, type RoomPlan } from './memberships.js';
import { SyncPresence, type SetPresence } from './presence.js';
import { assembleResponse, type UnreadCounts } from './response.js';
import { RoomBuilder } from './rooms.js';
import { strippedStates } from './stripped.js';
import { formatSyncToken, laterOf, parseSyncToken, type SyncToken } from './token.js';
import { SyncWaiters, type Waiter } from './waiters.js';

/** spec: the server "should apply a default value" to the timeline limit, and impose a maximum. */
export const DEFAULT_TIMELINE_LIMIT = 10;
export const MAX_TIMELINE_LIMIT = 1000;
/** Long-polls wait at most this long, whatever `timeout` says. */
export const MAX_TIMEOUT_MS = 10 * 60_000;

export interface SyncRequest {
  userId: string;
  deviceId: string;
  since?: string;
  filter?: string;
  fullState: boolean;
  setPresence: SetPresence;
  timeoutMs: number;
  useStateAfter: boolean;
  /** Aborts a long-poll whose client went away. */
  signal?: AbortSignal;
}

export type SyncResponse = JsonObject & { next_batch: string };

export interface SyncDeps {
  storage: Storage;
  notifier: Notifier;
  formatter: EventFormatter;
  visibility: Visibility;
  typing: TypingService;
  receipts: ReceiptService;
  presence: PresenceService;
  toDevice: ToDeviceService;
  deviceLists: DeviceListService;
  /** Unread notification counts per room and thread ('main' for the main timeline); the room's are their sums. */
  notifications?: { countsForRooms(userId: string, roomIds: readonly string[]): Promise<Map<string, UnreadCounts>> };
  /** Global account data a user has even before setting it (m.push_rules), sent on initial sync. */
  accountDataDefaults?: (userId: string) => Promise<AccountDataEvent[]>;
  /** presence.offline_after_sync_ms */
  offlineAfterSyncMs: number;
  onError: (err: unknown) => void;
}

interface Computed {
  body: SyncResponse;
  /** Nothing for the client: a long-poll keeps waiting. */
  empty: boolean;
  joined: string[];
  commit: () => void;
}

interface Context {
  req: SyncRequest;
  filter: Filter;
  since?: SyncToken;
}

export class SyncService {
  readonly filters: FilterService;
  private readonly waiters: SyncWaiters;
  private readonly rooms: RoomBuilder;
  private readonly lazy = new LazyMemberCache();
  private readonly presence: SyncPresence;
  private closing = false;
  /** The committed events position, read once per change of the events stream (see positions()). */
  private readonly positionCache = new Map<StreamName, { generation: number; value: Promise<number> }>();
  /** Changes the notifier reported, per stream (see cachedPosition). */
  private readonly generations = new Map<StreamName, number>();

  constructor(private readonly d: SyncDeps) {
    this.filters = new FilterService(d.storage.filters);
    this.waiters = new SyncWaiters(d.notifier, (u) => d.storage.rooms.roomsWithMembership(u, 'join'), d.onError);
    this.rooms = new RoomBuilder(d.storage, d.visibility);
    this.presence = new SyncPresence(d.presence, d.offlineAfterSyncMs, d.onError);
    d.notifier.subscribe((c) => { this.generations.set(c.stream, (this.generations.get(c.stream) ?? 0) + 1); });
  }

  start(): void {
    this.presence.start();
  }

  /** Wakes every waiting request so that they answer at once (before the listeners close). */
  close(): void {
    this.closing = true;
    this.waiters.close();
    this.presence.close();
  }

  /** How many long-polls are waiting now. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** How many times a change woke a waiting long-poll, since the start. */
  get wakeups(): number {
    return this.waiters.wakeups;
  }

  async sync(req: SyncRequest): Promise<SyncResponse> {
    const filter = await this.filters.resolve(req.userId, req.filter);
    let since: SyncToken | undefined;
    if (req.since !== undefined) {
      since = parseSyncToken(req.since);
      if (!since) throw invalidParam(`Invalid sync token ${JSON.stringify(req.since)}`);
    }
    const ctx: Context = { req, filter, since };
    const release = await this.presence.enter(req.userId, req.setPresence);
    let waiter: Waiter | undefined;
    try {
      // spec: send_to_device: a sync with a later `since` acknowledges the messages before it.
      if (since) await this.d.toDevice.acknowledge(req.userId, req.deviceId, since.toDevice);
      // spec: full_state "the timeout parameter will be ignored and the query will return immediately".
      const waits = since !== undefined && !req.fullState && req.timeoutMs > 0;
      const deadline = Date.now() + Math.min(req.timeoutMs, MAX_TIMEOUT_MS);
      let watched: string[] = [];
      if (waits) {
        watched = await this.d.storage.rooms.roomsWithMembership(req.userId, 'join');
        waiter = this.waiters.register(req.userId, watched);
      }
      for (;;) {
        const result = await this.compute(ctx);
        const left = deadline - Date.now();
        if (!waiter || !result.empty || left <= 0 || req.signal?.aborted || this.closing) {
          result.commit();
          return result.body;
        }
        if (!sameSet(watched, result.joined)) {
          // The user's rooms changed since the waiter was registered: watch the new set and look again.
          waiter.dispose();
          watched = result.joined;
          waiter = this.waiters.register(req.userId, watched);
          continue;
        }
        if (!(await waiter.wait(left, req.signal))) {
          result.commit();
          return result.body;
        }
      }
    } finally {
      waiter?.dispose();
      release();
    }
  }

  private async positions(since: SyncToken | undefined): Promise<SyncToken> {
    const s = this.d.storage;
    const [events, receipts, presence, accountData, toDevice, deviceLists] = await Promise.all([
      this.cachedPosition('events', () => s.sync.committedEventsPosition()),
      this.cachedPosition('receipts', () => this.d.receipts.currentPosition()),
      this.cachedPosition('presence', () => this.d.presence.currentPosition()),
      this.cachedPosition('account_data', () => s.accountData.currentPosition()),
      this.d.toDevice.currentPosition(), this.d.deviceLists.currentPosition(),
    ]);
    const now: SyncToken = { events, typing: this.d.typing.currentPosition(), receipts, presence, accountData, toDevice, deviceLists };
    // Positions never go backwards for a client; typing's are the process's own (services/typing.ts).
    return since ? { ...laterOf(now, since), typing: now.typing } : now;
  }

  /** The user's memberships as they were at `position`, from their rows as they are now. */
  private async membershipsAt(userId: string, rows: MembershipRow[], position: number): Promise<MembershipRow[]> {
    const late = rows.filter((r) => r.eventNid > position);
    if (late.length === 0) return rows;
    const before = await this.d.storage.sync.lastMemberEventNids(userId, late.map((r) => r.roomId), position);
    const events = await this.d.storage.events.getEventsByNid(before.values());
    const out = rows.filter((r) => r.eventNid <= position);
    for (const r of late) {
      const nid = before.get(r.roomId);
      const membership = nid === undefined ? undefined : events.get(nid)?.event.content.membership;
      if (nid === undefined || typeof membership !== 'string') continue; // no membership yet at the position
      // The last join before the position, where the row still knows it (a later join replaced it).
      const lastJoinNid = membership === 'join' ? nid : r.lastJoinNid !== null && r.lastJoinNid <= position ? r.lastJoinNid : null;
      out.push({ ...r, membership, eventNid: nid, lastJoinNid });
    }
    return out;
  }

  /**
   * A stream's position (for events: up to which every event is committed, storage/sync.ts),
   * read again only after the notifier reports a change of the stream: a value read before a
   * change stays a safe, if older, answer, and the many long-polls one change wakes share one
   * read. An incremental sync then finds the streams that did not move without asking the
   * database, and skips reading them.
   */
  private cachedPosition(stream: StreamName, read: () => Promise<number>): Promise<number> {
    const generation = this.generations.get(stream) ?? 0;
    const cached = this.positionCache.get(stream);
    if (cached?.generation === generation) return cached.value;
    const entry = { generation, value: read() };
    this.positionCache.set(stream, entry);
    entry.value.catch(() => { if (this.positionCache.get(stream) === entry) this.positionCache.delete(stream); });
    return entry.value;
  }

  private async compute(ctx: Context): Promise<Computed> {
    const { req, filter, since } = ctx;
    const { storage } = this.d;
    const viewer = { userId: req.userId, deviceId: req.deviceId };
    const upTo = await this.positions(since);
    // Which rooms have new events is read alongside the memberships, as a superset (any room of
    // the user's, no upper bound): the memberships must come after the positions, this need not.
    const [current, withEvents] = await Promise.all([
      storage.sync.memberships(req.userId),
      since && !req.fullState ? storage.sync.userRoomsWithEventsAfter(req.userId, since.events) : undefined,
    ]);
    // Memberships changed after the position count as they were at it: the next sync has the change.
    const rows = await this.membershipsAt(req.userId, current, upTo.events);
    const joined = rows.filter((r) => r.membership === 'join').map((r) => r.roomId);

    const roomFilter = filter.room;
    const sections = await planRooms(storage, req.userId, rows.filter((r) => matchesRoom(roomFilter, r.roomId)), {
      since: since?.events, upTo: upTo.events, fullState: req.fullState, includeLeave: roomFilter?.include_leave === true,
    });
    // spec: modules/invite_permission: invites to a user who blocks them are not served.
    if (sections.invite.length > 0 && await storage.accountData.blocksInvites(req.userId)) sections.invite = [];
    const fresh = sections.join.filter((p) => p.after === null).map((p) => p.roomId);
    const known = sections.join.filter((p) => p.after !== null).map((p) => p.roomId);

    // Rooms the client knows are built only when they have new events (or full state is asked for).
    const toBuild: RoomPlan[] = withEvents ? sections.join.filter((p) => p.after === null || withEvents.has(p.roomId)) : sections.join;
    const ignored = await storage.accountData.ignoredUsers(req.userId);
    const ledger = this.lazy.begin(req.userId, req.deviceId, since ? req.since : undefined);
    // Unread counts of the rooms being built start now; rooms with only ephemeral events or
    // account data are counted when those are known.
    const builtCounts = this.d.notifications?.countsForRooms(req.userId, toBuild.map((p) => p.roomId));
    // Awaited below; a failure while other reads are still running must not go unhandled meanwhile.
    builtCounts?.catch(() => undefined);
    const limit = Math.min(roomFilter?.timeline?.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT);
    const common = { userId: req.userId, limit, timelineFilter: roomFilter?.timeline, stateFilter: roomFilter?.state, useStateAfter: req.useStateAfter, ledger, ignored };
    const [builtJoin, builtLeave, stripped, ephemeral, accountData, presence, e2ee] = await Promise.all([
      this.rooms.build(toBuild, { ...common, summaries: true }),
      this.rooms.build(sections.leave, { ...common, summaries: false }),
      strippedStates(storage, req.userId, [...sections.invite, ...sections.knock]),
      ephemeralEvents(this.d.typing, this.d.receipts, {
        userId: req.userId, known, fresh, since: since && { typing: since.typing, receipts: since.receipts }, upTo, filter: roomFilter?.ephemeral,
      }),
      accountDataChanges(storage.accountData, {
        userId: req.userId, since: since?.accountData, upTo: upTo.accountData, freshRooms: fresh, globalFilter: filter.account_data, roomFilter: roomFilter?.account_data,
        ...(this.d.accountDataDefaults ? { defaults: this.d.accountDataDefaults } : {}),
      }),
      // Rooms new to the client bring their members' presence along.
      (async () => this.presence.events(req.userId, since?.presence, upTo.presence,
        since && fresh.length ? [...(await storage.sync.joinedMembers(fresh)).values()].flat() : [], filter.presence))(),
      e2eeSection(this.d.toDevice, this.d.deviceLists, { userId: req.userId, deviceId: req.deviceId, since, upTo }),
    ]);
    const built = new Set(toBuild.map((p) => p.roomId));
    const others = [...new Set([...ephemeral.keys(), ...accountData.rooms.keys()])].filter((r) => !built.has(r));
    const [counts, otherCounts, shaped] = await Promise.all([
      builtCounts,
      others.length ? this.d.notifications?.countsForRooms(req.userId, others) : undefined,
      shapeEvents(storage, this.d.formatter, [...builtJoin, ...builtLeave].flatMap((b) => [...b.timeline.events, ...b.state]), viewer, filter),
    ]);
    const unread = counts && new Map([...counts, ...(otherCounts ?? [])]);
    const { body, empty } = assembleResponse({
      nextBatch: formatSyncToken({ ...upTo, toDevice: e2ee.toDevicePosition }),
      sections, builtJoin, builtLeave, shaped, stripped, ephemeral, accountData, presence, e2ee, unread,
      threaded: roomFilter?.timeline?.unread_thread_notifications === true, useStateAfter: req.useStateAfter, ignored,
    });
    return { body, empty, joined, commit: () => ledger.commit(body.next_batch) };
  }
}


function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
