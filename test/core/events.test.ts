import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  buildEvent,
  checkContentHash,
  computeEventId,
  eventReference,
  eventSigningBytes,
  hashAndSignEvent,
  MAX_PDU_BYTES,
  parsePdu,
  redactEvent,
  referenceHash,
  requiredSignatureServers,
  roomIdFromCreateEvent,
  signEvent,
  toFederationPdu,
  verifyEventHashes,
  verifyEventSignatureFrom,
  verifyEventSignatures,
  type EventTemplate,
} from '../../src/core/events.js';
import { parseSigningKeyLine, signingKeyFromSeed, type KeyLookup, type SigningKey } from '../../src/core/crypto.js';
import { encodeCanonicalJson } from '../../src/core/json.js';
import { isValidRoomId } from '../../src/core/identifiers.js';
import { ROOM_VERSIONS, getRoomVersion, type RoomVersion } from '../../src/core/room-versions.js';
import type { JsonObject, RoomEvent } from '../../src/core/pdu.js';

function ok<T>(v: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!v.ok) throw new Error(v.reason);
  return v.value;
}
const version = (id: string): RoomVersion => getRoomVersion(id)!;
const ALL_VERSIONS = [...ROOM_VERSIONS.keys()];

const specKey = ok(parseSigningKeyLine('ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1'));
const exampleKey = ok(signingKeyFromSeed('a1', new Uint8Array(32).fill(11)));
const remoteKey = ok(signingKeyFromSeed('r1', new Uint8Array(32).fill(22)));
const keys = new Map<string, SigningKey>([['example.org', exampleKey], ['remote.example', remoteKey], ['domain', specKey]]);
const lookup: KeyLookup = (server, keyId) => {
  const key = keys.get(server);
  return key && key.keyId === keyId ? { key: key.publicKeyBase64 } : undefined;
};

