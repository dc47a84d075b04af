// parsePdu on bad input: every problem is a typed rejection, never an exception.
// spec: server-server-api "Checks performed on receipt of a PDU" step 1; rooms/* "Event format";
// client-server-api "Size limits".

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_PDU_BYTES, parsePdu } from '../../src/core/events.js';
import { encodeCanonicalJson } from '../../src/core/json.js';
import { ROOM_VERSIONS, getRoomVersion } from '../../src/core/room-versions.js';

const ALL_VERSIONS = [...ROOM_VERSIONS.keys()];
const HASH_ID = 'Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg';
const HASH_ID_STD = 'Rqnc+F+dvnEYJTyHq/iKxU2bZ1CI92+kuZq3a5lr5Zg';

/** A well-formed federation PDU for the room version (a message event). */
function validPdu(id: string): Record<string, unknown> {
  const rv = getRoomVersion(id)!;
  const ref = rv.eventReferencesWithHashes
    ? ['$prev:example.org', { sha256: 'abase64encodedsha256hashshouldbe43byteslong' }]
    : rv.eventIdFormat === 'v3' ? `$${HASH_ID_STD}` : `$${HASH_ID}`;
  const pdu: Record<string, unknown> = {
    room_id: rv.roomIdIsCreateEventHash ? `!${HASH_ID}` : '!room:example.org',
    sender: '@alice:example.org',
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello' },
    origin_server_ts: 1_700_000_000_000,
    depth: 12,
    prev_events: [ref],
    auth_events: [ref],
    hashes: { sha256: 'ThisHashCoversAllFieldsInCaseThisIsRedacted' },
    signatures: { 'example.org': { 'ed25519:a1': 'sig' } },
    unsigned: { age: 4612 },
  };
  if (rv.eventIdFormat === 'v1') pdu.event_id = '$a4ecee13e2accdadf56c1025:example.org';
  return pdu;
}

function expectRejected(input: unknown, id: string, code: string, reason?: RegExp) {
  const v = parsePdu(input, id);
  expect(v.ok, `expected a rejection in v${id}`).toBe(false);
  if (!v.ok) {
    expect(v.code).toBe(code);
    if (reason) expect(v.reason).toMatch(reason);
  }
}

describe('parsePdu accepts the well-formed baseline', () => {
  it.each(ALL_VERSIONS)('room version %s', (id) => {
    const pdu = validPdu(id);
    for (const input of [pdu, JSON.stringify(pdu), Buffer.from(JSON.stringify(pdu))]) {
      const v = parsePdu(input, id);
      expect(v.ok).toBe(true);
    }
    expect(parsePdu(pdu, getRoomVersion(id)!).ok).toBe(true);
  });
});

describe('missing required fields', () => {
  const required = ['sender', 'type', 'content', 'origin_server_ts', 'depth', 'prev_events', 'auth_events', 'hashes', 'signatures', 'room_id'];
  it.each(ALL_VERSIONS)('room version %s', (id) => {
    const fields = getRoomVersion(id)!.eventIdFormat === 'v1' ? [...required, 'event_id'] : required;
    for (const field of fields) {
      const { [field]: _removed, ...pdu } = validPdu(id);
      expectRejected(pdu, id, 'M_BAD_JSON', new RegExp(field.replace('_', '.')));
    }
    const { hashes: _h, ...noHash } = validPdu(id);
    expectRejected({ ...noHash, hashes: {} }, id, 'M_BAD_JSON', /hashes/);
  });
});

