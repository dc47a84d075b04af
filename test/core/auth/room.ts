// Tiny in-memory rooms for the authorization rule tests. Events carry fake hashes and
// signatures: the auth rules do not check them.

import { expect } from 'vitest';
import { ROOM_VERSIONS, type RoomVersion } from '../../../src/core/room-versions.js';
import { stateKey, type EventReference, type JsonObject, type RoomEvent, type StateKey, type Verdict } from '../../../src/core/pdu.js';
import { authorizeEvent } from '../../../src/core/auth.js';

export const VERSIONS: RoomVersion[] = [...ROOM_VERSIONS.values()];
export const versionsWhere = (pred: (v: RoomVersion) => boolean): RoomVersion[] => VERSIONS.filter(pred);
export const V = (id: string): RoomVersion => ROOM_VERSIONS.get(id)!;

export const ALICE = '@alice:a.example'; // creator
export const MOD = '@mod:a.example'; // power 50
export const BOB = '@bob:b.example';
export const CAROL = '@carol:c.example';
export const EVE = '@eve:e.example';

let counter = 0;

export interface EventSpec {
  type: string;
  sender: string;
  state_key?: string;
  content?: JsonObject;
  prev_events?: EventReference[];
  [key: string]: unknown;
}

function domain(userId: unknown): string {
  const id = String(userId);
  return id.slice(id.indexOf(':') + 1);
}

export interface RoomOptions {
  creator?: string;
  createContent?: JsonObject;
  /** Initial power levels content; null for none. Default: MOD at 50 (and ALICE at 100 before v12). */
  powerLevels?: JsonObject | null;
  /** Initial join rule; null for no m.room.join_rules event. Default: invite. */
  joinRule?: string | null;
}

export class TestRoom {
  readonly state = new Map<StateKey, RoomEvent>();
  readonly create: RoomEvent;
  readonly roomId: string;
  readonly creator: string;

  constructor(readonly version: RoomVersion, options: RoomOptions = {}) {
    this.creator = options.creator ?? ALICE;
    const createContent: JsonObject = options.createContent ?? defaultCreateContent(version, this.creator);
    const createId = this.newEventId(this.creator, 'create');
    this.roomId = version.roomIdIsCreateEventHash ? `!${createId.slice(1)}` : `!room:${domain(this.creator)}`;
    this.create = this.event({ type: 'm.room.create', sender: this.creator, state_key: '', content: createContent, prev_events: [], event_id: createId });
    this.put(this.create);
    this.put(this.event({ type: 'm.room.member', sender: this.creator, state_key: this.creator, content: { membership: 'join' }, prev_events: [this.ref(this.create)] }));
    const powerLevels = options.powerLevels === undefined ? defaultPowerLevels(version, this.creator) : options.powerLevels;
    if (powerLevels !== null) this.put(this.event({ type: 'm.room.power_levels', sender: this.creator, state_key: '', content: powerLevels }));
    const joinRule = options.joinRule === undefined ? 'invite' : options.joinRule;
    if (joinRule !== null) this.put(this.event({ type: 'm.room.join_rules', sender: this.creator, state_key: '', content: { join_rule: joinRule } }));
  }

  newEventId(sender: string, hint = ''): string {
    counter++;
    return this.version.eventReferencesWithHashes ? `$${hint}${counter}:${domain(sender)}` : `$${hint}Ev${counter}hash`;
  }

  ref(event: RoomEvent): EventReference {
    return this.version.eventReferencesWithHashes ? [event.event_id, { sha256: 'fakehash' }] : event.event_id;
  }

  /** A new event in this room (not added to the state). */
  event(spec: EventSpec): RoomEvent {
    const { type, sender, content, prev_events, ...rest } = spec;
    return {
      event_id: this.newEventId(sender),
      room_id: this.roomId,
      sender,
      origin_server_ts: counter,
      type,
      content: content ?? {},
      prev_events: prev_events ?? ['$prev'],
      auth_events: [],
      depth: counter,
      hashes: { sha256: 'fakehash' },
      signatures: { [domain(sender)]: { 'ed25519:1': 'fakesig' } },
      ...rest,
    } as RoomEvent;
  }

  put(event: RoomEvent): RoomEvent {
    if (typeof event.state_key === 'string') this.state.set(stateKey(event.type, event.state_key), event);
    return event;
  }

  /** Build a state event and put it straight into the state (no auth check). */
  set(spec: EventSpec): RoomEvent {
    return this.put(this.event(spec));
  }

  member(userId: string, membership: string, sender = userId, content: JsonObject = {}): RoomEvent {
    return this.set({ type: 'm.room.member', sender, state_key: userId, content: { membership, ...content } });
  }

  powerLevels(content: JsonObject): RoomEvent {
    return this.set({ type: 'm.room.power_levels', sender: this.creator, state_key: '', content });
  }

  joinRule(joinRule: string, extra: JsonObject = {}): RoomEvent {
    return this.set({ type: 'm.room.join_rules', sender: this.creator, state_key: '', content: { join_rule: joinRule, ...extra } });
  }

  check(spec: EventSpec | RoomEvent): Verdict {
    const event = 'event_id' in spec && 'room_id' in spec ? (spec as RoomEvent) : this.event(spec);
    return authorizeEvent(this.version, event, this.state);
  }

  /** Check a membership change: sender sets state_key's membership. */
  checkMember(sender: string, target: string, membership: string, content: JsonObject = {}, extra: Partial<EventSpec> = {}): Verdict {
    return this.check({ type: 'm.room.member', sender, state_key: target, content: { membership, ...content }, ...extra });
  }
}

export function defaultCreateContent(version: RoomVersion, creator: string): JsonObject {
  return version.implicitRoomCreator ? { room_version: version.id } : { creator, room_version: version.id };
}

export function defaultPowerLevels(version: RoomVersion, creator: string): JsonObject {
  const users: JsonObject = { [MOD]: 50 };
  if (!version.privilegedCreators) users[creator] = 100;
  return { users, users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0, events: {} };
}

export function expectAllowed(verdict: Verdict): void {
  expect(verdict).toEqual({ ok: true });
}

/** Expect a rejection with this code; if `rule` is given, the reason must name it. */
export function expectRejected(verdict: Verdict, code: string, rule?: string): void {
  expect(verdict.ok).toBe(false);
  if (verdict.ok) return;
  expect(verdict.code).toBe(code);
  if (rule !== undefined) expect(verdict.reason).toContain(`auth rule ${rule}:`);
}

export const ids = (versions: RoomVersion[]): string => versions.map((v) => v.id).join(',');
