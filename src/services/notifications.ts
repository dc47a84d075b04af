// Notifications: push rules evaluated for every local member when an event is persisted, and the
// unread notification and highlight counts they add up to, per room and per thread, cleared by
// read receipts and by the user's own events.
//
// Writing is cheap because most members of a room get the same outcome: an event stores that
// outcome once, plus a row for each member who got another (storage/push-actions.ts). Counting is
// done when counts are read, incrementally: each member's counts are cached with the rows and read
// positions they cover, so a read costs a query only for rooms with new rows or moved receipts.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read",
// "Server behaviour"; modules/receipts "Threaded read receipts"
import { CREATE_KEY, POWER_LEVELS_KEY, PowerLevelsView } from '../core/auth.js';
import { domainOf } from '../core/identifiers.js';
import { splitStateKey, type JsonObject, type JsonValue, type RoomEvent, type StateKey } from '../core/pdu.js';
import {
  PushEvent, compileRuleSet, effectiveRules, evaluatePushRules, hasUserChanges,
  type CompiledRuleSet, type PushOutcome, type PushRecipient, type UserPushRules,
} from '../core/push/index.js';
import { getRoomVersion, type RoomVersion } from '../core/room-versions.js';
import type { Tx } from '../storage/database.js';
import type { PersistHook } from '../storage/events.js';
import type { Storage } from '../storage/index.js';
import { EVERY_MEMBER, JOINED, MAIN_THREAD, type PushActionRow, type SummaryRow } from '../storage/push-actions.js';
import type { NidStateMap } from '../storage/state.js';
import type { StoredEvent } from '../storage/events.js';
import type { PushRuleService } from './push/rules.js';

export interface NotificationCounts {
  notification_count: number;
  highlight_count: number;
}

export interface UnreadCounts extends NotificationCounts {
  /**
   * The threads with unread notifications, keyed by thread ID: 'main' for the main timeline, else
   * the thread root's event ID. The room's counts above are their sums. With /sync's
   * `unread_thread_notifications`, `unread_notifications` is `threads.main` and the other keys
   * are `unread_thread_notifications`.
   */
  threads: Record<string, NotificationCounts>;
}

/**
 * What one event did for the room's local members, kept from its transaction until it commits,
 * for push delivery (services/push/delivery.ts): most got `common`; `others` maps the members who
 * got something else (undefined: not notified), and an invitee.
 */
export interface EventNotification {
  event: RoomEvent;
  nid: number;
  common: PushOutcome | undefined;
  others: ReadonlyMap<string, PushOutcome | undefined>;
}

/** One notification of GET /notifications. */
export interface NotificationItem { roomId: string; event: StoredEvent; actions: JsonValue[]; read: boolean }

/** A local user's evaluation inputs: their compiled rules and whom they ignore. */
interface UserPushState { rules: CompiledRuleSet; ignored: ReadonlySet<string> }

/** What push evaluation needs to know about a room at one state group. */
interface RoomPushContext {
  group: number;
  state: NidStateMap;
  /** Joined members on every server (room_member_count). */
  joined: Set<string>;
  /** This server's joined members, with their display names in the room. */
  local: Map<string, PushRecipient>;
  createEvent: RoomEvent | undefined;
  powerLevelsEvent: RoomEvent | undefined;
  powerLevels: PowerLevelsView;
  notificationPowerLevels: Record<string, number>;
}

/** A member's cached counts in one thread, and the read position they were counted from. */
interface ThreadCount { n: number; h: number; base: number }

const MEMBER_PREFIX = 'm.room.member\u0000';
const DEFAULT_VERSION = getRoomVersion('1') as RoomVersion;
const CONTEXT_CACHE_ROOMS = 512;
const USER_CACHE_SIZE = 200_000;
const PENDING_MAX = 10_000;
const COMPILED_SETS_MAX = 20_000;
const NOBODY: ReadonlySet<string> = new Set();

