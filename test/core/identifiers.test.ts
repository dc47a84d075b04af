import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  domainOf,
  isValidEventId,
  isValidLocalpart,
  isValidRoomAlias,
  isValidRoomId,
  isValidServerName,
  isValidUserId,
} from '../../src/core/identifiers.js';

describe('server names', () => {
  it('accepts the appendix examples', () => {
    // spec: appendices "Server Name"
    for (const name of ['matrix.org', 'matrix.org:8888', '1.2.3.4', '1.2.3.4:1234', '[1234:5678::abcd]', '[1234:5678::abcd]:5678']) {
      expect(isValidServerName(name)).toBe(true);
    }
  });

  it('accepts other grammar-conforming names', () => {
    for (const name of ['localhost', 'MATRIX.ORG', 'a-b.example', '[::1]', '[::ffff:1.2.3.4]:8448', 'x:1', 'x:65535', 'x:99999', 'a'.repeat(255)]) {
      expect(isValidServerName(name)).toBe(true);
    }
  });

  it('rejects names outside the grammar', () => {
    const bad = [
      '', ':8448', 'matrix.org:', 'matrix.org:123456', 'matrix.org:80a', 'exa mple.org', 'exa_mple.org', 'ex@mple.org',
      'matrix.org:80:80', '1234:5678::abcd', '[1234:5678::abcd', '[1234:5678::abcd]5678', '[not:an:ipv6]', '[::1%eth0]',
      '[1:2:3:4:5:6:7:8:9]', '[]', 'münchen.de', 'a'.repeat(256),
    ];
    for (const name of bad) expect(isValidServerName(name), name).toBe(false);
  });
});

describe('user IDs', () => {
  it('accepts the current localpart grammar', () => {
    for (const lp of ['alice', 'a.b_c=d-e/f+g', '0', 'x'.repeat(200)]) expect(isValidLocalpart(lp)).toBe(true);
    for (const lp of ['', 'Alice', 'al ice', 'al:ice', 'élise', 'a#b', 'a*b']) expect(isValidLocalpart(lp), lp).toBe(false);
  });

  it('accepts historical localparts only when asked', () => {
    // spec: appendices "Historical User IDs": anything but ":" and NUL, even empty.
    for (const lp of ['', 'Alice', 'al ice', 'élise', '\u0001', '😀']) {
      expect(isValidLocalpart(lp, { historical: true }), lp).toBe(true);
      expect(isValidLocalpart(lp, { historical: false })).toBe(lp === '' ? false : isValidLocalpart(lp));
    }
    for (const lp of ['a:b', 'a\u0000b', '\ud800']) expect(isValidLocalpart(lp, { historical: true })).toBe(false);
  });

  it('validates whole user IDs, including the 255-byte limit', () => {
    expect(isValidUserId('@alice:example.org')).toBe(true);
    expect(isValidUserId('@alice:[::1]:8448')).toBe(true);
    expect(isValidUserId('@Alice:example.org')).toBe(false);
    expect(isValidUserId('@Alice:example.org', { historical: true })).toBe(true);
    expect(isValidUserId('@:example.org', { historical: true })).toBe(true);
    for (const id of ['alice:example.org', '@alice', '@alice:', '@alice:bad host', '#alice:example.org']) {
      expect(isValidUserId(id, { historical: true }), id).toBe(false);
    }
    const server = 'example.org';
    const fits = `@${'a'.repeat(255 - 2 - server.length)}:${server}`;
    expect(Buffer.byteLength(fits)).toBe(255);
    expect(isValidUserId(fits)).toBe(true);
    expect(isValidUserId(`@a${fits.slice(1)}`)).toBe(false);
    // Bytes, not characters: 84 three-byte characters fill 255 bytes exactly, 85 overflow.
    expect(isValidUserId(`@${'€'.repeat(84)}:x`, { historical: true })).toBe(true);
    expect(isValidUserId(`@${'€'.repeat(85)}:x`, { historical: true })).toBe(false);
  });

  it('never accepts an ID whose localpart has a colon (the first colon separates)', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      const id = `@${a}:${b}`;
      if (isValidUserId(id, { historical: true })) {
        expect(a.includes(':')).toBe(false);
        expect(domainOf(id)).toBe(b);
      }
    }));
  });
});

describe('room IDs, aliases and event IDs', () => {
  const hash = 'Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ';

  it('room IDs with a domain, or a create event hash (v12)', () => {
    expect(isValidRoomId('!jEsUZKDJdhlrceRyVU:example.org')).toBe(true);
    expect(isValidRoomId('!jEsUZKDJdhlrceRyVU:example.org', { hashed: false })).toBe(true);
    expect(isValidRoomId('!jEsUZKDJdhlrceRyVU:example.org', { hashed: true })).toBe(false);
    expect(isValidRoomId(`!${hash}`, { hashed: true })).toBe(true);
    expect(isValidRoomId(`!${hash}`, { hashed: false })).toBe(false);
    expect(isValidRoomId(`!${hash}`)).toBe(true);
    for (const id of ['!nodomain', 'jEsU:example.org', '!a:bad host', `!${hash}=`, `!${hash.slice(1)}`, `!${hash.replace('-', '+')}`]) {
      expect(isValidRoomId(id), id).toBe(false);
    }
  });

  it('room aliases', () => {
    expect(isValidRoomAlias('#room:example.org')).toBe(true);
    expect(isValidRoomAlias('#Ünïcode room:example.org')).toBe(true);
    expect(isValidRoomAlias('#room')).toBe(false);
    expect(isValidRoomAlias('!room:example.org')).toBe(false);
    expect(isValidRoomAlias(`#${'a'.repeat(250)}:example.org`)).toBe(false);
  });

  it('event IDs per format', () => {
    const v3 = '$acR1l0raoZnm60CBwAVgqbZqoO/mYU81xysh1u7XcJk';
    const v4 = '$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg';
    expect(isValidEventId('$a4ecee13e2accdadf56c1025:example.com', 'v1')).toBe(true);
    expect(isValidEventId(v3, 'v3')).toBe(true);
    expect(isValidEventId(v4, 'v4')).toBe(true);
    expect(isValidEventId(v3, 'v4')).toBe(false);
    expect(isValidEventId(v4, 'v3')).toBe(false);
    expect(isValidEventId(v3, 'v1')).toBe(false);
    expect(isValidEventId('$a4ecee13e2accdadf56c1025:example.com', 'v4')).toBe(false);
    for (const id of [v3, v4, '$x:example.org']) expect(isValidEventId(id)).toBe(true);
    for (const id of ['', '$', 'abc', '!x:example.org', '$x:', `${v4}A`]) expect(isValidEventId(id), id).toBe(false);
  });
});