describe('the appendix event signing examples (room version 1 rules)', () => {
  // spec: appendices "Event Signing"
  it('signs the minimally-sized event', () => {
    const input = {
      room_id: '!x:domain', sender: '@a:domain', origin: 'domain', origin_server_ts: 1000000, signatures: {}, hashes: {},
      type: 'X', content: {}, prev_events: [], auth_events: [], depth: 3, unsigned: { age_ts: 1000000 },
    };
    expect(ok(hashAndSignEvent(input, version('1'), 'domain', specKey))).toEqual({
      auth_events: [],
      content: {},
      depth: 3,
      hashes: { sha256: '5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos' },
      origin: 'domain',
      origin_server_ts: 1000000,
      prev_events: [],
      room_id: '!x:domain',
      sender: '@a:domain',
      signatures: {
        domain: { 'ed25519:1': 'KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg' },
      },
      type: 'X',
      unsigned: { age_ts: 1000000 },
    });
  });

  it('signs the event containing redactable content', () => {
    const input = {
      content: { body: 'Here is the message content' }, event_id: '$0:domain', origin: 'domain', origin_server_ts: 1000000,
      type: 'm.room.message', room_id: '!r:domain', sender: '@u:domain', signatures: {}, unsigned: { age_ts: 1000000 },
    };
    const signed = ok(hashAndSignEvent(input, version('1'), 'domain', specKey));
    expect(signed).toEqual({
      content: { body: 'Here is the message content' },
      event_id: '$0:domain',
      hashes: { sha256: 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g' },
      origin: 'domain',
      origin_server_ts: 1000000,
      type: 'm.room.message',
      room_id: '!r:domain',
      sender: '@u:domain',
      signatures: {
        domain: { 'ed25519:1': 'Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA' },
      },
      unsigned: { age_ts: 1000000 },
    });
    expect(verifyEventSignatureFrom(signed, version('1'), 'domain', lookup)).toEqual({ ok: true });
    expect(checkContentHash(signed, version('1'))).toBe(true);
  });
});

describe('event IDs of real events (cross-implementation vectors)', () => {
  // Real events from the public federation, as used in gomatrixserverlib's eventversion_test.go.
  const v1Event = '{"auth_events":[["$oXL79cT7fFxR7dPH:localhost",{"sha256":"abjkiDSg1RkuZrbj2jZoGMlQaaj1Ue3Jhi7I7NlKfXY"}],["$IVUsaSkm1LBAZYYh:localhost",{"sha256":"X7RUj46hM/8sUHNBIFkStbOauPvbDzjSdH4NibYWnko"}],["$VS2QT0EeArZYi8wf:localhost",{"sha256":"k9eM6utkCH8vhLW9/oRsH74jOBS/6RVK42iGDFbylno"}]],"content":{"name":"test3"},"depth":7,"event_id":"$yvN1b43rlmcOs5fY:localhost","hashes":{"sha256":"Oh1mwI1jEqZ3tgJ+V1Dmu5nOEGpCE4RFUqyJv2gQXKs"},"origin":"localhost","origin_server_ts":1510854416361,"prev_events":[["$FqI6TVvWpcbcnJ97:localhost",{"sha256":"upCsBqUhNUgT2/+zkzg8TbqdQpWWKQnZpGJc6KcbUC4"}]],"prev_state":[],"room_id":"!19Mp0U9hjajeIiw1:localhost","sender":"@test:localhost","signatures":{"localhost":{"ed25519:u9kP":"5IzSuRXkxvbTp0vZhhXYZeOe+619iG3AybJXr7zfNn/4vHz4TH7qSJVQXSaHHvcTcDodAKHnTG1WDulgO5okAQ"}},"state_key":"","type":"m.room.name"}';
  const v5Create = '{"auth_events": [], "prev_events": [], "type": "m.room.create", "room_id": "!uXDCzlYgCTHtiWCkEx:jki.re", "sender": "@erikj:jki.re", "content": {"room_version": "5", "predecessor": {"room_id": "!gdRMqOrTFdOCYHNwOo:half-shot.uk", "event_id": "$LP7ROBc4b+cMc1UE9haIz8q5AK2AIW4eJ90FfKLvyZI"}, "creator": "@erikj:jki.re"}, "depth": 1, "prev_state": [], "state_key": "", "origin": "jki.re", "origin_server_ts": 1560284621137, "hashes": {"sha256": "IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc"}, "signatures": {"jki.re": {"ed25519:auto": "O4IyFfF2PPtGp5uaDm8t57dZbdh8vc8Q64LgCwvzYRVItAMI0uisfiAFaxkVT7MRpzh6N2QNN5NMRXZKmgPYDA"}}, "unsigned": {"age": 1321650}}';

  it('v1: the event ID is the one carried; the content hash matches', () => {
    const event = ok(parsePdu(v1Event, '1'));
    expect(event.event_id).toBe('$yvN1b43rlmcOs5fY:localhost');
    expect(checkContentHash(event, version('1'))).toBe(true);
  });

  it('v3: standard base64 reference hash; v4/v5: URL-safe', () => {
    expect(ok(parsePdu(v5Create, '3')).event_id).toBe('$RrGxF28UrHLmoASHndYb9Jb/1SFww2ptmtur9INS438');
    expect(ok(parsePdu(v5Create, '4')).event_id).toBe('$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438');
    const event = ok(parsePdu(v5Create, '5'));
    expect(event.event_id).toBe('$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438');
    expect(checkContentHash(event, version('5'))).toBe(true);
    // The attached event_id is not part of the hashed form.
    expect(computeEventId(event, version('5'))).toBe(event.event_id);
  });
});

// ---------------------------------------------------------------------------------------------
// Redaction: exact output per room version, for every event type the algorithms single out.

type Family = 'v1' | 'v6' | 'v8' | 'v9' | 'v11';
// spec: rooms/v1..v5 use the v1 rules, v6–v7 v6, v8 its own, v9–v10 v9, v11–v12 v11.
const FAMILY: Record<string, Family> = {
  '1': 'v1', '2': 'v1', '3': 'v1', '4': 'v1', '5': 'v1', '6': 'v6', '7': 'v6', '8': 'v8', '9': 'v9', '10': 'v9', '11': 'v11', '12': 'v11',
};

const envelope = {
  event_id: '$e:x.org', room_id: '!r:x.org', sender: '@s:x.org', state_key: '', origin: 'x.org', origin_server_ts: 1, depth: 2,
  prev_events: ['$p'], auth_events: ['$a'], prev_state: [], membership: 'join', hashes: { sha256: 'h' },
  signatures: { 'x.org': { 'ed25519:1': 's' } }, unsigned: { age: 1 }, redacts: '$t:x.org', junk: 'dropped',
};
const keptTopLevel = (family: Family) => {
  const { unsigned: _u, redacts: _r, junk: _j, ...kept } = envelope;
  if (family !== 'v11') return kept;
  const { origin: _o, membership: _m, prev_state: _p, ...v11 } = kept;
  return v11;
};

const powerLevels = {
  ban: 50, events: { 'm.room.name': 50 }, events_default: 0, invite: 0, kick: 50, redact: 50, state_default: 50,
  users: { '@s:x.org': 100 }, users_default: 0, notifications: { room: 50 }, historical: 1,
};
const { invite: _invite, notifications: _notifications, historical: _historical, ...powerLevelsV1 } = powerLevels;
const thirdPartyInvite = { display_name: 'T', signed: { mxid: '@s:x.org', token: 't', signatures: {} } };

const REDACTION_CASES: { type: string; content: JsonObject; expected: Record<Family, JsonObject> }[] = [
  {
    type: 'm.room.member',
    content: { membership: 'join', join_authorised_via_users_server: '@v:y.org', displayname: 'S', avatar_url: 'mxc://x/y', reason: 'r', third_party_invite: thirdPartyInvite },
    expected: {
      v1: { membership: 'join' },
      v6: { membership: 'join' },
      v8: { membership: 'join' },
      v9: { membership: 'join', join_authorised_via_users_server: '@v:y.org' },
      v11: { membership: 'join', join_authorised_via_users_server: '@v:y.org', third_party_invite: { signed: thirdPartyInvite.signed } },
    },
  },
  {
    type: 'm.room.create',
    content: { creator: '@s:x.org', room_version: '1', 'm.federate': false, predecessor: { room_id: '!o:x.org' }, additional_creators: ['@c:x.org'] },
    expected: {
      v1: { creator: '@s:x.org' },
      v6: { creator: '@s:x.org' },
      v8: { creator: '@s:x.org' },
      v9: { creator: '@s:x.org' },
      v11: { creator: '@s:x.org', room_version: '1', 'm.federate': false, predecessor: { room_id: '!o:x.org' }, additional_creators: ['@c:x.org'] },
    },
  },
  {
    type: 'm.room.join_rules',
    content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!o:x.org' }], other: 1 },
    expected: {
      v1: { join_rule: 'restricted' },
      v6: { join_rule: 'restricted' },
      v8: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!o:x.org' }] },
      v9: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!o:x.org' }] },
      v11: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!o:x.org' }] },
    },
  },
  {
    type: 'm.room.power_levels',
    content: powerLevels,
    expected: { v1: powerLevelsV1, v6: powerLevelsV1, v8: powerLevelsV1, v9: powerLevelsV1, v11: { ...powerLevelsV1, invite: 0 } },
  },
  {
    type: 'm.room.history_visibility',
    content: { history_visibility: 'shared', other: 1 },
    expected: {
      v1: { history_visibility: 'shared' }, v6: { history_visibility: 'shared' }, v8: { history_visibility: 'shared' },
      v9: { history_visibility: 'shared' }, v11: { history_visibility: 'shared' },
    },
  },
  {
    type: 'm.room.redaction',
    content: { redacts: '$t:x.org', reason: 'spam' },
    expected: { v1: {}, v6: {}, v8: {}, v9: {}, v11: { redacts: '$t:x.org' } },
  },
  {
    type: 'm.room.aliases',
    content: { aliases: ['#a:x.org'], other: 1 },
    expected: { v1: { aliases: ['#a:x.org'] }, v6: {}, v8: {}, v9: {}, v11: {} },
  },
  {
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello' },
    expected: { v1: {}, v6: {}, v8: {}, v9: {}, v11: {} },
  },
];

describe('redaction algorithm: exact output per room version', () => {
  for (const id of ALL_VERSIONS) {
    const family = FAMILY[id]!;
    it(`room version ${id} uses the ${family} rules`, () => {
      expect(version(id).redactionRules).toBe(family);
      for (const { type, content, expected } of REDACTION_CASES) {
        const event = { ...envelope, type, content };
        const redacted = redactEvent(event, version(id));
        expect(redacted, `${type} in v${id}`).toEqual({ ...keptTopLevel(family), type, content: expected[family] });
        expect(event.content).toBe(content); // input untouched
      }
    });
  }

  it('v11 keeps third_party_invite only when it is an object with signed', () => {
    const v11 = version('11');
    for (const tpi of [{ display_name: 'x' }, 'string', ['signed'], null]) {
      const redacted = redactEvent({ type: 'm.room.member', content: { membership: 'invite', third_party_invite: tpi } }, v11);
      expect(redacted.content).toEqual({ membership: 'invite' });
    }
  });

  it('gives a missing or malformed content an empty one, and keeps absent keys absent', () => {
    expect(redactEvent({ type: 'm.room.member' }, version('9'))).toEqual({ type: 'm.room.member', content: {} });
    expect(redactEvent({ type: 'm.room.member', content: 'x' }, version('9'))).toEqual({ type: 'm.room.member', content: {} });
    expect(redactEvent({ type: 'm.room.power_levels', content: { users: {} } }, version('11')).content).toEqual({ users: {} });
  });

  it('is idempotent and never adds keys', () => {
    const anyEvent = fc.record({
      type: fc.constantFrom(...REDACTION_CASES.map((c) => c.type), 'x.custom'),
      content: fc.dictionary(fc.constantFrom('membership', 'creator', 'allow', 'redacts', 'invite', 'users', 'junk', '__proto__', 'third_party_invite'), fc.jsonValue()),
      junk: fc.jsonValue(),
      origin: fc.string(),
    });
    fc.assert(fc.property(anyEvent, fc.constantFrom(...ALL_VERSIONS), (event, id) => {
      const once = redactEvent(event as JsonObject, version(id));
      expect(redactEvent(once, version(id))).toEqual(once);
      for (const key of Object.keys(once.content as object)) expect(Object.hasOwn(event.content, key)).toBe(true);
    }));
  });
});

// ---------------------------------------------------------------------------------------------
// One worked room per version: build, serialise, parse back, recompute IDs, verify, redact.

const ALICE = '@alice:example.org';
const signer = { serverName: 'example.org', key: exampleKey };
const TS = 1_700_000_000_000;

function randomness(i: number): Uint8Array {
  return Uint8Array.from({ length: 18 }, (_, j) => (i * 37 + j * 11) & 0xff);
}

interface WorkedRoom {
  rv: RoomVersion;
  events: Record<'create' | 'member' | 'powerLevels' | 'joinRules' | 'historyVisibility' | 'message' | 'redaction', RoomEvent>;
}

function buildWorkedRoom(id: string): WorkedRoom {
  const rv = version(id);
  let n = 0;
  const build = (template: EventTemplate) => ok(buildEvent(template, rv, signer, randomness(n++)));
  const createContent: JsonObject = rv.implicitRoomCreator ? { room_version: id, 'm.federate': true } : { creator: ALICE, room_version: id, 'm.federate': true };
  if (rv.privilegedCreators) createContent.additional_creators = ['@bob:example.org'];
  const create = build({
    type: 'm.room.create', state_key: '', sender: ALICE, content: createContent,
    room_id: rv.roomIdIsCreateEventHash ? undefined : '!worked:example.org',
    prev_events: [], auth_events: [], depth: 1, origin_server_ts: TS,
  });
  const roomId = create.room_id;
  const createRef = rv.createEventInAuthEvents ? [eventReference(create, rv)] : [];
  const member = build({
    type: 'm.room.member', state_key: ALICE, sender: ALICE, room_id: roomId,
    content: { membership: 'join', displayname: 'Alice', join_authorised_via_users_server: '@admin:example.org' },
    prev_events: [eventReference(create, rv)], auth_events: createRef, depth: 2, origin_server_ts: TS + 1,
  });
  const auth = [...createRef, eventReference(member, rv)];
  let prev = member;
  let depth = 2;
  const next = (type: string, content: JsonObject, extra: Partial<EventTemplate> = {}) => {
    prev = build({ type, sender: ALICE, room_id: roomId, content, prev_events: [eventReference(prev, rv)], auth_events: auth, depth: ++depth, origin_server_ts: TS + depth, ...extra });
    return prev;
  };
  const powerLevels = next('m.room.power_levels', {
    users: { [ALICE]: 100 }, users_default: 0, events: {}, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50,
    invite: 0, notifications: { room: 50 },
  }, { state_key: '' });
  const joinRules = next('m.room.join_rules', { join_rule: 'invite', allow: [] }, { state_key: '' });
  const historyVisibility = next('m.room.history_visibility', { history_visibility: 'shared', note: 'x' }, { state_key: '' });
  const message = next('m.room.message', { msgtype: 'm.text', body: 'hello' });
  const redaction = next('m.room.redaction', { reason: 'oops' }, { redacts: message.event_id });
  return { rv, events: { create, member, powerLevels, joinRules, historyVisibility, message, redaction } };
}

/** Expected redacted content of the worked room's events, per redaction rule family. */
function expectedRedactedContent(name: keyof WorkedRoom['events'], event: RoomEvent, family: Family): JsonObject {
  const c = event.content;
  switch (name) {
    case 'create':
      return family === 'v11' ? c : { creator: c.creator! };
    case 'member':
      return family === 'v9' || family === 'v11' ? { membership: 'join', join_authorised_via_users_server: '@admin:example.org' } : { membership: 'join' };
    case 'powerLevels': {
      const { invite, notifications: _n, ...rest } = c;
      return family === 'v11' ? { ...rest, invite: invite! } : rest;
    }
    case 'joinRules':
      return family === 'v1' || family === 'v6' ? { join_rule: 'invite' } : { join_rule: 'invite', allow: [] };
    case 'historyVisibility':
      return { history_visibility: 'shared' };
    case 'message':
      return {};
    case 'redaction':
      return family === 'v11' ? { redacts: c.redacts! } : {};
  }
}

describe('a worked room in every room version', () => {
  for (const id of ALL_VERSIONS) {
    describe(`room version ${id}`, () => {
      const { rv, events } = buildWorkedRoom(id);
      const family = FAMILY[id]!;

      it('has IDs in the version format', () => {
        for (const event of Object.values(events)) {
          if (id === '1' || id === '2') expect(event.event_id).toMatch(/^\$[A-Za-z0-9]{18}:example\.org$/);
          else if (id === '3') expect(event.event_id).toMatch(/^\$[A-Za-z0-9+/]{43}$/);
          else expect(event.event_id).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
          expect(event.room_id).toBe(events.create.room_id);
        }
        if (id === '12') {
          expect(events.create.room_id).toBe(`!${events.create.event_id.slice(1)}`);
          expect(isValidRoomId(events.create.room_id, { hashed: true })).toBe(true);
          expect(roomIdFromCreateEvent(events.create, rv)).toBe(events.create.room_id);
        } else {
          expect(events.create.room_id).toBe('!worked:example.org');
        }
      });

      it('serialises to the version wire format and parses back to the same event', () => {
        for (const event of Object.values(events)) {
          const wire = toFederationPdu(event, rv);
          expect(Object.hasOwn(wire, 'event_id')).toBe(id === '1' || id === '2');
          expect(Object.hasOwn(wire, 'room_id')).toBe(!(id === '12' && event === events.create));
          const text = encodeCanonicalJson(wire);
          const parsed = ok(parsePdu(text, id));
          expect(parsed).toEqual(event);
          expect(computeEventId(parsed, rv)).toBe(event.event_id);
          if (!rv.eventReferencesWithHashes) expect(event.prev_events.every((p) => typeof p === 'string')).toBe(true);
        }
        // v1/v2 references carry the referenced event's reference hash.
        if (rv.eventReferencesWithHashes) {
          const [refId, refHash] = events.member.prev_events[0] as [string, { sha256: string }];
          expect(refId).toBe(events.create.event_id);
          expect(refHash.sha256).toBe(referenceHash(events.create, rv).toString('base64').replace(/=+$/, ''));
        }
      });

      it('places redacts where the version says', () => {
        const r = events.redaction;
        if (family === 'v11') {
          expect(r.content.redacts).toBe(events.message.event_id);
          expect(Object.hasOwn(r, 'redacts')).toBe(false);
        } else {
          expect(r.redacts).toBe(events.message.event_id);
          expect(Object.hasOwn(r.content, 'redacts')).toBe(false);
        }
      });

      it('passes hash and signature checks', () => {
        for (const event of Object.values(events)) {
          expect(verifyEventHashes(event, rv)).toEqual({ redact: false, event });
          expect(verifyEventSignatures(event, rv, lookup)).toEqual({ ok: true });
        }
      });

      it('redacts with the version rules, keeping its ID and signatures valid', () => {
        for (const [name, event] of Object.entries(events) as [keyof WorkedRoom['events'], RoomEvent][]) {
          const redacted = redactEvent(event, rv);
          expect(redacted.content, `${name}`).toEqual(expectedRedactedContent(name, event, family));
          const topLevel = ['event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures', 'depth', 'prev_events', 'auth_events', 'origin_server_ts'];
          expect(Object.keys(redacted).sort()).toEqual(topLevel.filter((k) => Object.hasOwn(event, k)).sort());
          expect(computeEventId(redacted, rv)).toBe(event.event_id);
          expect(verifyEventSignatures(redacted, rv, lookup)).toEqual({ ok: true });
          const changed = encodeCanonicalJson(redacted) !== encodeCanonicalJson(event);
          expect(verifyEventHashes(redacted, rv).redact).toBe(changed);
        }
      });

      it('detects tampering: content changes fail the hash, envelope changes the signature', () => {
        const tampered = { ...events.message, content: { msgtype: 'm.text', body: 'evil' } };
        expect(verifyEventSignatures(tampered, rv, lookup)).toEqual({ ok: true }); // content is not signed directly
        const checked = verifyEventHashes(tampered, rv);
        expect(checked.redact).toBe(true);
        expect(checked.event).toEqual(redactEvent(tampered, rv));
        expect(checked.event.content).toEqual({});
        for (const change of [{ type: 'm.room.other' }, { depth: 99 }, { origin_server_ts: 1 }, { sender: '@mallory:example.org' }]) {
          expect(verifyEventSignatures({ ...events.message, ...change }, rv, lookup)).toMatchObject({ ok: false, code: 'M_UNAUTHORIZED' });
        }
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Which servers must sign. spec: server-server-api "Validating hashes and signatures on received events"

describe('required signatures', () => {
  const REMOTE_USER = '@carol:remote.example';
  const joinTemplate = (roomId: string): EventTemplate => ({
    type: 'm.room.member', state_key: REMOTE_USER, sender: REMOTE_USER, room_id: roomId,
    content: { membership: 'join', join_authorised_via_users_server: ALICE },
    prev_events: [], auth_events: [], depth: 5, origin_server_ts: TS,
  });

  it('restricted joins (v8+) need the authorising server too; earlier versions do not', () => {
    for (const id of ALL_VERSIONS) {
      const rv = version(id);
      const roomId = rv.roomIdIsCreateEventHash ? '!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ' : '!r:example.org';
      const join = ok(buildEvent(joinTemplate(roomId), rv, { serverName: 'remote.example', key: remoteKey }, randomness(1)));
      const servers = ok(requiredSignatureServers(join, rv));
      const restricted = Number(id) >= 8;
      expect(servers.sort()).toEqual(restricted ? ['example.org', 'remote.example'] : ['remote.example']);
      expect(verifyEventSignatures(join, rv, lookup).ok).toBe(!restricted);
      // The resident server co-signs; hashes and the event ID do not change.
      const cosigned = ok(signEvent(join, rv, 'example.org', exampleKey)) as RoomEvent;
      expect(Object.keys(cosigned.signatures).sort()).toEqual(['example.org', 'remote.example']);
      expect(cosigned.hashes).toEqual(join.hashes);
      expect(computeEventId(cosigned, rv)).toBe(join.event_id);
      expect(verifyEventSignatures(cosigned, rv, lookup)).toEqual({ ok: true });
    }
  });

  it('v1/v2 need the event ID server as well as the sender server', () => {
    for (const id of ['1', '2']) {
      const rv = version(id);
      const event = {
        event_id: '$abc:remote.example', room_id: '!r:example.org', sender: ALICE, type: 'm.room.message', content: {},
        prev_events: [], auth_events: [], depth: 3, origin_server_ts: TS,
      };
      const signed = ok(hashAndSignEvent(event, rv, 'example.org', exampleKey));
      expect(ok(requiredSignatureServers(signed, rv)).sort()).toEqual(['example.org', 'remote.example']);
      expect(verifyEventSignatures(signed, rv, lookup)).toMatchObject({ ok: false, reason: expect.stringMatching(/remote\.example/) });
      expect(verifyEventSignatures(ok(signEvent(signed, rv, 'remote.example', remoteKey)), rv, lookup)).toEqual({ ok: true });
      expect(ok(requiredSignatureServers(signed, version('3')))).toEqual(['example.org']);
    }
  });

  it('an invite from a third-party invite does not need the sender server', () => {
    const rv = version('10');
    const invite = { type: 'm.room.member', sender: ALICE, state_key: REMOTE_USER, content: { membership: 'invite', third_party_invite: { signed: {} } } };
    expect(ok(requiredSignatureServers(invite, rv))).toEqual([]);
    expect(ok(requiredSignatureServers({ ...invite, content: { membership: 'invite' } }, rv))).toEqual(['example.org']);
  });

  it('rejects a malformed join_authorised_via_users_server', () => {
    const rv = version('9');
    const event = { type: 'm.room.member', sender: ALICE, content: { membership: 'join', join_authorised_via_users_server: 5 } };
    expect(requiredSignatureServers(event, rv)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
  });

  it('enforces key validity at origin_server_ts from room version 5', () => {
    const expiredBefore: KeyLookup = (server, keyId) => {
      const found = lookup(server, keyId);
      return found && 'key' in found ? { ...found, validUntilTs: TS - 1 } : undefined;
    };
    for (const id of ALL_VERSIONS) {
      const { rv, events } = { rv: version(id), events: buildWorkedRoom(id).events };
      expect(verifyEventSignatures(events.message, rv, expiredBefore).ok, `v${id}`).toBe(Number(id) < 5);
    }
  });

  it('needs keys: with no known key the check fails', () => {
    const { rv, events } = buildWorkedRoom('11');
    expect(verifyEventSignatures(events.message, rv, () => undefined)).toMatchObject({ ok: false, code: 'M_UNAUTHORIZED' });
  });
});

describe('buildEvent inputs', () => {
  const rv = version('11');
  const base: EventTemplate = {
    type: 'm.room.message', sender: ALICE, room_id: '!r:example.org', content: { body: 'x' },
    prev_events: [], auth_events: [], depth: 1, origin_server_ts: TS,
  };

  it('only signs events whose sender belongs to the signing server', () => {
    expect(buildEvent({ ...base, sender: '@x:remote.example' }, rv, signer)).toMatchObject({ ok: false, code: 'M_FORBIDDEN' });
  });

  it('needs randomness for v1/v2 event IDs', () => {
    expect(buildEvent(base, version('1'), signer)).toMatchObject({ ok: false, code: 'M_INVALID_PARAM' });
    expect(buildEvent(base, version('1'), signer, new Uint8Array(8))).toMatchObject({ ok: false });
  });

  it('rejects content the room version cannot carry', () => {
    expect(buildEvent({ ...base, content: { n: 1.5 } }, rv, signer)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
    expect(buildEvent({ ...base, content: { n: 1.5 } }, version('5'), signer).ok).toBe(true);
    expect(buildEvent({ ...base, content: { big: 'x'.repeat(70_000) } }, rv, signer)).toMatchObject({ ok: false, code: 'M_TOO_LARGE' });
    expect(buildEvent({ ...base, room_id: 'nope' }, rv, signer)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
    expect(buildEvent({ ...base, prev_events: [['$x:example.org', { sha256: 'h' }]] }, rv, signer)).toMatchObject({ ok: false });
  });

  it('keeps unsigned out of hashes and signatures', () => {
    const event = ok(buildEvent({ ...base, unsigned: { transaction_id: 't1' } }, rv, signer));
    expect(event.unsigned).toEqual({ transaction_id: 't1' });
    expect(eventSigningBytes(event, rv).toString()).not.toContain('transaction_id');
    expect(checkContentHash(event, rv)).toBe(true);
    expect(ok(buildEvent(base, rv, signer)).event_id).toBe(event.event_id);
  });

  it('gives what hashing, signing and parsing the event would, in every room version', () => {
    for (const v of ROOM_VERSIONS.values()) {
      const template: EventTemplate = { ...base, room_id: v.roomIdIsCreateEventHash ? '!' + 'r'.repeat(43) : base.room_id, content: { body: 'é ☃', n: [1, { b: true }] }, unsigned: { age_ts: 5 } };
      const built = ok(buildEvent(template, v, signer, randomness(7)));
      const { event_id: eventId, room_id: _r, unsigned: _u, hashes: _h, signatures: _s, ...fields } = built;
      const wire = ok(hashAndSignEvent({ ...fields, room_id: template.room_id, ...(v.eventIdFormat === 'v1' ? { event_id: eventId } : {}) }, v, 'example.org', exampleKey));
      expect(built).toEqual(ok(parsePdu({ ...wire, unsigned: { age_ts: 5 } }, v)));
    }
  });

  it('measures the size limit on the signed wire form, byte for byte', () => {
    const sized = (n: number) => buildEvent({ ...base, content: { body: 'x'.repeat(n) } }, rv, signer);
    const probe = ok(sized(0));
    const overhead = Buffer.byteLength(encodeCanonicalJson(toFederationPdu(probe, rv)));
    expect(sized(MAX_PDU_BYTES - overhead).ok).toBe(true);
    expect(sized(MAX_PDU_BYTES - overhead + 1)).toMatchObject({ ok: false, code: 'M_TOO_LARGE' });
  });

  it('refuses two different redacts values', () => {
    const template = { ...base, type: 'm.room.redaction', content: { redacts: '$a' }, redacts: '$b' };
    expect(buildEvent(template, rv, signer)).toMatchObject({ ok: false, code: 'M_INVALID_PARAM' });
  });
});