describe('wrongly typed fields', () => {
  const wrong: [string, unknown][] = [
    ['sender', 5], ['sender', null], ['type', 1], ['type', ['m.room.message']], ['state_key', 0], ['state_key', null],
    ['content', 'text'], ['content', []], ['content', null], ['origin_server_ts', '1700000000000'], ['origin_server_ts', 1.5],
    ['depth', '12'], ['depth', -1], ['depth', true], ['prev_events', '$x'], ['prev_events', {}], ['auth_events', null],
    ['hashes', 'h'], ['hashes', { sha256: 5 }], ['signatures', []], ['signatures', { 'example.org': 'sig' }],
    ['signatures', { 'example.org': { 'ed25519:a1': 5 } }], ['unsigned', []], ['unsigned', 'x'], ['room_id', 5],
  ];
  it.each(ALL_VERSIONS)('room version %s', (id) => {
    for (const [field, value] of wrong) {
      expectRejected({ ...validPdu(id), [field]: value }, id, 'M_BAD_JSON');
    }
    if (getRoomVersion(id)!.eventIdFormat === 'v1') expectRejected({ ...validPdu(id), event_id: 7 }, id, 'M_BAD_JSON', /event_id/);
  });

  it('redacts is a top-level event ID until v11 moved it into content', () => {
    for (const id of ALL_VERSIONS) {
      const pdu = { ...validPdu(id), type: 'm.room.redaction', redacts: 5 };
      const v = parsePdu(pdu, id);
      expect(v.ok, `v${id}`).toBe(Number(id) >= 11);
    }
    expect(parsePdu({ ...validPdu('10'), redacts: `$${HASH_ID}` }, '10').ok).toBe(true);
    expectRejected({ ...validPdu('10'), redacts: '$not-a-hash' }, '10', 'M_BAD_JSON', /redacts/);
  });
});

describe('fields outside the schema', () => {
  it('are allowed with any JSON type (the PDU schemas are open) and kept as received', () => {
    for (const id of ALL_VERSIONS) {
      const extra = { 'org.example.extra': { nested: [1, 'two', null] }, origin: 'example.org', prev_state: [], membership: 'join' };
      const v = parsePdu({ ...validPdu(id), ...extra }, id);
      expect(v.ok, `v${id}`).toBe(true);
      if (v.ok) expect(v.value).toMatchObject(extra);
    }
  });
});

describe('references and fields of the wrong version shape', () => {
  it('v1/v2 need [event_id, {sha256}] pairs; v3+ need bare event IDs of the version format', () => {
    for (const id of ALL_VERSIONS) {
      const rv = getRoomVersion(id)!;
      const bad: unknown[] = rv.eventReferencesWithHashes
        ? [`$${HASH_ID}`, ['$x:example.org'], ['$x:example.org', {}], ['$x:example.org', { sha256: 1 }], [5, { sha256: 'h' }], ['$x:example.org', { sha256: 'h' }, 3], ['nope', { sha256: 'h' }]]
        : [['$x:example.org', { sha256: 'h' }], 5, null, '$x:example.org', '$short', `$${HASH_ID}=`, rv.eventIdFormat === 'v3' ? `$${HASH_ID}` : `$${HASH_ID_STD}`];
      for (const entry of bad) {
        expectRejected({ ...validPdu(id), prev_events: [entry] }, id, 'M_BAD_JSON', /prev_events/);
        expectRejected({ ...validPdu(id), auth_events: [entry] }, id, 'M_BAD_JSON', /auth_events/);
      }
    }
  });

  it('limits auth_events to 10 and prev_events to 20', () => {
    for (const id of ['1', '4', '12']) {
      const pdu = validPdu(id);
      const ref = (pdu.prev_events as unknown[])[0];
      expect(parsePdu({ ...pdu, prev_events: Array(20).fill(ref), auth_events: Array(10).fill(ref) }, id).ok).toBe(true);
      expectRejected({ ...pdu, prev_events: Array(21).fill(ref) }, id, 'M_BAD_JSON', /prev_events/);
      expectRejected({ ...pdu, auth_events: Array(11).fill(ref) }, id, 'M_BAD_JSON', /auth_events/);
    }
  });

  it('event_id is not on the wire from v3', () => {
    for (const id of ALL_VERSIONS.filter((v) => Number(v) >= 3)) {
      expectRejected({ ...validPdu(id), event_id: `$${HASH_ID}` }, id, 'M_BAD_JSON', /event_id/);
    }
  });

  it('room IDs: with a domain before v12, the create hash from v12; the v12 create has none', () => {
    expectRejected({ ...validPdu('11'), room_id: `!${HASH_ID}` }, '11', 'M_BAD_JSON', /room_id/);
    expectRejected({ ...validPdu('12'), room_id: '!room:example.org' }, '12', 'M_BAD_JSON', /room_id/);
    const create: Record<string, unknown> = { ...validPdu('12'), type: 'm.room.create', state_key: '', content: { room_version: '12' }, prev_events: [], auth_events: [] };
    expectRejected(create, '12', 'M_BAD_JSON', /room_id/);
    const { room_id: _r, ...withoutRoomId } = create;
    const parsed = parsePdu(withoutRoomId, '12');
    expect(parsed.ok && parsed.value.room_id === `!${parsed.value.event_id.slice(1)}`).toBe(true);
    // Only the create event may omit it.
    const { room_id: _r2, ...message } = validPdu('12');
    expectRejected(message, '12', 'M_BAD_JSON', /room_id/);
    const { room_id: _r3, ...oldCreate }: Record<string, unknown> = { ...validPdu('11'), type: 'm.room.create', state_key: '' };
    expectRejected(oldCreate, '11', 'M_BAD_JSON', /room_id/);
  });
});

