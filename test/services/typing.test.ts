// The typing stream's positions and "changed since" answers, which /sync relies on.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Notifier, type StreamChange } from '../../src/services/notifier.js';
import { MAX_TYPING_TIMEOUT_MS, TypingService } from '../../src/services/typing.js';

describe('TypingService', () => {
  let notifier: Notifier;
  let changes: StreamChange[];
  let typing: TypingService;
  const room1 = '!one:test.local';
  const room2 = '!two:test.local';

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    notifier = new Notifier();
    changes = [];
    notifier.subscribe((c) => changes.push(c));
    typing = new TypingService(notifier);
  });
  afterEach(() => {
    typing.close();
    vi.useRealTimers();
  });

  it('starts at the clock and moves forward with every change, notifying the room', () => {
    const start = typing.currentPosition();
    expect(start).toBe(Date.now());
    typing.setTyping(room1, '@a:test.local', true, 10_000);
    const p1 = typing.currentPosition();
    expect(p1).toBeGreaterThan(start);
    typing.setTyping(room1, '@b:test.local', true, 10_000);
    const p2 = typing.currentPosition();
    expect(p2).toBeGreaterThan(p1);
    expect(changes).toEqual([
      { stream: 'typing', position: p1, rooms: [room1] },
      { stream: 'typing', position: p2, rooms: [room1] },
    ]);
    expect(typing.typingEvent(room1)).toEqual({ type: 'm.typing', content: { user_ids: ['@a:test.local', '@b:test.local'] } });
    expect(typing.typingEvent(room2)).toEqual({ type: 'm.typing', content: { user_ids: [] } });
  });

  it('keeps up with the clock, so positions stay above any earlier process', () => {
    vi.advanceTimersByTime(5_000);
    typing.setTyping(room1, '@a:test.local', true);
    expect(typing.currentPosition()).toBe(Date.now());
  });

  it('a repeated typing: true extends the timeout without a change; stopping twice is one change', () => {
    typing.setTyping(room1, '@a:test.local', true, 10_000);
    const p = typing.currentPosition();
    vi.advanceTimersByTime(8_000);
    typing.setTyping(room1, '@a:test.local', true, 10_000);
    expect(typing.currentPosition()).toBe(p);
    vi.advanceTimersByTime(8_000); // 16 s after the first, 8 s after the refresh
    expect(typing.typingUsers(room1)).toEqual(['@a:test.local']);
    typing.setTyping(room1, '@a:test.local', false);
    typing.setTyping(room1, '@a:test.local', false);
    typing.setTyping(room2, '@a:test.local', false); // never typed there
    expect(changes).toHaveLength(2);
    expect(typing.typingUsers(room1)).toEqual([]);
  });

  it('expires a typing user after the timeout, as a change in the stream', () => {
    typing.setTyping(room1, '@a:test.local', true, 3_000);
    const p = typing.currentPosition();
    vi.advanceTimersByTime(2_999);
    expect(typing.typingUsers(room1)).toEqual(['@a:test.local']);
    vi.advanceTimersByTime(1);
    expect(typing.typingUsers(room1)).toEqual([]);
    expect(typing.currentPosition()).toBeGreaterThan(p);
    expect(changes.at(-1)).toEqual({ stream: 'typing', position: typing.currentPosition(), rooms: [room1] });
  });

  it('caps the timeout at two minutes', () => {
    typing.setTyping(room1, '@a:test.local', true, 10 * MAX_TYPING_TIMEOUT_MS);
    vi.advanceTimersByTime(MAX_TYPING_TIMEOUT_MS - 1);
    expect(typing.typingUsers(room1)).toEqual(['@a:test.local']);
    vi.advanceTimersByTime(1);
    expect(typing.typingUsers(room1)).toEqual([]);
  });

  it('answers which rooms changed after a position', () => {
    const start = typing.currentPosition();
    typing.setTyping(room1, '@a:test.local', true);
    const afterRoom1 = typing.currentPosition();
    typing.setTyping(room2, '@a:test.local', true);
    const afterRoom2 = typing.currentPosition();
    const rooms = [room1, room2, '!quiet:test.local'];
    expect(typing.changedRooms(rooms, start)).toEqual([room1, room2]);
    expect(typing.changedRooms(rooms, afterRoom1)).toEqual([room2]);
    expect(typing.changedRooms(rooms, afterRoom2)).toEqual([]);
    typing.setTyping(room1, '@a:test.local', false);
    expect(typing.changedRooms(rooms, afterRoom2)).toEqual([room1]);
    // Only the rooms asked about are answered.
    expect(typing.changedRooms([room2], start)).toEqual([room2]);
  });

  it('answers every room for a token from before this process or from the future', () => {
    typing.setTyping(room1, '@a:test.local', true);
    const rooms = [room1, room2];
    const fromEarlierProcess = typing.currentPosition() - 60_000;
    expect(typing.changedRooms(rooms, fromEarlierProcess)).toEqual(rooms);
    expect(typing.changedRooms(rooms, typing.currentPosition() + 1)).toEqual(rooms);
  });

  it('a restarted service starts above every position the previous one handed out', () => {
    for (let i = 0; i < 50; i++) typing.setTyping(room1, `@u${i}:test.local`, true);
    const oldToken = typing.currentPosition();
    typing.close();
    vi.advanceTimersByTime(1_000);
    const restarted = new TypingService(notifier);
    expect(restarted.currentPosition()).toBeGreaterThan(oldToken);
    // The old token predates the new process: every room is reported, so clients drop stale typers.
    expect(restarted.changedRooms([room1], oldToken)).toEqual([room1]);
    expect(restarted.typingEvent(room1).content.user_ids).toEqual([]);
    restarted.close();
  });

  it('forgets rooms where nobody has typed for a while, and then answers them for older tokens', () => {
    typing.setTyping(room1, '@a:test.local', true);
    typing.setTyping(room1, '@a:test.local', false);
    const afterRoom1 = typing.currentPosition();
    vi.advanceTimersByTime(11 * 60_000);
    typing.setTyping(room2, '@a:test.local', true); // a change triggers the clean-up
    const afterRoom2 = typing.currentPosition();
    // room1 was forgotten: a token from before its last change gets it again (safe),
    // a token after it does not.
    expect(typing.changedRooms([room1, room2], afterRoom1 - 1)).toEqual([room1, room2]);
    expect(typing.changedRooms([room1, room2], afterRoom1)).toEqual([room2]);
    expect(typing.changedRooms([room1, room2], afterRoom2)).toEqual([]);
  });
});