export class NotificationService {
  private readonly contexts = new Map<string, RoomPushContext>();
  /** The predefined rules, compiled once: their placeholders stand for whoever is evaluated. */
  private readonly defaultRules: CompiledRuleSet;
  private readonly actionsJson = new WeakMap<PushOutcome, string>();
  /** Each local user's compiled rules and ignore list, loaded on first need, dropped when either changes. */
  private readonly users = new Map<string, UserPushState>();
  /** Counts invalidations, so that a load that raced with a change does not cache what it read. */
  private invalidations = 0;
  private readonly defaultState: UserPushState;
  /** Outcomes of events whose transaction has not committed yet, by nid. */
  private readonly pending = new Map<number, EventNotification>();
  private notifiedListener: ((n: EventNotification) => void) | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly serverName: string,
    private readonly pushRules: PushRuleService,
  ) {
    this.defaultRules = compileRuleSet(pushRules.serverDefaults);
    this.defaultState = { rules: this.defaultRules, ignored: NOBODY };
  }

  /** The user's push rules or ignore list changed: evaluate with the new ones from the next event on. */
  invalidateUser(userId: string): void {
    this.invalidations++;
    this.users.delete(userId);
  }

  /** Who to tell, once an event has committed, what it did for its recipients (push delivery). */
  onNotified(listener: (n: EventNotification) => void): void {
    this.notifiedListener = listener;
  }

  /** The pipeline's after-commit listener: hands the event's outcomes to push delivery. */
  persisted(stored: StoredEvent): void {
    const n = this.pending.get(stored.nid);
    if (!n) return;
    this.pending.delete(stored.nid);
    this.notifiedListener?.(n);
  }

  // ---- at persist time ----

  /**
   * EventStore's persist hook: evaluates the push rules of every local member of the room but the
   * sender (and of a local user the event invites), and records the outcome, in the event's
   * transaction. The sender's own event marks its thread read for them (spec: "Marking
   * notifications as read": "either by using the API or by sending an event"), and a local user
   * joining starts counting from their join.
   */
  readonly recordPushActions: PersistHook = async (tx, e, nid, defer) => {
    const ev = e.event;
    if (e.rejectedReason !== null || e.softFailed || e.stateGroupBefore === null) return;
    const ctx = await this.roomContext(tx, ev.room_id, e.stateGroupBefore);
    const senderIsLocal = this.isLocal(ev.sender);
    const member = ev.type === 'm.room.member' && ev.state_key !== undefined && this.isLocal(ev.state_key) ? ev.state_key : undefined;
    const invitee = member !== undefined && ev.content.membership === 'invite' && !ctx.local.has(member) && member !== ev.sender ? member : undefined;
    const joiner = member !== undefined && ev.content.membership === 'join' && !ctx.local.has(member) ? member : undefined;
    const recipients = ctx.local.size - (ctx.local.has(ev.sender) ? 1 : 0) + (invitee === undefined ? 0 : 1);
    if (recipients === 0 && !senderIsLocal && joiner === undefined) return;

    // spec: modules/redactions: a redacted event's notification stops counting.
    if (ev.type === 'm.room.redaction') await this.forgetRedacted(tx, ev);
    const threadId = hasRelation(ev) ? await this.storage.pushActions.threadOf(tx, nid) : MAIN_THREAD;
    if (recipients > 0) {
      await this.loadUsers(tx, ctx, invitee);
      const rows = this.evaluate(ev, nid, ctx, invitee);
      if (rows.length > 0) this.storage.pushActions.queue(defer, { roomId: ev.room_id, eventNid: nid, eventId: ev.event_id, threadId }, rows);
    }
    if (senderIsLocal) await this.storage.pushActions.markRead(tx, ev.room_id, ev.sender, threadId, nid);
    if (joiner !== undefined) await this.storage.pushActions.markRead(tx, ev.room_id, joiner, JOINED, nid);
  };

  /**
   * The compiled rules of one user as last loaded (the predefined rules when the user changed
   * none, or was not loaded yet): users with the defaults share one compiled set, and so one
   * candidate list per event.
   */
  rulesFor(userId: string): CompiledRuleSet {
    return (this.users.get(userId) ?? this.defaultState).rules;
  }

  /** Loads, through the event's transaction, the rules and ignore lists of members not cached. */
  private async loadUsers(tx: Tx, ctx: RoomPushContext, invitee: string | undefined): Promise<void> {
    this.transient.clear();
    const missing: string[] = [];
    for (const userId of ctx.local.keys()) if (!this.users.has(userId)) missing.push(userId);
    if (invitee !== undefined && !this.users.has(invitee)) missing.push(invitee);
    if (missing.length === 0) return;
    const before = this.invalidations;
    const loaded = await this.storage.pushRules.forUsers(tx, missing);
    if (before !== this.invalidations) {
      // A change landed while reading: use what was read for this event, cache nothing.
      for (const [userId, data] of loaded) this.transient.set(userId, this.stateOf(data.pushRules, data.ignoredUserList, userId));
      return;
    }
    for (const [userId, data] of loaded) {
      if (this.users.size >= USER_CACHE_SIZE) this.users.delete(this.users.keys().next().value as string);
      this.users.set(userId, this.stateOf(data.pushRules, data.ignoredUserList, userId));
    }
  }

  /** States read for one evaluation without caching (see loadUsers). */
  private readonly transient = new Map<string, UserPushState>();
  /** Compiled rulesets by the user changes they come from (see compiledFor). */
  private readonly compiledSets = new Map<string, CompiledRuleSet>();

  private stateOf(pushRules: JsonObject | undefined, ignoredList: JsonObject | undefined, userId: string): UserPushState {
    const user = this.pushRules.userRules(pushRules);
    const rules = hasUserChanges(user) ? this.compiledFor(user) : this.defaultRules;
    const listed = ignoredList?.ignored_users;
    const ignored = typeof listed === 'object' && listed !== null && !Array.isArray(listed) ? new Set(Object.keys(listed)) : NOBODY;
    if (ignored !== NOBODY) (ignored as Set<string>).delete(userId);
    return rules === this.defaultRules && ignored.size === 0 ? this.defaultState : { rules, ignored };
  }

  /**
   * Users with the same changes share one compiled ruleset: each distinct ruleset in a room costs
   * every event a candidate list of its own (~2 µs), and many users make the same changes.
   */
  private compiledFor(user: UserPushRules): CompiledRuleSet {
    const key = JSON.stringify(user);
    let rules = this.compiledSets.get(key);
    if (!rules) {
      rules = compileRuleSet(effectiveRules(this.pushRules.serverDefaults, user));
      if (this.compiledSets.size >= COMPILED_SETS_MAX) this.compiledSets.delete(this.compiledSets.keys().next().value as string);
      this.compiledSets.set(key, rules);
    }
    return rules;
  }

  private stateFor(userId: string): UserPushState {
    return this.transient.get(userId) ?? this.users.get(userId) ?? this.defaultState;
  }

  /** Removes the redacted event's push actions and the cached counts that included them. */
  private async forgetRedacted(tx: Tx, redaction: RoomEvent): Promise<void> {
    const target = typeof redaction.redacts === 'string' ? redaction.redacts : typeof redaction.content.redacts === 'string' ? redaction.content.redacts : undefined;
    if (target === undefined) return;
    await this.storage.pushActions.forgetEvent(tx, redaction.room_id, target);
  }

  // ---- GET /notifications ----

  /**
   * The events that notified the user, newest first, before `from` (a nid; the token this
   * returns as `next`). Rooms they are joined to (events since they joined) or invited to.
   * `read`: at or before where they have read in the event's thread (as counts see it).
   * spec: client-server-api modules/push "Listing Notifications"; notifications.yaml
   */
  async notifications(userId: string, q: { from?: number; limit: number; onlyHighlight: boolean }): Promise<{ items: NotificationItem[]; next?: number }> {
    const store = this.storage.pushActions;
    const roomIds = [...await this.storage.rooms.roomsWithMembership(userId, 'join'), ...await this.storage.rooms.roomsWithMembership(userId, 'invite')];
    const memberships = new Map((await store.memberships(userId, roomIds)).map((m) => [m.roomId, m]));
    const [receipts, positions] = await Promise.all([store.readReceipts(userId, roomIds), store.readPositions(userId, roomIds)]);
    const read = new Map<string, number>();
    const mark = (key: string, nid: number) => read.set(key, Math.max(read.get(key) ?? 0, nid));
    for (const r of receipts) mark(r.threadId === undefined ? r.roomId : `${r.roomId}\u0000${r.threadId}`, r.eventNid);
    for (const p of positions) if (p.threadId !== JOINED) mark(`${p.roomId}\u0000${p.threadId}`, p.readNid);

    const picked: Array<{ roomId: string; nid: number; actions: string; read: boolean }> = [];
    let before = q.from ?? Number.MAX_SAFE_INTEGER;
    let exhausted = false;
    const batch = Math.max(50, q.limit * 2);
    while (picked.length < q.limit && !exhausted) {
      const rows = await store.notificationRows(userId, [...memberships.keys()], before, batch);
      exhausted = rows.length < batch;
      // An event's own row comes first; a batch cut between an event's rows loses only the EVERY_MEMBER one.
      const seen = new Set<number>();
      const candidates: typeof rows = [];
      for (const r of rows) {
        before = r.eventNid;
        if (seen.has(r.eventNid)) continue;
        seen.add(r.eventNid);
        const m = memberships.get(r.roomId);
        if (!r.own && (m?.membership !== 'join' || r.eventNid <= (m.lastJoinNid ?? 0))) continue;
        if (!r.notify || (q.onlyHighlight && !r.highlight)) continue;
        candidates.push(r);
      }
      const events = await this.storage.events.getEventsByNid(candidates.map((r) => r.eventNid));
      for (const r of candidates) {
        const ev = events.get(r.eventNid);
        // The EVERY_MEMBER row is for every member but the sender.
        if (!ev || ev.event.sender === userId) continue;
        const readUpTo = Math.max(read.get(r.roomId) ?? 0, read.get(`${r.roomId}\u0000${r.threadId}`) ?? 0);
        picked.push({ roomId: r.roomId, nid: r.eventNid, actions: r.actions, read: r.eventNid <= readUpTo });
        if (picked.length === q.limit) break;
      }
    }
    const events = await this.storage.events.getEventsByNid(picked.map((p) => p.nid));
    const items = picked.map((p) => ({ roomId: p.roomId, event: events.get(p.nid) as StoredEvent, actions: JSON.parse(p.actions) as JsonValue[], read: p.read }));
    // A full page may have more after it; a short one is the end.
    return { items, ...(picked.length === q.limit && q.limit > 0 ? { next: picked[picked.length - 1].nid } : {}) };
  }

  // ---- counts ----

  /** The user's unread counts in one room. */
  async counts(userId: string, roomId: string): Promise<UnreadCounts> {
    return (await this.countsForRooms(userId, [roomId])).get(roomId) as UnreadCounts;
  }

  /**
   * The user's unread counts in each room: notifying events after what they have read. In each
   * thread that is the furthest of: their unthreaded receipt (m.read or m.read.private), their
   * threaded receipt for the thread, their own latest event in the thread, and where they joined
   * (spec: "Marking notifications as read"). A user who is not joined counts only what notified
   * them in person (an invite).
   */
  async countsForRooms(userId: string, roomIds: readonly string[]): Promise<Map<string, UnreadCounts>> {
    const out = new Map<string, UnreadCounts>();
    for (const roomId of roomIds) out.set(roomId, { notification_count: 0, highlight_count: 0, threads: {} });
    const store = this.storage.pushActions;
    const memberships = await store.memberships(userId, roomIds);
    if (memberships.length === 0) return out;
    const rooms = memberships.map((m) => m.roomId);
    const [summaryRows, receipts, readPositions] = await Promise.all([
      store.summaries(userId, rooms), store.readReceipts(userId, rooms), store.readPositions(userId, rooms),
    ]);
    const summaries = new Map(summaryRows.map((s) => [s.roomId, s]));
    const positions = new Map<string, Map<string, number>>();
    const mark = (roomId: string, key: string, nid: number) => {
      let room = positions.get(roomId);
      if (!room) positions.set(roomId, room = new Map());
      room.set(key, Math.max(room.get(key) ?? 0, nid));
    };
    for (const r of receipts) mark(r.roomId, r.threadId === undefined ? 'receipt' : `receipt:${r.threadId}`, r.eventNid);
    for (const r of readPositions) mark(r.roomId, r.threadId === JOINED ? 'joined' : `own:${r.threadId}`, r.readNid);

    for (const m of memberships) {
      const p = positions.get(m.roomId) ?? new Map<string, number>();
      const member = m.membership === 'join';
      const roomBase = Math.max(p.get('receipt') ?? 0, member ? p.get('joined') ?? m.lastJoinNid ?? 0 : 0);
      const baseOf = (thread: string) => Math.max(roomBase, p.get(`receipt:${thread}`) ?? 0, p.get(`own:${thread}`) ?? 0);
      const threads = member
        ? await this.countMember(userId, m.roomId, m.latestPushNid, roomBase, baseOf, summaries.get(m.roomId))
        : await this.countInvited(userId, m.roomId, m.latestPushNid, roomBase, baseOf);
      const room = out.get(m.roomId) as UnreadCounts;
      for (const [thread, c] of threads) {
        if (c.n === 0) continue;
        room.threads[thread] = { notification_count: c.n, highlight_count: c.h };
        room.notification_count += c.n;
        room.highlight_count += c.h;
      }
    }
    return out;
  }

  /**
   * A joined member's counts, from their cache: rows after the cache's `counted_nid` are added,
   * and a thread whose read position moved is counted again from there.
   */
  private async countMember(userId: string, roomId: string, latestNid: number, roomBase: number, baseOf: (thread: string) => number, summary: SummaryRow | undefined): Promise<Map<string, ThreadCount>> {
    const threads = new Map<string, ThreadCount>();
    let counted = roomBase;
    if (summary) {
      counted = summary.countedNid;
      for (const [thread, [n, h, base]] of Object.entries(JSON.parse(summary.counts) as Record<string, [number, number, number]>)) threads.set(thread, { n, h, base });
    }
    const recount = new Set([...threads].filter(([thread, c]) => c.base !== baseOf(thread)).map(([thread]) => thread));
    for (const thread of recount) threads.set(thread, { n: 0, h: 0, base: baseOf(thread) });
    const from = Math.min(counted, ...[...recount].map(baseOf));
    let newCounted = counted;
    if (latestNid > from) {
      for (const row of await this.storage.pushActions.rowsFor(userId, roomId, from, true)) {
        newCounted = Math.max(newCounted, row.eventNid);
        const base = baseOf(row.threadId);
        if (!row.notify || row.eventNid <= base || (row.eventNid <= counted && !recount.has(row.threadId))) continue;
        let c = threads.get(row.threadId);
        if (!c) threads.set(row.threadId, c = { n: 0, h: 0, base });
        c.n++;
        if (row.highlight) c.h++;
      }
    }
    if (newCounted !== counted || recount.size > 0 || !summary) {
      const cache: Record<string, [number, number, number]> = {};
      for (const [thread, c] of threads) if (c.n > 0) cache[thread] = [c.n, c.h, c.base];
      const json = JSON.stringify(cache);
      if (!summary || summary.countedNid !== newCounted || summary.counts !== json) await this.storage.pushActions.saveSummary(userId, roomId, newCounted, json);
    }
    return threads;
  }

  /** Someone not joined (invited, or gone) was notified only by rows naming them. */
  private async countInvited(userId: string, roomId: string, latestNid: number, roomBase: number, baseOf: (thread: string) => number): Promise<Map<string, ThreadCount>> {
    const threads = new Map<string, ThreadCount>();
    if (latestNid <= roomBase) return threads;
    for (const row of await this.storage.pushActions.rowsFor(userId, roomId, roomBase, false)) {
      if (!row.notify || row.eventNid <= baseOf(row.threadId)) continue;
      let c = threads.get(row.threadId);
      if (!c) threads.set(row.threadId, c = { n: 0, h: 0, base: 0 });
      c.n++;
      if (row.highlight) c.h++;
    }
    return threads;
  }

  // ---- internals ----

  /**
   * The rows for one event: the outcome most local members got, for all of them (EVERY_MEMBER),
   * and a row for each member who got another one (notify false when none), and for an invitee.
   */
  private evaluate(ev: RoomEvent, nid: number, ctx: RoomPushContext, invitee: string | undefined): PushActionRow[] {
    const pushEvent = new PushEvent(ev, {
      memberCount: ctx.joined.size,
      senderPowerLevel: ctx.powerLevels.userLevel(ev.sender),
      notificationPowerLevels: ctx.notificationPowerLevels,
    });
    const groups = new Map<string, { outcome: PushOutcome | undefined; users: string[] }>();
    for (const recipient of ctx.local.values()) {
      if (recipient.userId === ev.sender) continue;
      const outcome = this.outcomeFor(recipient, pushEvent);
      const key = outcome === undefined ? '' : this.actionsOf(outcome);
      let group = groups.get(key);
      if (!group) groups.set(key, group = { outcome, users: [] });
      group.users.push(recipient.userId);
    }
    let common: string | undefined;
    for (const [key, group] of groups) if (common === undefined || group.users.length > (groups.get(common)?.users.length ?? 0)) common = key;

    const rows: PushActionRow[] = [];
    const row = (userId: string, outcome: PushOutcome | undefined): PushActionRow => outcome === undefined
      ? { userId, notify: false, highlight: false, actions: '[]' }
      : { userId, notify: true, highlight: outcome.highlight, actions: this.actionsOf(outcome) };
    const everyone = common === undefined ? undefined : groups.get(common)?.outcome;
    if (everyone !== undefined) rows.push(row(EVERY_MEMBER, everyone));
    for (const [key, group] of groups) {
      if (key === common) continue;
      for (const userId of group.users) rows.push(row(userId, group.outcome));
    }
    let inviteeOutcome: PushOutcome | undefined;
    if (invitee !== undefined) {
      inviteeOutcome = this.outcomeFor({ userId: invitee }, pushEvent);
      if (inviteeOutcome !== undefined) rows.push(row(invitee, inviteeOutcome));
    }
    this.transient.clear();

    if (this.notifiedListener && rows.some((r) => r.notify)) {
      const others = new Map<string, PushOutcome | undefined>();
      for (const [key, group] of groups) if (key !== common) for (const userId of group.users) others.set(userId, group.outcome);
      if (invitee !== undefined) others.set(invitee, inviteeOutcome);
      if (this.pending.size >= PENDING_MAX) this.pending.delete(this.pending.keys().next().value as number); // rolled back
      this.pending.set(nid, { event: ev, nid, common: everyone, others });
    }
    return rows;
  }

  /** A recipient's notifying outcome; events from users they ignore never notify (spec: modules/ignore_users). */
  private outcomeFor(recipient: PushRecipient, pushEvent: PushEvent): PushOutcome | undefined {
    const state = this.stateFor(recipient.userId);
    if (state.ignored.has(pushEvent.event.sender)) return undefined;
    return this.notifying(evaluatePushRules(state.rules, pushEvent, recipient));
  }

  /** Only outcomes that notify count; a highlight without `notify` is no notification. */
  private notifying(outcome: PushOutcome | undefined): PushOutcome | undefined {
    return outcome?.notify ? outcome : undefined;
  }

  private actionsOf(outcome: PushOutcome): string {
    let json = this.actionsJson.get(outcome);
    if (json === undefined) this.actionsJson.set(outcome, json = JSON.stringify(outcome.actions));
    return json;
  }

  private isLocal(userId: string): boolean {
    return domainOf(userId) === this.serverName;
  }

  /**
   * The room's context at `group` (the state before the event, which is committed: the pipeline
   * writes one event per room at a time). Built once per room, then moved from group to group by
   * applying the changed member, create and power levels events.
   */
  private async roomContext(tx: Tx, roomId: string, group: number): Promise<RoomPushContext> {
    let ctx = this.contexts.get(roomId);
    if (ctx && ctx.group === group) {
      this.contexts.delete(roomId);
      this.contexts.set(roomId, ctx);
      return ctx;
    }
    const state = await this.storage.state.loadGroup(group, tx);
    ctx = ctx ? await this.advance(tx, ctx, group, state) : await this.build(tx, group, state);
    this.contexts.delete(roomId);
    if (this.contexts.size >= CONTEXT_CACHE_ROOMS) this.contexts.delete(this.contexts.keys().next().value as string);
    this.contexts.set(roomId, ctx);
    return ctx;
  }

  private async build(tx: Tx, group: number, state: NidStateMap): Promise<RoomPushContext> {
    const ctx: RoomPushContext = {
      group, state, joined: new Set(), local: new Map(), createEvent: undefined, powerLevelsEvent: undefined,
      powerLevels: new PowerLevelsView(DEFAULT_VERSION, new Map()), notificationPowerLevels: {},
    };
    await this.apply(tx, ctx, [...state].filter(([k]) => isRelevant(k)));
    readPowerLevels(ctx);
    return ctx;
  }

  private async advance(tx: Tx, ctx: RoomPushContext, group: number, state: NidStateMap): Promise<RoomPushContext> {
    const changed: Array<[StateKey, number | undefined]> = [];
    for (const [k, nid] of state) if (ctx.state.get(k) !== nid && isRelevant(k)) changed.push([k, nid]);
    for (const k of ctx.state.keys()) if (!state.has(k) && isRelevant(k)) changed.push([k, undefined]);
    ctx.group = group;
    ctx.state = state;
    await this.apply(tx, ctx, changed);
    return ctx;
  }

  /** Applies changed (or removed, nid undefined) member, create and power levels events. */
  private async apply(tx: Tx, ctx: RoomPushContext, changed: ReadonlyArray<readonly [StateKey, number | undefined]>): Promise<void> {
    const nids = changed.map(([, nid]) => nid).filter((n): n is number => n !== undefined);
    const events = nids.length > 0 ? await this.storage.pushActions.eventsByNid(tx, nids) : new Map<number, RoomEvent>();
    for (const [k, nid] of changed) {
      const ev = nid === undefined ? undefined : events.get(nid);
      if (k === CREATE_KEY) ctx.createEvent = ev;
      else if (k === POWER_LEVELS_KEY) ctx.powerLevelsEvent = ev;
      else {
        const userId = splitStateKey(k)[1];
        if (ev?.content.membership === 'join') {
          ctx.joined.add(userId);
          if (this.isLocal(userId)) ctx.local.set(userId, { userId, displayName: typeof ev.content.displayname === 'string' ? ev.content.displayname : null });
        } else {
          ctx.joined.delete(userId);
          ctx.local.delete(userId);
        }
      }
    }
    if (changed.some(([k]) => k === CREATE_KEY || k === POWER_LEVELS_KEY)) readPowerLevels(ctx);
  }
}