describe('invalid identifiers', () => {
  it.each(ALL_VERSIONS)('room version %s', (id) => {
    for (const sender of ['alice', '@alice', '@alice:', '@alice:bad host', '!alice:example.org', `@${'a'.repeat(250)}:example.org`]) {
      expectRejected({ ...validPdu(id), sender }, id, 'M_BAD_JSON', /sender/);
    }
    for (const roomId of ['room', '!room', '#room:example.org', '!room:exa mple.org']) {
      expectRejected({ ...validPdu(id), room_id: roomId }, id, 'M_BAD_JSON', /room_id/);
    }
    // Historical user IDs are accepted over federation. spec: appendices "Historical User IDs"
    expect(parsePdu({ ...validPdu(id), sender: '@Ålice Smith:example.org' }, id).ok).toBe(true);
  });

  it('v1/v2 event IDs need a server name', () => {
    for (const eventId of ['$abc', 'abc:example.org', '$abc:', '$abc:bad host']) {
      expectRejected({ ...validPdu('1'), event_id: eventId }, '1', 'M_BAD_JSON', /event_id/);
    }
  });

  it('type and state_key are limited to 255 bytes', () => {
    expect(parsePdu({ ...validPdu('11'), type: 'x'.repeat(255), state_key: 'é'.repeat(127) }, '11').ok).toBe(true);
    expectRejected({ ...validPdu('11'), type: 'x'.repeat(256) }, '11', 'M_BAD_JSON', /type/);
    expectRejected({ ...validPdu('11'), state_key: 'é'.repeat(128) }, '11', 'M_BAD_JSON', /state_key/);
  });
});

describe('size limit', () => {
  it('accepts exactly 65,536 bytes of canonical JSON and rejects one more', () => {
    for (const id of ['1', '12']) {
      const pdu = validPdu(id);
      const base = Buffer.byteLength(encodeCanonicalJson({ ...pdu, content: { body: '' } }));
      const atLimit = { ...pdu, content: { body: 'x'.repeat(MAX_PDU_BYTES - base) } };
      expect(Buffer.byteLength(encodeCanonicalJson(atLimit))).toBe(65_536);
      expect(parsePdu(atLimit, id).ok).toBe(true);
      const over = { ...pdu, content: { body: 'x'.repeat(MAX_PDU_BYTES - base + 1) } };
      expectRejected(over, id, 'M_TOO_LARGE');
      // Multi-byte characters count as bytes; insignificant whitespace in the input does not count.
      expectRejected({ ...pdu, content: { body: '€'.repeat(22_000) } }, id, 'M_TOO_LARGE');
      expect(parsePdu(JSON.stringify(atLimit, null, 4), id).ok).toBe(true);
    }
  });
});

