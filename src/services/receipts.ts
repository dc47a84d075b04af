// Receipts and the fully read marker: where each user has read up to in each room (and thread).
// Receipts are read by /sync as the `receipts` stream; the fully read marker is room account
// data (m.fully_read) and travels in the account data stream.
// spec: client-server-api modules/receipts, modules/read_markers
import { MatrixError, forbidden, notFound } from '../errors.js';
import type { RoomEvent } from '../core/pdu.js';
import type { StoredEvent } from '../storage/events.js';
import type { Storage } from '../storage/index.js';
import type { StoredReceipt } from '../storage/receipts.js';
import type { AccountDataService } from './account-data.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Notifier } from './notifier.js';
import type { Visibility } from './rooms/visibility.js';

export const RECEIPT_TYPES = ['m.read', 'm.read.private'] as const;
export type ReceiptType = (typeof RECEIPT_TYPES)[number];
export const FULLY_READ = 'm.fully_read';
/** The thread ID of the main timeline (spec: "Threaded read receipts"). */
export const MAIN_TIMELINE = 'main';
/** How many relations to follow when looking for an event's thread (spec: "a maximum of 3 hops is recommended"). */
const MAX_RELATION_HOPS = 3;

/** `content` of m.receipt: event ID → receipt type → user ID → receipt. */
export type ReceiptContent = Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>>;

export interface ReceiptEvent {
  type: 'm.receipt';
  content: ReceiptContent;
}

export interface ReadMarkers {
  'm.fully_read'?: string;
  'm.read'?: string;
  'm.read.private'?: string;
}

export class ReceiptService {
  /** One receipt write at a time, so that stream positions are committed in order. */
  private readonly writes = new KeyedMutex();