/** The sender_notification_permission inputs: the power levels as of the context's state. */
function readPowerLevels(ctx: RoomPushContext): void {
  const roomVersion = ctx.createEvent?.content.room_version;
  // spec: m.room.create "room_version": defaults to "1" when absent.
  const version = getRoomVersion(typeof roomVersion === 'string' ? roomVersion : '1') ?? DEFAULT_VERSION;
  const authState = new Map<StateKey, RoomEvent>();
  if (ctx.createEvent) authState.set(CREATE_KEY, ctx.createEvent);
  if (ctx.powerLevelsEvent) authState.set(POWER_LEVELS_KEY, ctx.powerLevelsEvent);
  ctx.powerLevels = new PowerLevelsView(version, authState);
  // `room` has a default (50); other keys count only when the power levels name them.
  const named = ctx.powerLevelsEvent?.content.notifications;
  const keys = new Set(['room', ...(typeof named === 'object' && named !== null && !Array.isArray(named) ? Object.keys(named) : [])]);
  ctx.notificationPowerLevels = Object.fromEntries([...keys].map((key) => [key, ctx.powerLevels.notificationLevel(key)]));
}

function isRelevant(k: StateKey): boolean {
  return k.startsWith(MEMBER_PREFIX) || k === POWER_LEVELS_KEY || k === CREATE_KEY;
}

function hasRelation(ev: RoomEvent): boolean {
  const rel = ev.content['m.relates_to'];
  return typeof rel === 'object' && rel !== null && !Array.isArray(rel);
}

