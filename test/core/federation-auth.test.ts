// The X-Matrix Authorization header: formatting, parsing per RFC 9110 auth-param rules, and the
// signature over method, URI, origin, destination and content.
import { describe, expect, it } from 'vitest';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto.js';
import { formatXMatrix, parseXMatrix, signRequest, verifyRequest, type FederationRequest } from '../../src/core/federation-auth.js';

function key(version: string): SigningKey {
  const k = generateSigningKey(version);
  if (!k.ok) throw new Error(k.reason);
  return k.value;
}

describe('X-Matrix header', () => {
  it('formats as the spec recommends and parses back', () => {
    const h = formatXMatrix({ origin: 'origin.example', destination: 'dest.example:8448', key: 'ed25519:key1', sig: 'ABC/+def' });
    expect(h).toBe('X-Matrix origin="origin.example",destination="dest.example:8448",key="ed25519:key1",sig="ABC/+def"');
    expect(parseXMatrix(h)).toEqual({ ok: true, value: { origin: 'origin.example', destination: 'dest.example:8448', key: 'ed25519:key1', sig: 'ABC/+def' } });
  });

  it('accepts case-insensitive names and scheme, any order, tokens with colons, whitespace around commas, escapes', () => {
    const r = parseXMatrix('x-matrix   SIG="a\\"b" ,\tKey=ed25519:k_1 , origin=origin.example:8448,  destination="d.example" , extra=ignored');
    expect(r).toEqual({ ok: true, value: { origin: 'origin.example:8448', destination: 'd.example', key: 'ed25519:k_1', sig: 'a"b' } });
  });

  it('accepts a header without destination (servers older than v1.3)', () => {
    const r = parseXMatrix('X-Matrix origin=o.example,key="ed25519:a",sig="s"');
    expect(r.ok && r.value.destination).toBe(undefined);
  });

  it.each([
    ['Bearer abc'],
    ['X-Matrix'],
    ['X-Matrix origin="o.example",key="ed25519:a"'],
    ['X-Matrix origin="o.example",key="ed25519:a",sig="unterminated'],
    ['X-Matrix origin="o.example" key="ed25519:a",sig="s"'],
    ['X-Matrix origin="o.example",origin="p.example",key="ed25519:a",sig="s"'],
    ['X-Matrix origin="not a server",key="ed25519:a",sig="s"'],
    ['X-Matrix origin="o.example",key="rsa:a",sig="s"'],
    ['X-Matrix origin="o.example",destination="bad name!",key="ed25519:a",sig="s"'],
    ['X-Matrix =x,origin="o.example",key="ed25519:a",sig="s"'],
  ])('rejects %s', (h) => {
    expect(parseXMatrix(h)).toMatchObject({ ok: false, code: 'M_UNAUTHORIZED' });
  });
});

describe('request signatures', () => {
  const k = key('k1');
  const req: FederationRequest = { method: 'PUT', uri: '/_matrix/federation/v1/send/1?x=%20y', origin: 'o.example', destination: 'd.example', content: { pdus: [], n: 1 } };
  const lookup = (entity: string, keyId: string) => (entity === 'o.example' && keyId === k.keyId ? { key: k.publicKeyBase64 } : undefined);

  function signed(r: FederationRequest) {
    const h = signRequest(r, k);
    if (!h.ok) throw new Error(h.reason);
    const p = parseXMatrix(h.value);
    if (!p.ok) throw new Error(p.reason);
    return p.value;
  }

  it('verifies what was signed', () => {
    expect(verifyRequest(req, signed(req), lookup).ok).toBe(true);
    const noBody = { ...req, method: 'GET', content: undefined };
    expect(verifyRequest(noBody, signed(noBody), lookup).ok).toBe(true);
  });

  it.each([
    ['method', { method: 'POST' }],
    ['uri', { uri: '/_matrix/federation/v1/send/2?x=%20y' }],
    ['query', { uri: '/_matrix/federation/v1/send/1?x=y' }],
    ['destination', { destination: 'other.example' }],
    ['content', { content: { pdus: [], n: 2 } }],
    ['missing content', { content: undefined }],
  ])('fails when the %s differs', (_what, change) => {
    const auth = signed(req);
    expect(verifyRequest({ ...req, ...change } as FederationRequest, auth, lookup).ok).toBe(false);
  });

  it('fails with another key or an unknown key', () => {
    const other = key('k2');
    const h = signRequest(req, other);
    const auth = parseXMatrix(h.ok ? h.value : '');
    if (!auth.ok) throw new Error(auth.reason);
    expect(verifyRequest(req, { ...auth.value, key: k.keyId }, lookup).ok).toBe(false);
    expect(verifyRequest(req, auth.value, lookup).ok).toBe(false);
  });
});