describe('room versions and JSON', () => {
  it('rejects unknown room versions', () => {
    for (const id of ['0', '13', '', '1.0', ' 1', 'org.matrix.msc2716']) {
      expectRejected(validPdu('11'), id, 'M_UNSUPPORTED_ROOM_VERSION');
    }
  });

  it('rejects text that is not JSON, and JSON that is not an object', () => {
    expectRejected('{"type":', '11', 'M_NOT_JSON');
    expectRejected('string', '11', 'M_NOT_JSON');
    expectRejected(Buffer.from([0x7b, 0xff]), '11', 'M_NOT_JSON');
    // Invalid UTF-8 inside a string is not silently replaced.
    const text = Buffer.from(JSON.stringify({ ...validPdu('11'), content: { body: 'AB' } }));
    text[text.indexOf('AB')] = 0xc3;
    expectRejected(text, '11', 'M_NOT_JSON');
    for (const value of [null, [], 5, true, undefined, '[]', 'null', '"text"']) expectRejected(value, '11', 'M_BAD_JSON');
  });

  it('enforces canonical JSON numbers from v6, and tolerates old events before', () => {
    for (const id of ALL_VERSIONS) {
      const strict = Number(id) >= 6;
      const cases: unknown[] = [
        { ...validPdu(id), content: { n: 1.5 } },
        { ...validPdu(id), content: { n: [2 ** 53] } },
        { ...validPdu(id), content: { n: -(2 ** 53) } },
        JSON.stringify(validPdu(id)).replace('"depth":12', '"depth":12.0'),
        JSON.stringify(validPdu(id)).replace('"depth":12', '"depth":1.2e1'),
        JSON.stringify(validPdu(id)).replace('"body":"hello"', '"body":"hello","n":1E3'),
      ];
      for (const input of cases) {
        const v = parsePdu(input, id);
        expect(v.ok, `v${id} ${typeof input === 'string' ? input.slice(0, 0) : ''}`).toBe(!strict);
        if (!v.ok) expect(v.code).toBe('M_BAD_JSON');
      }
      // Numbers inside strings are not numbers.
      expect(parsePdu(JSON.stringify({ ...validPdu(id), content: { body: '1.5e3' } }), id).ok).toBe(true);
    }
  });

  it('applies the depth and timestamp ranges of the version', () => {
    expectRejected({ ...validPdu('6'), depth: 2 ** 53 }, '6', 'M_BAD_JSON');
    expect(parsePdu({ ...validPdu('5'), depth: 2 ** 60 }, '5').ok).toBe(true);
    expectRejected({ ...validPdu('5'), depth: 2 ** 63 }, '5', 'M_BAD_JSON', /depth/);
    expectRejected({ ...validPdu('5'), origin_server_ts: 2 ** 64 }, '5', 'M_BAD_JSON', /origin_server_ts/);
    expect(parsePdu({ ...validPdu('12'), depth: 0 }, '12').ok).toBe(true);
  });

  it('rejects lone surrogates and non-JSON values smuggled into objects', () => {
    expectRejected({ ...validPdu('11'), content: { body: '\ud800' } }, '11', 'M_BAD_JSON');
    expectRejected({ ...validPdu('3'), content: { body: undefined } }, '3', 'M_BAD_JSON');
    expectRejected({ ...validPdu('3'), content: { n: NaN } }, '3', 'M_BAD_JSON');
    expectRejected({ ...validPdu('3'), content: new Map() }, '3', 'M_BAD_JSON');
  });
});

describe('parsePdu never throws', () => {
  const versionIds = fc.constantFrom(...ALL_VERSIONS, '99');

  it('on arbitrary JSON values and text', () => {
    fc.assert(fc.property(fc.jsonValue(), versionIds, (value, id) => {
      expect(typeof parsePdu(value, id).ok).toBe('boolean');
      expect(typeof parsePdu(JSON.stringify(value), id).ok).toBe('boolean');
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.string(), versionIds, (text, id) => {
      expect(typeof parsePdu(text, id).ok).toBe('boolean');
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.anything(), versionIds, (value, id) => {
      expect(typeof parsePdu(value, id).ok).toBe('boolean');
    }), { numRuns: 300 });
  });

  it('on valid PDUs with fields dropped, replaced or added', () => {
    const fields = ['sender', 'type', 'state_key', 'content', 'origin_server_ts', 'depth', 'prev_events', 'auth_events', 'hashes', 'signatures', 'unsigned', 'room_id', 'event_id', 'redacts', 'extra'];
    const mutation = fc.array(fc.tuple(fc.constantFrom(...fields), fc.option(fc.jsonValue(), { nil: undefined })), { maxLength: 4 });
    fc.assert(fc.property(versionIds, mutation, (id, changes) => {
      const pdu = validPdu(id === '99' ? '11' : id);
      for (const [field, value] of changes) {
        if (value === undefined) delete pdu[field];
        else pdu[field] = value;
      }
      const v = parsePdu(pdu, id);
      expect(typeof v.ok).toBe('boolean');
      if (!v.ok) expect(typeof v.code).toBe('string');
    }), { numRuns: 500 });
  });
});
