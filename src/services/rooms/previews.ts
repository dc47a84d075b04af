// Reading a room from outside or from its edge: the state a user may read, and room previews
// ("peeking"): a snapshot of a room (GET /rooms/{roomId}/initialSync) and the stream of its new
// events (GET /events?room_id=), for members and, in world_readable rooms, for anyone.
// spec: client-server-api modules/room_previews, "GET /rooms/{roomId}/state",
// room_initial_sync.yaml, peeking_events.yaml
import { stateKey } from '../../core/pdu.js';
import { forbidden } from '../../errors.js';
import type { AccountDataEvent } from '../../storage/account-data.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { NidStateMap } from '../../storage/state.js';
import type { Notifier } from '../notifier.js';
import type { ClientEvent, EventFormatter, Viewer } from './format.js';
import { parseStreamToken, streamToken, type Timeline } from './timeline.js';
import type { Visibility } from './visibility.js';

const HISTORY_KEY = stateKey('m.room.history_visibility', '');
/** The most events one GET /events answer carries; the client continues from `end`. */
export const MAX_PEEK_EVENTS = 100;
/** The longest GET /events waits for an event. */
export const MAX_PEEK_TIMEOUT_MS = 60_000;
export const DEFAULT_INITIAL_SYNC_LIMIT = 10;

export interface InitialSync {
  room_id: string;
  membership?: string;
  messages: { start?: string; end: string; chunk: ClientEvent[] };
  state: ClientEvent[];
  visibility: 'public' | 'private';
  account_data: AccountDataEvent[];
}

export interface PeekPage { start: string; end: string; chunk: ClientEvent[] }

