// The stripped state of rooms a user is invited to or knocking on.
// spec: client-server-api "Stripped state" (m.room.create required since v1.16), GET /sync
// (invite_state, knock_state)
import { stateKey, type JsonObject } from '../../core/pdu.js';
import type { Storage } from '../../storage/index.js';
import type { StrippedPlan } from './memberships.js';

export interface StrippedStateEvent { type: string; state_key: string; sender: string; content: JsonObject }

/** The state events the spec lists for stripped state. */
export const STRIPPED_TYPES = ['m.room.create', 'm.room.name', 'm.room.avatar', 'm.room.topic', 'm.room.join_rules', 'm.room.canonical_alias', 'm.room.encryption'];

/**
 * Per room: the stripped state after the user's invite or knock (with the member events of the
 * user and of the inviter), and who sent that member event.
 */
export async function strippedStates(storage: Storage, userId: string, plans: StrippedPlan[]): Promise<Map<string, { sender: string; events: StrippedStateEvent[] }>> {
  const out = new Map<string, { sender: string; events: StrippedStateEvent[] }>();
  const members = await storage.events.getEventsByNid(plans.map((p) => p.eventNid));
  for (const p of plans) {
    const member = members.get(p.eventNid);
    if (!member) continue;
    if (member.stateGroup === null) {
      // An invite from another server to a room this server is not in: the state it sent along.
      const sent = await storage.events.strippedStateOf(member.event.event_id);
      if (sent) out.set(p.roomId, { sender: member.event.sender, events: [...sent.filter(isStrippedEvent), { type: member.event.type, state_key: member.event.state_key ?? '', sender: member.event.sender, content: member.event.content }] });
      continue;
    }
    const state = await storage.state.loadGroup(member.stateGroup);
    const keys = [...STRIPPED_TYPES.map((t) => stateKey(t, '')), stateKey('m.room.member', member.event.sender), stateKey('m.room.member', userId)];
    const nids = [...new Set(keys.map((k) => state.get(k)).filter((n): n is number => n !== undefined))];
    const loaded = await storage.events.getEventsByNid(nids);
    const events = nids.map((n) => loaded.get(n)).filter((e) => e !== undefined)
      .map(({ event: e }) => ({ type: e.type, state_key: e.state_key ?? '', sender: e.sender, content: e.content }));
    out.set(p.roomId, { sender: member.event.sender, events });
  }
  return out;
}

function isStrippedEvent(e: unknown): e is StrippedStateEvent {
  const o = e as Partial<StrippedStateEvent> | null;
  return typeof o === 'object' && o !== null && typeof o.type === 'string' && typeof o.state_key === 'string'
    && typeof o.sender === 'string' && typeof o.content === 'object' && o.content !== null && !Array.isArray(o.content);
}
