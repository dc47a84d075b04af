// Notifications: push rules evaluated for every local member when an event is persisted, and the
// unread notification and highlight counts they add up to, per room and per thread, cleared by
// read receipts and by the user's own events.
// spec: client-server-api modules/push "Receiving notifications", "Marking notifications as read",
// "Server behaviour"; modules/receipts "Threaded read receipts"
import { CREATE_KEY, POWER_LEVELS_KEY, PowerLevelsView } from '../core/auth.js';
import { domainOf } from '../core/identifiers.js';
import { splitStateKey, type RoomEvent, type StateKey } from '../core/pdu.js';
import {
  PushEvent, compileRuleSet, evaluatePushRules, predefinedRules,
  type CompiledRuleSet, type PredefinedRuleOptions, type PushOutcome, type PushRecipient,
} from '../core/push/index.js';
import { getRoomVersion, type RoomVersion } from '../core/room-versions.js';
import type { Tx } from '../storage/database.js';
import type { PersistHook } from '../storage/events.js';
import type { Storage } from '../storage/index.js';
import { MAIN_THREAD, type Counts, type PushActionRow } from '../storage/push-actions.js';
import type { NidStateMap } from '../storage/state.js';

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

export type NotificationOptions = PredefinedRuleOptions;

/** What push evaluation needs to know about a room at one state group. */
interface RoomPushContext {
  group: number;
  state: NidStateMap;
  /** Joined members on every server (room_member_count). */
  joined: Set<string>;
  /** This server's joined members and their display names in the room. */
  local: Map<string, string | null>;
  createEvent: RoomEvent | undefined;
  powerLevelsEvent: RoomEvent | undefined;
  powerLevels: PowerLevelsView;
  notificationPowerLevels: Record<string, number>;
}

const MEMBER_PREFIX = 'm.room.member\u0000';
const DEFAULT_VERSION = getRoomVersion('1') as RoomVersion;
const CONTEXT_CACHE_ROOMS = 512;
const RULESET_CACHE_USERS = 100_000;

export class NotificationService {
  private readonly contexts = new Map<string, RoomPushContext>();
  private readonly ruleSets = new Map<string, CompiledRuleSet>();
  private readonly actionsJson = new WeakMap<PushOutcome, string>();

  constructor(
    private readonly storage: Storage,
    private readonly serverName: string,
    private readonly options: NotificationOptions = {},
  ) {}

  // ---- at persist time ----

  /**
   * EventStore's persist hook: evaluates the push rules of every local member of the room but the
   * sender (and of a local user the event invites), and records the events that notify them, in
   * the event's transaction. The sender's own event marks its thread read for them (spec:
   * "Marking notifications as read": "either by using the API or by sending an event").
   */
  readonly recordPushActions: PersistHook = async (tx, e, nid) => {
    const ev = e.event;
    if (e.rejectedReason !== null || e.softFailed || e.stateGroupBefore === null) return;
    const senderIsLocal = this.isLocal(ev.sender);
    const ctx = await this.roomContext(tx, ev.room_id, e.stateGroupBefore);
    const recipients = this.recipientsOf(ev, ctx);
    if (recipients.length === 0 && !senderIsLocal) return;

    const threadId = hasRelation(ev) ? await this.storage.pushActions.threadOf(tx, nid) : MAIN_THREAD;
    if (recipients.length > 0) {
      const rows = this.evaluate(ev, ctx, recipients);
      if (rows.length > 0) await this.storage.pushActions.record(tx, { roomId: ev.room_id, threadId, eventNid: nid }, rows);
    }
    if (senderIsLocal) await this.storage.pushActions.markRead(tx, ev.sender, ev.room_id, threadId, nid);
  };

  /** The compiled rules of one user: the server-default rules (the user's own rules come with pushrules/). */
  rulesFor(userId: string): CompiledRuleSet {
    let rules = this.ruleSets.get(userId);
    if (!rules) {
      rules = compileRuleSet(predefinedRules(userId, this.options));
      if (this.ruleSets.size >= RULESET_CACHE_USERS) this.ruleSets.delete(this.ruleSets.keys().next().value as string);
      this.ruleSets.set(userId, rules);
    }
    return rules;
  }

