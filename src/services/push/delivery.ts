// Push delivery: once an event has committed, each local user it notified who has pushers gets a
// POST to their push gateway, in the Push Gateway API's format, off the send path. A failed
// delivery is retried with exponential backoff; pushkeys the gateway lists as `rejected` lose
// their pusher.
// spec: push-gateway-api "POST /_matrix/push/v1/notify"; client-server-api modules/push
// "Server behaviour", "Push Gateway behaviour"
import { request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { stateKey, type JsonObject, type JsonValue } from '../../core/pdu.js';
import type { PushAction, PushOutcome } from '../../core/push/index.js';
import type { Storage } from '../../storage/index.js';
import type { Pusher } from '../../storage/push-pushers.js';
import type { EventNotification, NotificationService } from '../notifications.js';
import type { RoomPipeline } from '../rooms/pipeline.js';
import type { IpPolicy } from '../net/ip-policy.js';
import { readAtMost } from '../net/read-limited.js';

/** A gateway answers with a short JSON object; more is not read. */
const GATEWAY_RESPONSE_MAX_BYTES = 64 * 1024;

export interface PushDeliveryOptions {
  /** Send the event's content to gateways (pushers without `data.format: event_id_only`). */
  includeContent: boolean;
  timeoutMs: number;
  /** Attempts per notification, the first included. */
  maxAttempts: number;
  /** The wait before the first retry; each next one waits twice as long, up to retryMaxMs. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Which addresses gateways may be reached at: pushers' URLs come from clients (push.ip_range_*). */
  ipPolicy: IpPolicy;
}

/** The Push Gateway API request body. */
export interface GatewayNotification {
  notification: JsonObject & { devices: JsonObject[] };
}

/** Retries waiting at once, over all pushers. */
const MAX_WAITING_RETRIES = 10_000;

export class PushDelivery {
  private readonly agent: Dispatcher;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly pipeline: RoomPipeline,
    private readonly notifications: NotificationService,
    private readonly options: PushDeliveryOptions,
    private readonly log: Logger,
  ) {
    this.agent = options.ipPolicy.agent({ connect: { timeout: options.timeoutMs }, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  /** NotificationService's after-commit listener: never waits on the gateways. */
  readonly notified = (n: EventNotification): void => {
    if (this.closed) return;
    this.track(this.deliver(n).catch((err: unknown) => this.log.error({ err, event_id: n.event.event_id }, 'push delivery failed')));
  };

  /** Waits for deliveries under way; pending retries are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
    await this.agent.close();
  }

  private async deliver(n: EventNotification): Promise<void> {
    const ev = n.event;
    if (!await this.storage.pushers.any()) return;
    const pushers = await this.storage.pushers.forJoinedMembers(ev.room_id);
    // A local user this event invites is no joined member yet.
    const invitee = ev.type === 'm.room.member' && ev.content.membership === 'invite' ? ev.state_key : undefined;
    if (invitee !== undefined && n.others.get(invitee)?.notify) pushers.push(...await this.storage.pushers.forUser(invitee));
    const byUser = new Map<string, { outcome: PushOutcome; pushers: Pusher[] }>();
    for (const p of pushers) {
      if (p.userId === ev.sender) continue;
      const outcome = n.others.has(p.userId) ? n.others.get(p.userId) : n.common;
      if (!outcome?.notify) continue;
      let entry = byUser.get(p.userId);
      if (!entry) byUser.set(p.userId, entry = { outcome, pushers: [] });
      if (!entry.pushers.some((q) => q.appId === p.appId && q.pushkey === p.pushkey)) entry.pushers.push(p);
    }
    if (byUser.size === 0) return;

    const room = await this.roomFacts(ev.room_id, ev.sender);
    for (const [userId, { outcome, pushers: userPushers }] of byUser) {
      const unread = await this.unreadTotal(userId);
      for (const p of userPushers) {
        const body = this.notificationBody(n, p, outcome, unread, room, userId);
        this.attempt(p, body, 1);
      }
    }
  }

  /** Posts one notification; on failure schedules the next attempt. */
  private attempt(p: Pusher, body: GatewayNotification, attempt: number): void {
    if (this.closed) return;
    this.track(this.post(p, body).then(async (outcome) => {
      if (outcome === 'ok' || outcome === 'denied') return;
      if (outcome === 'rejected') {
        // spec: push-gateway-api: the homeserver "SHOULD remove" pushers whose pushkeys are rejected.
        await this.storage.pushers.delete(p.userId, p.appId, p.pushkey);
        this.log.info({ user_id: p.userId, app_id: p.appId }, 'push gateway rejected a pushkey; pusher removed');
        return;
      }
      // A gateway down for long must not grow memory without bound: past this many waiting retries, drop.
      if (attempt >= this.options.maxAttempts || this.timers.size >= MAX_WAITING_RETRIES) {
        this.log.warn({ user_id: p.userId, app_id: p.appId, attempts: attempt }, 'push notification dropped after repeated failures');
        return;
      }
      const wait = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** (attempt - 1));
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.attempt(p, body, attempt + 1);
      }, wait);
      timer.unref();
      this.timers.add(timer);
    }).catch((err: unknown) => this.log.error({ err }, 'push delivery failed')));
  }

  /**
   * 'ok', 'rejected' (this pusher's pushkey), 'denied' (the gateway's address is refused by
   * push.ip_range_*: retrying cannot help), or 'retry' (network error, timeout, non-2xx).
   */
  private async post(p: Pusher, body: GatewayNotification): Promise<'ok' | 'rejected' | 'denied' | 'retry'> {
    try {
      const res = await request(p.data.url as string, {
        method: 'POST', dispatcher: this.agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      const text = await readAtMost(res.body, GATEWAY_RESPONSE_MAX_BYTES);
      if (res.statusCode < 200 || res.statusCode >= 300) {
        this.log.warn({ user_id: p.userId, app_id: p.appId, status: res.statusCode }, 'push gateway answered with an error');
        return 'retry';
      }
      let rejected: unknown;
      try {
        rejected = (JSON.parse(text) as { rejected?: unknown }).rejected;
      } catch {
        rejected = undefined;
      }
      return Array.isArray(rejected) && rejected.includes(p.pushkey) ? 'rejected' : 'ok';
    } catch (err) {
      if (isIpDenied(err)) {
        this.log.warn({ user_id: p.userId, app_id: p.appId, err: (err as Error).message }, 'push gateway address denied (push.ip_range_denylist)');
        return 'denied';
      }
      this.log.warn({ user_id: p.userId, app_id: p.appId, err: (err as Error).message }, 'push gateway unreachable');
      return 'retry';
    }
  }

  /**
   * The Push Gateway API body for one pusher. With `data.format: event_id_only` (or content
   * disabled by configuration) only event_id, room_id, counts and devices, and the priority.
   */
  private notificationBody(n: EventNotification, p: Pusher, outcome: PushOutcome, unread: number, room: RoomFacts, userId: string): GatewayNotification {
    const ev = n.event;
    const tweaks = tweaksOf(outcome.actions);
    // As Synapse does: encrypted events and those with a sound or highlight are urgent.
    const prio = ev.type === 'm.room.encrypted' || tweaks.sound !== undefined || tweaks.highlight === true ? 'high' : 'low';
    const data: JsonObject = { ...p.data };
    delete data.url; // spec: pusher.yaml: forward everything but `url`
    const device: JsonObject = { app_id: p.appId, pushkey: p.pushkey, pushkey_ts: Math.floor(p.pushkeyTs / 1000), data, tweaks };
    const counts = { unread };
    if (p.data.format === 'event_id_only' || !this.options.includeContent) {
      return { notification: { event_id: ev.event_id, room_id: ev.room_id, counts, prio, devices: [device] } };
    }
    return {
      notification: {
        event_id: ev.event_id, room_id: ev.room_id, type: ev.type, sender: ev.sender,
        ...(room.senderDisplayName === undefined ? {} : { sender_display_name: room.senderDisplayName }),
        ...(room.name === undefined ? {} : { room_name: room.name }),
        ...(room.alias === undefined ? {} : { room_alias: room.alias }),
        ...(ev.type === 'm.room.member' ? { user_is_target: ev.state_key === userId } : {}),
        prio, content: ev.content, counts, devices: [device],
      },
    };
  }

  /** The sender's display name, the room's name and canonical alias, from the current state. */
  private async roomFacts(roomId: string, sender: string): Promise<RoomFacts> {
    const keys = [stateKey('m.room.member', sender), stateKey('m.room.name', ''), stateKey('m.room.canonical_alias', '')];
    const state = await this.pipeline.loadState(await this.storage.events.currentState(roomId), keys);
    const str = (v: JsonValue | undefined) => (typeof v === 'string' && v !== '' ? v : undefined);
    return {
      senderDisplayName: str(state.get(keys[0])?.content.displayname),
      name: str(state.get(keys[1])?.content.name),
      alias: str(state.get(keys[2])?.content.alias),
    };
  }

  /** counts.unread: the user's unread notifications over all their rooms. */
  private async unreadTotal(userId: string): Promise<number> {
    const rooms = await this.storage.rooms.roomsWithMembership(userId, 'join');
    let total = 0;
    for (const c of (await this.notifications.countsForRooms(userId, rooms)).values()) total += c.notification_count;
    return total;
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }
}

function isIpDenied(err: unknown): boolean {
  for (let e = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 'EIPDENIED') return true;
  }
  return false;
}

interface RoomFacts { senderDisplayName?: string; name?: string; alias?: string }

/** The tweaks of an outcome's actions, as the gateway's `devices[].tweaks`. */
function tweaksOf(actions: readonly PushAction[]): Record<string, JsonValue> {
  const tweaks: Record<string, JsonValue> = {};
  for (const a of actions) {
    if (typeof a === 'object' && a !== null && typeof a.set_tweak === 'string') tweaks[a.set_tweak] = a.value === undefined ? (a.set_tweak === 'highlight' ? true : null) : a.value;
  }
  return tweaks;
}