export class RoomPreviews {
  /** Wakes every waiting GET /events (at shutdown). */
  private readonly waiting = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly visibility: Visibility,
    private readonly formatter: EventFormatter,
    private readonly timeline: Timeline,
    private readonly notifier: Notifier,
  ) {}

  /**
   * The state a user may read: the current state while joined or when the room is
   * world_readable, else the state when they left or were banned (spec: "GET
   * /rooms/{roomId}/state"); M_FORBIDDEN otherwise, and for unknown rooms.
   */
  async readableState(userId: string, roomId: string): Promise<NidStateMap> {
    return (await this.access(userId, roomId)).state;
  }

  /** spec: GET /rooms/{roomId}/initialSync: state, latest messages and room account data. */
  async initialSync(viewer: Viewer, roomId: string, limit: number): Promise<InitialSync> {
    const access = await this.access(viewer.userId, roomId);
    // A user who left sees the messages up to their leaving; anyone else the latest ones.
    const from = access.departedAt === undefined ? undefined : streamToken(access.departedAt);
    const page = await this.timeline.messages(viewer, roomId, { from, dir: 'b', limit });
    const loaded = await this.storage.events.getEventsByNid([...access.state.values()]);
    const stateEvents = [...access.state.values()].map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
    const accountData = (await this.storage.accountData.changesSince(viewer.userId, 0)).rooms[roomId] ?? [];
    const room = await this.storage.events.getRoom(roomId);
    const out: InitialSync = {
      room_id: roomId,
      // Chronological, as a timeline reads; `start` is absent when there is nothing earlier.
      messages: { ...(page.end === undefined ? {} : { start: page.end }), end: page.start, chunk: [...page.chunk].reverse() },
      state: await this.formatter.format(stateEvents, viewer),
      visibility: room?.isPublic ? 'public' : 'private',
      account_data: accountData,
    };
    if (access.membership !== undefined) out.membership = access.membership;
    return out;
  }

  /**
   * spec: GET /events with room_id (peeking_events.yaml): the room's events after `from` that
   * the user may see, waiting up to `timeoutMs` for one. Without `from`, the stream starts now.
   * Members may use it as well as peekers; the history visibility rules decide each event
   * (for a non-member of a world_readable room: the events whose state was world_readable).
   */
  async events(viewer: Viewer, roomId: string, from: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<PeekPage> {
    const access = await this.access(viewer.userId, roomId);
    if (access.departedAt !== undefined) throw forbidden(`You are not allowed to peek into ${roomId}`);
    const start = from !== undefined ? parseStreamToken(from) : await this.storage.rooms.maxStreamPosition();
    const deadline = Date.now() + Math.min(Math.max(0, timeoutMs), MAX_PEEK_TIMEOUT_MS);
    let position = start;
    for (;;) {
      // Listen before reading, so that an event persisted during the read still wakes us.
      const wake = this.waitForRoom(roomId, deadline, signal);
      try {
        const page = await this.read(viewer, roomId, position);
        position = page.position;
        if (page.chunk.length > 0 || page.more) {
          return { start: streamToken(start), end: streamToken(position), chunk: await this.formatter.format(page.chunk, viewer) };
        }
        if (Date.now() >= deadline || this.closed || signal?.aborted) return { start: streamToken(start), end: streamToken(position), chunk: [] };
        await wake.promise;
      } finally {
        wake.cancel();
      }
    }
  }

  /** Ends every waiting GET /events with what it has (the server is shutting down). */
  close(): void {
    this.closed = true;
    for (const wake of [...this.waiting]) wake();
  }

  /** Up to MAX_PEEK_EVENTS visible events after `from`; `position` is how far it read. */
  private async read(viewer: Viewer, roomId: string, from: number): Promise<{ chunk: StoredEvent[]; position: number; more: boolean }> {
    const nids = await this.storage.rooms.timeline({ roomId, from, dir: 'f', limit: MAX_PEEK_EVENTS });
    if (nids.length === 0) return { chunk: [], position: from, more: false };
    const loaded = await this.storage.events.getEventsByNid(nids);
    const events = nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
    // spec: modules/ignore_users: events from ignored users are hidden, except state events.
    const ignored = await this.storage.accountData.ignoredUsers(viewer.userId);
    const visible = (await this.visibility.filter(viewer.userId, roomId, events))
      .filter((s) => s.event.state_key !== undefined || !ignored.has(s.event.sender));
    // A full page of invisible events still moves the position on: the caller reads on.
    return { chunk: visible, position: nids[nids.length - 1], more: visible.length === 0 && nids.length === MAX_PEEK_EVENTS };
  }

  private waitForRoom(roomId: string, deadline: number, signal?: AbortSignal): { promise: Promise<void>; cancel: () => void } {
    let done!: () => void;
    const promise = new Promise<void>((resolve) => { done = resolve; });
    const timer = setTimeout(() => done(), Math.max(0, deadline - Date.now()));
    const unsubscribe = this.notifier.subscribe((c) => {
      if (c.stream === 'events' && c.rooms?.includes(roomId)) done();
    });
    const onAbort = () => done();
    signal?.addEventListener('abort', onAbort);
    this.waiting.add(done);
    return {
      promise,
      cancel: () => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        this.waiting.delete(done);
      },
    };
  }

  /** What `userId` may read of a room, and from where. */
  private async access(userId: string, roomId: string): Promise<{ state: NidStateMap; membership?: string; departedAt?: number }> {
    if (!(await this.storage.events.getRoom(roomId))) throw forbidden(`You are not allowed to read ${roomId}`);
    const m = await this.storage.rooms.membershipRow(roomId, userId);
    const current = await this.storage.events.currentState(roomId);
    if (m?.membership === 'join') return { state: current, membership: 'join' };
    const histNid = current.get(HISTORY_KEY);
    const hist = histNid === undefined ? undefined : (await this.storage.events.getEventsByNid([histNid])).get(histNid);
    if (hist?.event.content.history_visibility === 'world_readable') return { state: current, membership: m?.membership };
    if (m && (m.membership === 'leave' || m.membership === 'ban')) {
      const ev = (await this.storage.events.getEventsByNid([m.eventNid])).get(m.eventNid);
      if (ev?.stateGroup != null) return { state: await this.storage.state.loadGroup(ev.stateGroup), membership: m.membership, departedAt: m.eventNid };
    }
    throw forbidden(`You are not allowed to read ${roomId}`);
  }
}