  /** Forgets a user's compiled rules, after they change. */
  invalidateRules(userId: string): void {
    this.ruleSets.delete(userId);
  }

  // ---- counts ----

  /** The user's unread counts in one room. */
  async counts(userId: string, roomId: string): Promise<UnreadCounts> {
    return (await this.countsForRooms(userId, [roomId])).get(roomId) as UnreadCounts;
  }

  /**
   * The user's unread counts in each room: notifying events after their read receipts. An
   * unthreaded receipt (m.read or m.read.private, whichever is further) marks everything up to
   * its event read; a threaded one only its thread (spec: "Marking notifications as read").
   */
  async countsForRooms(userId: string, roomIds: readonly string[]): Promise<Map<string, UnreadCounts>> {
    const out = new Map<string, UnreadCounts>();
    for (const roomId of roomIds) out.set(roomId, { notification_count: 0, highlight_count: 0, threads: {} });
    const summaries = await this.storage.pushActions.summaries(userId, roomIds);
    if (summaries.length === 0) return out;

    const unthreaded = new Map<string, number>();
    const threaded = new Map<string, number>();
    for (const r of await this.storage.pushActions.readReceipts(userId, [...new Set(summaries.map((s) => s.roomId))])) {
      if (r.threadId === undefined) unthreaded.set(r.roomId, Math.max(unthreaded.get(r.roomId) ?? 0, r.eventNid));
      else threaded.set(threadKey(r.roomId, r.threadId), Math.max(threaded.get(threadKey(r.roomId, r.threadId)) ?? 0, r.eventNid));
    }

    for (const s of summaries) {
      const readUpTo = Math.max(unthreaded.get(s.roomId) ?? 0, threaded.get(threadKey(s.roomId, s.threadId)) ?? 0);
      const counts: Counts = readUpTo > s.readNid ? await this.storage.pushActions.recount(userId, s.roomId, s.threadId, readUpTo) : s;
      if (counts.notificationCount === 0) continue;
      const room = out.get(s.roomId) as UnreadCounts;
      room.threads[s.threadId] = { notification_count: counts.notificationCount, highlight_count: counts.highlightCount };
      room.notification_count += counts.notificationCount;
      room.highlight_count += counts.highlightCount;
    }
    return out;
  }

  // ---- internals ----

  private evaluate(ev: RoomEvent, ctx: RoomPushContext, recipients: readonly PushRecipient[]): PushActionRow[] {
    const pushEvent = new PushEvent(ev, {
      memberCount: ctx.joined.size,
      senderPowerLevel: ctx.powerLevels.userLevel(ev.sender),
      notificationPowerLevels: ctx.notificationPowerLevels,
    });
    const rows: PushActionRow[] = [];
    for (const recipient of recipients) {
      const outcome = evaluatePushRules(this.rulesFor(recipient.userId), pushEvent, recipient);
      if (outcome?.notify) rows.push({ userId: recipient.userId, highlight: outcome.highlight, actions: this.actionsOf(outcome) });
    }
    return rows;
  }

  /** Local joined members but the sender, and a local user this event invites. */
  private recipientsOf(ev: RoomEvent, ctx: RoomPushContext): PushRecipient[] {
    const recipients: PushRecipient[] = [];
    for (const [userId, displayName] of ctx.local) if (userId !== ev.sender) recipients.push({ userId, displayName });
    const invitee = ev.type === 'm.room.member' && ev.content.membership === 'invite' ? ev.state_key : undefined;
    if (invitee !== undefined && invitee !== ev.sender && this.isLocal(invitee) && !ctx.local.has(invitee)) recipients.push({ userId: invitee });
    return recipients;
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
          if (this.isLocal(userId)) ctx.local.set(userId, typeof ev.content.displayname === 'string' ? ev.content.displayname : null);
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

function threadKey(roomId: string, threadId: string): string {
  return `${roomId}\u0000${threadId}`;
}

