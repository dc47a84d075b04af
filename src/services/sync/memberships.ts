// Which rooms a sync covers and how: from the user's memberships now and their membership
// events between the `since` position and this sync's, each room goes to the join, invite,
// knock or leave section, with the bounds of its timeline and the state the client has.
// spec: client-server-api GET /sync (rooms.join / invite / knock / leave), "Syncing"
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { MembershipRow } from '../../storage/sync.js';

/** A room whose timeline and state a sync sends (the join and leave sections). */
export interface RoomPlan {
  roomId: string;
  /** The timeline holds events after this position; null: the newest events, however old. */
  after: number | null;
  /** The timeline holds events up to this position (the leave event, for a room left). */
  upTo: number;
  /** The position of the state the client has; null when it has none (full state is sent). */
  previous: number | null;
  /** Send no state at all (a room the user never joined: an invite rejected). */
  stateless?: boolean;
  /** Joined in this sync's window, or joined again after leaving: the client starts afresh. */
  newlyJoined?: boolean;
}

/** An invite or knock: its stripped state is read from the state after the member event. */
export interface StrippedPlan { roomId: string; eventNid: number }

export interface RoomSections {
  join: RoomPlan[];
  leave: RoomPlan[];
  invite: StrippedPlan[];
  knock: StrippedPlan[];
}

export interface Window {
  /** The events position of `since`; undefined for an initial sync. */
  since?: number;
  upTo: number;
  fullState: boolean;
  includeLeave: boolean;
}

const membershipOf = (e: StoredEvent | undefined): string | undefined => {
  const m = e?.event.content.membership;
  return typeof m === 'string' ? m : undefined;
};

/** Sorts the user's rooms into sections for one sync. */
export async function planRooms(storage: Storage, userId: string, rows: MembershipRow[], w: Window): Promise<RoomSections> {
  const out: RoomSections = { join: [], leave: [], invite: [], knock: [] };
  const { since, upTo } = w;
  const fresh = (roomId: string): RoomPlan => ({ roomId, after: null, upTo, previous: null });

  if (since === undefined) {
    for (const r of rows) {
      if (r.membership === 'join') out.join.push(fresh(r.roomId));
      else if (r.membership === 'invite') out.invite.push({ roomId: r.roomId, eventNid: r.eventNid });
      else if (r.membership === 'knock') out.knock.push({ roomId: r.roomId, eventNid: r.eventNid });
      else if (w.includeLeave && !r.forgotten) out.leave.push({ roomId: r.roomId, after: null, upTo: r.eventNid, previous: null, stateless: r.lastJoinNid === null });
    }
    return out;
  }

  const changed = rows.filter((r) => r.eventNid > since);
  for (const r of rows) {
    if (r.eventNid > since) continue;
    if (r.membership === 'join') out.join.push({ roomId: r.roomId, after: since, upTo, previous: w.fullState ? null : since });
    // spec: full_state "include the full state for all rooms the user is a member of"; left rooms only when asked for.
    else if (w.fullState && w.includeLeave && (r.membership === 'leave' || r.membership === 'ban') && !r.forgotten) {
      out.leave.push({ roomId: r.roomId, after: since, upTo: r.eventNid, previous: null, stateless: r.lastJoinNid === null });
    }
  }
  if (changed.length === 0) return out;

  // The user's membership events in the window, and their membership at `since`, per room.
  const windowNids = await storage.sync.memberEventNids(userId, since, upTo);
  const before = await storage.sync.lastMemberEventNids(userId, changed.map((r) => r.roomId), since);
  const loaded = await storage.events.getEventsByNid([...windowNids, ...before.values()]);
  const inWindow = new Map<string, StoredEvent[]>();
  for (const nid of windowNids) {
    const e = loaded.get(nid);
    if (!e) continue;
    const list = inWindow.get(e.event.room_id) ?? [];
    list.push(e);
    inWindow.set(e.event.room_id, list);
  }

  for (const r of changed) {
    const events = inWindow.get(r.roomId) ?? [];
    const beforeNid = before.get(r.roomId);
    const atSince = beforeNid === undefined ? undefined : membershipOf(loaded.get(beforeNid));
    const joinedAtSince = atSince === 'join';
    const leftInWindow = events.filter((e) => { const m = membershipOf(e); return m === 'leave' || m === 'ban'; });
    const joinedInWindow = events.some((e) => membershipOf(e) === 'join');

    if (r.membership === 'join') {
      // Joined, or left and joined again, in the window: full state, as in an initial sync.
      if (!joinedAtSince || events.some((e) => membershipOf(e) !== 'join')) out.join.push({ ...fresh(r.roomId), newlyJoined: true });
      else out.join.push({ roomId: r.roomId, after: since, upTo, previous: w.fullState ? null : since });
      continue;
    }
    if (r.membership === 'leave' || r.membership === 'ban') {
      if (r.forgotten) continue;
      out.leave.push({
        roomId: r.roomId, after: since, upTo: r.eventNid, previous: joinedAtSince && !w.fullState ? since : null,
        stateless: !joinedAtSince && !joinedInWindow && r.lastJoinNid === null,
      });
      continue;
    }
    // Invited or knocking now; if they left a room they were in, the client hears of that too.
    const lastLeave = leftInWindow.at(-1);
    if (lastLeave && (joinedAtSince || joinedInWindow)) {
      out.leave.push({ roomId: r.roomId, after: since, upTo: lastLeave.nid, previous: joinedAtSince && !w.fullState ? since : null });
    }
    if (r.membership === 'invite') out.invite.push({ roomId: r.roomId, eventNid: r.eventNid });
    else if (r.membership === 'knock') out.knock.push({ roomId: r.roomId, eventNid: r.eventNid });
  }
  return out;
}
