// History visibility: whether a user may see an event.
// spec: client-server-api "History visibility"
import { redactEvent } from '../../core/events.js';
import { stateKey } from '../../core/pdu.js';
import { getRoomVersion } from '../../core/room-versions.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';

const HISTORY_KEY = stateKey('m.room.history_visibility', '');

export class Visibility {
  constructor(private readonly storage: Storage) {}

  /**
   * The events of `events` (one room) that `userId` may see, in the same order; the events of
   * erased users as redacted copies for a user who joined after the erasure.
   */
  async filter(userId: string, roomId: string, events: StoredEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return events;
    const row = await this.storage.rooms.membershipRow(roomId, userId);
    // spec rule 3 reads "joined at any point after the event": while joined, every event qualifies.
    const joinedAfter = (nid: number) => row?.membership === 'join' || (row?.lastJoinNid != null && row.lastJoinNid > nid);
    const erased = await this.storage.accounts.erasedUsers();
    // spec: POST /account/deactivate `erase`: "users which join the room after the erasure request
    // are served redacted copies ... Users which had visibility on those events prior to the
    // erasure are still able to see unredacted copies."
    const present = async (s: StoredEvent, membershipAtEvent: string | undefined): Promise<StoredEvent> => {
      const erasedAt = erased.get(s.event.sender);
      if (erasedAt === undefined || membershipAtEvent === 'join') return s;
      if (row?.lastJoinNid != null && row.lastJoinNid <= erasedAt) return s;
      const version = getRoomVersion((await this.storage.events.getRoom(roomId))?.roomVersion ?? '');
      return version ? { ...s, event: redactEvent(s.event, version) } : s;
    };
    const memberKey = stateKey('m.room.member', userId);
    const byGroup = new Map<number, { membership: string | undefined; visibility: string }>();
    const out: StoredEvent[] = [];
    for (const s of events) {
      // A user always sees their own membership events.
      if (s.event.type === 'm.room.member' && s.event.state_key === userId) {
        out.push(s);
        continue;
      }
      if (s.stateGroup === null) continue;
      let at = byGroup.get(s.stateGroup);
      if (!at) {
        const state = await this.storage.state.loadGroup(s.stateGroup);
        const nids = [state.get(memberKey), state.get(HISTORY_KEY)].filter((n): n is number => n !== undefined);
        const loaded = await this.storage.events.getEventsByNid(nids);
        const member = state.get(memberKey) === undefined ? undefined : loaded.get(state.get(memberKey) as number);
        const hist = state.get(HISTORY_KEY) === undefined ? undefined : loaded.get(state.get(HISTORY_KEY) as number);
        const visibility = typeof hist?.event.content.history_visibility === 'string' ? hist.event.content.history_visibility : 'shared';
        at = { membership: member?.event.content.membership as string | undefined, visibility };
        byGroup.set(s.stateGroup, at);
      }
      if (isVisible(at.visibility, at.membership, joinedAfter(s.nid))) {
        out.push(erased.size === 0 ? s : await present(s, at.membership));
      } else if (s.event.type === 'm.room.history_visibility' && s.event.state_key === '') {
        // spec: modules/history_visibility "Server behaviour": a history_visibility event is
        // visible if the visibility before *or* after it allows. The state at a state event is
        // the state after it, so `at` holds the new visibility; the one before is the content
        // of the event it replaced (shared when there was none).
        const before = await this.visibilityBefore(s);
        if (isVisible(before, at.membership, joinedAfter(s.nid))) out.push(erased.size === 0 ? s : await present(s, at.membership));
      }
    }
    return out;
  }

  private async visibilityBefore(s: StoredEvent): Promise<string> {
    if (s.replacesState === null) return 'shared';
    const prev = await this.storage.events.getEvent(s.replacesState);
    const v = prev?.event.content.history_visibility;
    return typeof v === 'string' ? v : 'shared';
  }
}

/** spec: modules/history_visibility "Server behaviour", rules 1–5; unknown values count as shared. */
export function isVisible(visibility: string, membershipAtEvent: string | undefined, joinedAfterEvent: boolean): boolean {
  if (visibility === 'world_readable') return true;
  if (membershipAtEvent === 'join') return true;
  if (visibility === 'invited') return membershipAtEvent === 'invite';
  if (visibility === 'joined') return false;
  return joinedAfterEvent;
}
