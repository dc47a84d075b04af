// Long-polling /sync requests waiting for something to change. One subscription to the
// Notifier serves them all: each waiter is indexed by the rooms it watches and by its user,
// so a change reaches only the waiters of the rooms and users it names, never a scan of all.
// spec: client-server-api GET /sync `timeout`
import type { Notifier, StreamChange } from '../notifier.js';

export class Waiter {
  private fired = false;
  private wake: (() => void) | undefined;

  constructor(private readonly onDispose: (w: Waiter) => void) {}

  /** Something the request may care about changed (a change before wait() is not lost). */
  fire(): void {
    this.fired = true;
    this.wake?.();
  }

  /**
   * Resolves true when fired (now or before), false after `ms` or when `signal` aborts.
   * Clears the fired flag, so that the waiter can wait again.
   */
  wait(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.fired || ms <= 0 || signal?.aborted) {
      const fired = this.fired;
      this.fired = false;
      return Promise.resolve(fired);
    }
    return new Promise<boolean>((resolve) => {
      const done = (fired: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.wake = undefined;
        this.fired = false;
        resolve(fired);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.wake = () => done(true);
    });
  }

  dispose(): void {
    this.onDispose(this);
  }
}

/** Streams whose changes name only the user who changed, though their rooms' members should hear of it. */
const SHARED_WITH_ROOMMATES = new Set(['presence']);

export class SyncWaiters {
  private readonly byRoom = new Map<string, Set<Waiter>>();
  private readonly byUser = new Map<string, Set<Waiter>>();
  private readonly keys = new Map<Waiter, { userId: string; rooms: readonly string[] }>();
  private closed = false;
  /** How many times a waiter was woken by a change (each waiter once per change). */
  wakeups = 0;

  /** `joinedRooms` finds the rooms of a user whose presence or devices changed. */
  constructor(notifier: Notifier, private readonly joinedRooms: (userId: string) => Promise<string[]>, private readonly onError: (err: unknown) => void) {
    notifier.subscribe((c) => this.onChange(c));
  }

  /** A waiter for `userId` that fires on changes in `rooms` or naming the user. */
  register(userId: string, rooms: readonly string[]): Waiter {
    const w = new Waiter((x) => this.remove(x));
    if (this.closed) {
      w.fire();
      return w;
    }
    this.keys.set(w, { userId, rooms });
    add(this.byUser, userId, w);
    for (const r of rooms) add(this.byRoom, r, w);
    return w;
  }

  /** How many requests are waiting. */
  get size(): number {
    return this.keys.size;
  }

  /** Wakes every waiter (at shutdown), and every later one at once. */
  close(): void {
    this.closed = true;
    for (const w of [...this.keys.keys()]) w.fire();
  }

  private remove(w: Waiter): void {
    const k = this.keys.get(w);
    if (!k) return;
    this.keys.delete(w);
    drop(this.byUser, k.userId, w);
    for (const r of k.rooms) drop(this.byRoom, r, w);
  }

  private onChange(c: StreamChange): void {
    for (const r of c.rooms ?? []) this.fireAll(this.byRoom.get(r));
    for (const u of c.users ?? []) this.fireAll(this.byUser.get(u));
    if (SHARED_WITH_ROOMMATES.has(c.stream) && c.users?.length && this.byRoom.size > 0) {
      void Promise.all(c.users.map(async (u) => {
        for (const r of await this.joinedRooms(u)) this.fireAll(this.byRoom.get(r));
      })).catch(this.onError);
    }
  }

  private fireAll(ws: Set<Waiter> | undefined): void {
    if (!ws) return;
    for (const w of ws) w.fire();
    this.wakeups += ws.size;
  }
}

function add<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, s = new Set());
  s.add(v);
}

function drop<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}