  constructor(
    private readonly storage: Storage,
    private readonly visibility: Visibility,
    private readonly notifier: Notifier,
    private readonly accountData: AccountDataService,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Told of every receipt recorded (federation sends local users' public ones to other servers). */
  readonly receiptListeners = new Set<(r: { userId: string; roomId: string; receiptType: ReceiptType; eventId: string; ts: number; threadId?: string }) => void>();

  /**
   * A receipt from another server (an m.receipt EDU; the caller checked that the user is joined
   * and speaks through that server). Recorded only for an event of the room that we have.
   */
  async receiveRemoteReceipt(userId: string, roomId: string, receiptType: ReceiptType, eventId: string, threadId?: string): Promise<void> {
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId || s.rejectedReason !== null) return;
    await this.record(userId, roomId, receiptType, s, threadId);
  }

  /**
   * spec: POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. Only moves forward: a receipt for
   * an event at or before the user's current one (same type and thread) is accepted and ignored.
   */
  async sendReceipt(userId: string, roomId: string, receiptType: ReceiptType, eventId: string, threadId?: string): Promise<void> {
    const target = await this.target(userId, roomId, eventId);
    if (threadId !== undefined) await this.checkThread(target, threadId);
    await this.record(userId, roomId, receiptType, target, threadId);
  }

  /**
   * spec: POST /rooms/{roomId}/read_markers. Every event is checked before anything is written.
   * The fully read marker may move backwards (a user may undo "mark as read"), as in Synapse.
   */
  async setReadMarkers(userId: string, roomId: string, markers: ReadMarkers): Promise<void> {
    const targets: Array<[string, StoredEvent]> = [];
    for (const type of [FULLY_READ, ...RECEIPT_TYPES] as const) {
      const eventId = markers[type];
      if (eventId !== undefined) targets.push([type, await this.target(userId, roomId, eventId)]);
    }
    for (const [type, target] of targets) {
      if (type === FULLY_READ) await this.setFullyRead(userId, roomId, target.event.event_id);
      else await this.record(userId, roomId, type as ReceiptType, target);
    }
  }

  // ---- the stream, for /sync ----

  /** The position of the latest receipt (0 when there is none). */
  async currentPosition(): Promise<number> {
    return this.storage.receipts.maxStreamId();
  }

  /**
   * The m.receipt events, one per room, for receipts in `rooms` at positions in (since, upTo],
   * as `viewer` may see them: other users' m.read.private receipts are left out (spec: "Servers
   * MUST NOT send the m.read.private receipt to any other user"). With since = 0 this is every
   * current receipt in those rooms. Rooms without receipts for the viewer are absent.
   */
  async receiptEvents(viewer: string, rooms: readonly string[], since: number, upTo?: number): Promise<Map<string, ReceiptEvent>> {
    const out = new Map<string, ReceiptEvent>();
    if (upTo !== undefined && upTo <= since) return out; // nothing can be in (since, upTo]
    for (const r of await this.storage.receipts.changedSince(rooms, since, upTo)) {
      if (r.receiptType === 'm.read.private' && r.userId !== viewer) continue;
      let ev = out.get(r.roomId);
      if (!ev) out.set(r.roomId, ev = { type: 'm.receipt', content: {} });
      ((ev.content[r.eventId] ??= {})[r.receiptType] ??= {})[r.userId] = receiptBody(r);
    }
    return out;
  }

  // ---- internals ----

  /**
   * The event a receipt or marker points at: the user must be joined to the room (403), and the
   * event must be an accepted event of that room that the user may see (404).
   */
  private async target(userId: string, roomId: string, eventId: string): Promise<StoredEvent> {
    if ((await this.storage.rooms.membership(roomId, userId)) !== 'join') throw forbidden(`You are not joined to ${roomId}`);
    const s = await this.storage.events.getEvent(eventId);
    if (!s || s.event.room_id !== roomId || s.outlier || s.rejectedReason !== null || s.softFailed) throw notFound('Event not found');
    const [visible] = await this.visibility.filter(userId, roomId, [s]);
    if (!visible) throw notFound('Event not found');
    return visible;
  }

  /**
   * A threaded receipt must name the thread its event is in (spec: receipts "Threaded read
   * receipts"; POST /receipt answers 400 when "the event_id is not related to the thread_id").
   * `main` fits events outside every thread, thread roots included; a thread root's ID fits the
   * events of that thread, the root itself, and events related to the root by other relations.
   */
  private async checkThread(target: StoredEvent, threadId: string): Promise<void> {
    const { thread, related } = await this.threadOf(target.event);
    const fits = threadId === MAIN_TIMELINE ? thread === MAIN_TIMELINE : thread === threadId || related.includes(threadId);
    if (!fits) throw new MatrixError('M_INVALID_PARAM', `event_id ${target.event.event_id} is not related to thread ${threadId}`, 400);
  }

  /**
   * The thread an event is in: the root named by the first m.thread relation found following the
   * event's relations, at most MAX_RELATION_HOPS of them; else the main timeline. `related` lists
   * the event and the events its relations led to.
   */
  private async threadOf(event: RoomEvent): Promise<{ thread: string; related: string[] }> {
    const related = [event.event_id];
    let current = event;
    for (let hop = 0; hop < MAX_RELATION_HOPS; hop++) {
      const relation = relationOf(current);
      if (!relation) break;
      if (relation.relType === 'm.thread') return { thread: relation.eventId, related };
      related.push(relation.eventId);
      const parent = await this.storage.events.getEvent(relation.eventId);
      if (!parent || parent.event.room_id !== event.room_id) break;
      current = parent.event;
    }
    return { thread: MAIN_TIMELINE, related };
  }

  private async record(userId: string, roomId: string, receiptType: ReceiptType, target: StoredEvent, threadId?: string): Promise<void> {
    await this.writes.run('receipts', async () => {
      const position = await this.storage.receipts.put({
        roomId, receiptType, userId, threadId, eventId: target.event.event_id, eventNid: target.nid, ts: this.now(),
      });
      if (position !== undefined) {
        this.notifier.notify({ stream: 'receipts', position, rooms: [roomId] });
        for (const l of this.receiptListeners) l({ userId, roomId, receiptType, eventId: target.event.event_id, ts: this.now(), ...(threadId !== undefined ? { threadId } : {}) });
      }
    });
  }

  /**
   * spec: read_markers "Server behaviour": the marker is the m.fully_read room account data
   * event, which clients cannot set directly; it reaches them through the account data stream.
   */
  private async setFullyRead(userId: string, roomId: string, eventId: string): Promise<void> {
    await this.accountData.set(userId, roomId, FULLY_READ, { event_id: eventId });
  }
}

function receiptBody(r: StoredReceipt): { ts: number; thread_id?: string } {
  return r.threadId === undefined ? { ts: r.ts } : { ts: r.ts, thread_id: r.threadId };
}

/** An event's m.relates_to, when it names a relation type and an event. */
function relationOf(event: RoomEvent): { relType: string; eventId: string } | undefined {
  const rel = event.content['m.relates_to'];
  if (typeof rel !== 'object' || rel === null || Array.isArray(rel)) return undefined;
  const { rel_type: relType, event_id: eventId } = rel as Record<string, unknown>;
  return typeof relType === 'string' && typeof eventId === 'string' ? { relType, eventId } : undefined;
}
