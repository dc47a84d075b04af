// Typing notifications: who is typing in which room. Held in memory only (typing is never
// persisted) and read by /sync as the `typing` stream.
// spec: client-server-api modules/typing_notifications
//
// Stream positions. The typing stream lives and dies with the process, yet a client may hold a
// sync token from before a restart. Positions are therefore taken from the clock: the stream
// starts at the process's start time in milliseconds and every change takes
// `max(previous + 1, now)`, so positions keep increasing across restarts (as long as the clock
// does). A token this process cannot answer exactly — from before it started, or from before the
// oldest room change it still remembers, or "from the future" (a clock step backwards) — gets
// every room it asks about, with that room's full list of typing users: m.typing replaces what
// the client knew, so answering too much is always safe, while answering too little would leave
// a stale "is typing" on screen.
import type { Notifier } from './notifier.js';

/** Synapse caps typing timeouts at two minutes; we do the same. */
export const MAX_TYPING_TIMEOUT_MS = 120_000;
/** The timeout when a client says `typing: true` without one (Synapse's default). */
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;
/** Rooms where nobody types are forgotten this long after their last change. */
const FORGET_IDLE_ROOM_MS = 10 * 60_000;

export interface TypingEvent {
  type: 'm.typing';
  content: { user_ids: string[] };
}

interface RoomTyping {
  /** Typing users and when their notification expires. */
  users: Map<string, { timer: NodeJS.Timeout }>;
  /** The stream position of the room's last change. */
  changedAt: number;
}

export class TypingService {
  private readonly rooms = new Map<string, RoomTyping>();
  private position: number;
  /** Positions below this are answered with every room (see the top of this file). */
  private horizon: number;
  private lastForget: number;

  constructor(private readonly notifier: Notifier, private readonly now: () => number = () => Date.now()) {
    this.position = this.horizon = this.lastForget = now();
  }

  /** The position of the latest change in this process. */
  currentPosition(): number {
    return this.position;
  }

  /**
   * spec: PUT /rooms/{roomId}/typing/{userId}. The caller has checked that the user may type
   * there. A repeated `typing: true` only extends the timeout and is not a change.
   */
  setTyping(roomId: string, userId: string, typing: boolean, timeoutMs = DEFAULT_TYPING_TIMEOUT_MS): void {
    const room = this.rooms.get(roomId);
    const current = room?.users.get(userId);
    if (!typing) {
      if (!room || !current) return;
      clearTimeout(current.timer);
      room.users.delete(userId);
      this.changed(roomId, room);
      return;
    }
    const timeout = Math.max(0, Math.min(timeoutMs, MAX_TYPING_TIMEOUT_MS));
    const timer = setTimeout(() => this.setTyping(roomId, userId, false), timeout);
    timer.unref();
    if (current) {
      clearTimeout(current.timer);
      current.timer = timer;
      return;
    }
    const r = room ?? { users: new Map(), changedAt: this.position };
    r.users.set(userId, { timer });
    this.rooms.set(roomId, r);
    this.changed(roomId, r);
  }

  /** The users typing in a room now, sorted. */
  typingUsers(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.users.keys() ?? [])].sort();
  }

  /** The m.typing EDU for a room, as /sync puts it under `ephemeral`. */
  typingEvent(roomId: string): TypingEvent {
    return { type: 'm.typing', content: { user_ids: this.typingUsers(roomId) } };
  }

  /**
   * Of `rooms`, those whose typing users changed after position `since`: every one of them when
   * this process cannot tell (a token from an earlier process, or one it has forgotten). For an
   * initial sync, without a token, send `typingEvent` for the rooms where `typingUsers` is not empty.
   */
  changedRooms(rooms: Iterable<string>, since: number): string[] {
    const all = [...rooms];
    if (since < this.horizon || since > this.position) return all;
    return all.filter((roomId) => (this.rooms.get(roomId)?.changedAt ?? -Infinity) > since);
  }

  /** Stops every timer (at shutdown). */
  close(): void {
    for (const room of this.rooms.values()) for (const u of room.users.values()) clearTimeout(u.timer);
    this.rooms.clear();
  }

  private changed(roomId: string, room: RoomTyping): void {
    const now = this.now();
    this.position = Math.max(this.position + 1, now);
    room.changedAt = this.position;
    if (now - this.lastForget > 60_000) this.forgetIdleRooms(now);
    this.notifier.notify({ stream: 'typing', position: this.position, rooms: [roomId] });
  }

  /** Keeps memory bounded: rooms without typers are forgotten, and the horizon moves past them. */
  private forgetIdleRooms(now: number): void {
    this.lastForget = now;
    for (const [roomId, room] of this.rooms) {
      if (room.users.size === 0 && now - room.changedAt > FORGET_IDLE_ROOM_MS) {
        this.rooms.delete(roomId);
        this.horizon = Math.max(this.horizon, room.changedAt);
      }
    }
  }
}
