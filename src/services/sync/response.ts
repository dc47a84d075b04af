// The /sync response from what the providers read: the join, invite, knock and leave sections,
// presence, account data and the end-to-end encryption parts, and whether any of it is news.
// spec: client-server-api GET /sync (the 200 response)
import type { JsonObject } from '../../core/pdu.js';
import type { AccountDataEvent } from '../../storage/account-data.js';
import type { StoredEvent } from '../../storage/events.js';
import type { PresenceEvent } from '../presence.js';
import { streamToken } from '../rooms/timeline.js';
import type { E2eeSection } from './e2ee.js';
import type { EphemeralEvent } from './ephemeral.js';
import type { RoomPlan, RoomSections } from './memberships.js';
import type { BuiltRoom } from './rooms.js';
import type { StrippedStateEvent } from './stripped.js';

export interface NotificationCounts { notification_count: number; highlight_count: number }
export type UnreadCounts = NotificationCounts & { threads: Record<string, NotificationCounts> };

/** The thread ID of the main timeline in threaded counts (spec: "Threaded read receipts"). */
const MAIN_THREAD = 'main';

export interface SyncParts {
  nextBatch: string;
  sections: RoomSections;
  builtJoin: BuiltRoom[];
  builtLeave: BuiltRoom[];
  /** Every timeline and state event, formatted, by nid. */
  shaped: Map<number, JsonObject>;
  stripped: Map<string, { sender: string; events: StrippedStateEvent[] }>;
  ephemeral: Map<string, EphemeralEvent[]>;
  accountData: { global: AccountDataEvent[]; rooms: Map<string, AccountDataEvent[]> };
  presence: PresenceEvent[];
  e2ee: { section: E2eeSection; empty: boolean };
  unread?: Map<string, UnreadCounts>;
  /** The timeline filter's unread_thread_notifications. */
  threaded: boolean;
  useStateAfter: boolean;
  ignored: ReadonlySet<string>;
}

const events = <T>(list: T[]) => ({ events: list as unknown as JsonObject[] });

export function assembleResponse(p: SyncParts): { body: JsonObject & { next_batch: string }; empty: boolean } {
  const join: Record<string, JsonObject> = {};
  const builtById = new Map(p.builtJoin.map((b) => [b.plan.roomId, b]));
  for (const plan of p.sections.join) {
    const b = builtById.get(plan.roomId);
    const ephemeral = p.ephemeral.get(plan.roomId) ?? [];
    const accountData = p.accountData.rooms.get(plan.roomId) ?? [];
    // A room the client knows appears only with something new for it.
    const news = b !== undefined && (plan.after === null || b.timeline.events.length > 0 || b.state.length > 0 || b.timeline.limited);
    if (!news && ephemeral.length === 0 && accountData.length === 0) continue;
    join[plan.roomId] = {
      ...roomBody(b, plan, p.shaped, p.useStateAfter),
      ephemeral: events(ephemeral),
      account_data: events(accountData),
      ...(b?.summary ? { summary: b.summary as unknown as JsonObject } : {}),
      ...unreadFields(p.unread?.get(plan.roomId), p.threaded),
    };
  }
  const leave: Record<string, JsonObject> = {};
  for (const b of p.builtLeave) {
    leave[b.plan.roomId] = { ...roomBody(b, b.plan, p.shaped, p.useStateAfter), account_data: events(p.accountData.rooms.get(b.plan.roomId) ?? []) };
  }
  const invite: Record<string, JsonObject> = {};
  for (const plan of p.sections.invite) {
    const s = p.stripped.get(plan.roomId);
    // spec: modules/ignore_users "Servers must not send room invites from ignored users to clients".
    if (s && !p.ignored.has(s.sender)) invite[plan.roomId] = { invite_state: events(s.events) };
  }
  const knock: Record<string, JsonObject> = {};
  for (const plan of p.sections.knock) {
    const s = p.stripped.get(plan.roomId);
    if (s) knock[plan.roomId] = { knock_state: events(s.events) };
  }
  const body = {
    next_batch: p.nextBatch,
    rooms: { join, invite, leave, knock },
    presence: events(p.presence),
    account_data: events(p.accountData.global),
    ...(p.e2ee.section as unknown as JsonObject),
  };
  const empty = [join, invite, leave, knock].every((s) => Object.keys(s).length === 0)
    && p.presence.length === 0 && p.accountData.global.length === 0 && p.e2ee.empty;
  return { body, empty };
}

/** The timeline and state parts of a join or leave entry. */
function roomBody(b: BuiltRoom | undefined, plan: RoomPlan, shaped: Map<number, JsonObject>, useStateAfter: boolean): JsonObject {
  const pick = (list: StoredEvent[]) => list.map((e) => shaped.get(e.nid)).filter((e): e is JsonObject => e !== undefined);
  const timeline = b
    ? { events: pick(b.timeline.events), limited: b.timeline.limited, prev_batch: b.prevBatch }
    : { events: [], limited: false, prev_batch: streamToken(plan.upTo) };
  const state = { events: b ? pick(b.state) : [] };
  // spec v1.16 use_state_after: `state_after` instead of `state`, never both.
  return { timeline, ...(useStateAfter ? { state_after: state } : { state }) };
}

/**
 * spec: GET /sync `unread_notifications`, and with the timeline filter's
 * `unread_thread_notifications` the main timeline's counts there and each thread's in
 * `unread_thread_notifications` (omitted when no thread has any).
 */
function unreadFields(c: UnreadCounts | undefined, threaded: boolean): JsonObject {
  if (!c) return {};
  if (!threaded) return { unread_notifications: { notification_count: c.notification_count, highlight_count: c.highlight_count } };
  const main = c.threads[MAIN_THREAD] ?? { notification_count: 0, highlight_count: 0 };
  const threads = Object.entries(c.threads).filter(([id]) => id !== MAIN_THREAD);
  return {
    unread_notifications: { ...main },
    ...(threads.length ? { unread_thread_notifications: Object.fromEntries(threads.map(([id, t]) => [id, { ...t }])) } : {}),
  };
}
