// spec: m.room.server_acl (the order of checks), appendices "Glob-style matching".
import { describe, expect, it } from 'vitest';
import { compileServerAcl, hostOf } from '../../src/core/server-acl.js';

describe('server ACLs', () => {
  it('allows everyone without an ACL event', () => {
    expect(compileServerAcl(undefined)('anything.example')).toBe(true);
  });

  it('denies first, then allows what matches, then denies the rest', () => {
    const acl = compileServerAcl({ allow: ['*.example.org', 'good.net'], deny: ['bad.example.org'] });
    expect(acl('chat.example.org')).toBe(true);
    expect(acl('good.net')).toBe(true);
    expect(acl('bad.example.org')).toBe(false);
    expect(acl('other.net')).toBe(false);
    // An empty allow list denies everyone, the sender's server included.
    expect(compileServerAcl({ deny: [] })('good.net')).toBe(false);
  });

  it('ignores ports and case, and matches ? as one character', () => {
    const acl = compileServerAcl({ allow: ['*'], deny: ['evil.com', 'b?d.org'] });
    expect(acl('evil.com:8448')).toBe(false);
    expect(acl('EVIL.com:1234')).toBe(false);
    expect(acl('bad.org')).toBe(false);
    expect(acl('baad.org')).toBe(true);
    expect(hostOf('[::1]:8448')).toBe('[::1]');
    expect(hostOf('1.2.3.4:80')).toBe('1.2.3.4');
  });

  it('denies IP literals only when allow_ip_literals is false', () => {
    expect(compileServerAcl({ allow: ['*'] })('127.0.0.1:8448')).toBe(true);
    expect(compileServerAcl({ allow: ['*'], allow_ip_literals: true })('[::1]:8448')).toBe(true);
    const noIps = compileServerAcl({ allow: ['*'], allow_ip_literals: false });
    expect(noIps('127.0.0.1:8448')).toBe(false);
    expect(noIps('[2001:db8::1]')).toBe(false);
    expect(noIps('example.org')).toBe(true);
  });

  it('skips patterns that are not strings', () => {
    const acl = compileServerAcl({ allow: [42, null, 'ok.org'], deny: [{}, 'no.org'] });
    expect(acl('ok.org')).toBe(true);
    expect(acl('no.org')).toBe(false);
  });
});
