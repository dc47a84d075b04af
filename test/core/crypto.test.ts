import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  computeContentHash,
  computeReferenceHashOfRedacted,
  ed25519PublicKey,
  formatSigningKeyLine,
  generateSigningKey,
  isValidSigningKeyId,
  parseSigningKeyFile,
  parseSigningKeyLine,
  signJson,
  signingKeyFromSeed,
  verifyJsonSignature,
  type KeyLookup,
  type SigningKey,
  type VerifyKey,
} from '../../src/core/crypto.js';
import { decodeBase64, encodeBase64 } from '../../src/core/json.js';

function ok<T>(v: { ok: true; value: T } | { ok: false; reason: string }): T {
  if (!v.ok) throw new Error(v.reason);
  return v.value;
}

// spec: appendices "Cryptographic Test Vectors" > "Signing Key"
const SPEC_SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
const specKey = ok(parseSigningKeyLine(`ed25519 1 ${SPEC_SEED}`));
const lookupFor = (entity: string, key: SigningKey, extra: Partial<VerifyKey> = {}): KeyLookup =>
  (e, keyId) => (e === entity && keyId === key.keyId ? { key: key.publicKeyBase64, ...extra } : undefined);

describe('signing keys', () => {
  it('derives the key from the spec seed', () => {
    expect(specKey.keyId).toBe('ed25519:1');
    expect(specKey.seed).toEqual(new Uint8Array(decodeBase64(SPEC_SEED)!));
    expect(specKey.publicKey.length).toBe(32);
  });

  it('formats and parses Synapse signing.key lines', () => {
    const line = formatSigningKeyLine(specKey);
    expect(line).toMatch(/^ed25519 1 [A-Za-z0-9+/]{43}$/);
    const again = ok(parseSigningKeyLine(line));
    expect(again.publicKeyBase64).toBe(specKey.publicKeyBase64);
    const file = ok(parseSigningKeyFile(`${line}\n\ned25519 a_2 ${encodeBase64(new Uint8Array(32).fill(7))}\n`));
    expect(file.map((k) => k.keyId)).toEqual(['ed25519:1', 'ed25519:a_2']);
  });

  it('rejects malformed key lines and bad key IDs with typed rejections', () => {
    for (const line of ['', 'ed25519 1', 'curve25519 1 AAAA', 'ed25519 1 !!!!', 'ed25519 a-b ' + SPEC_SEED, 'ed25519 1 Zm9v', 'ed25519 1 x y']) {
      expect(parseSigningKeyLine(line)).toMatchObject({ ok: false, code: 'M_INVALID_PARAM' });
    }
    expect(parseSigningKeyFile('\n\n')).toMatchObject({ ok: false });
    expect(signingKeyFromSeed('', new Uint8Array(32)).ok).toBe(false);
    expect(signingKeyFromSeed('1', new Uint8Array(31)).ok).toBe(false);
  });

  it('validates key IDs as ed25519:[a-zA-Z0-9_]+', () => {
    for (const id of ['ed25519:1', 'ed25519:auto', 'ed25519:a_B9']) expect(isValidSigningKeyId(id)).toBe(true);
    for (const id of ['ed25519:', 'ed25519', 'ed25519:a-b', 'ed25519:a:b', 'curve25519:abc', 'ED25519:1', 'ed25519:a b']) {
      expect(isValidSigningKeyId(id), id).toBe(false);
    }
  });

  it('builds KeyObjects only from 32-byte keys', () => {
    expect(ed25519PublicKey(specKey.publicKey)).toBeDefined();
    expect(ed25519PublicKey(specKey.publicKeyBase64)).toBe(ed25519PublicKey(specKey.publicKey)); // cached
    expect(ed25519PublicKey(new Uint8Array(31))).toBeUndefined();
    expect(ed25519PublicKey('not base64!')).toBeUndefined();
  });
});

describe('signing JSON: the appendix vectors', () => {
  it('signs the empty object', () => {
    // spec: appendices "JSON Signing"
    expect(ok(signJson({}, 'domain', specKey))).toEqual({
      signatures: {
        domain: {
          'ed25519:1': 'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ',
        },
      },
    });
  });

  it('signs an object with data values', () => {
    expect(ok(signJson({ one: 1, two: 'Two' }, 'domain', specKey))).toEqual({
      one: 1,
      signatures: {
        domain: {
          'ed25519:1': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
        },
      },
      two: 'Two',
    });
  });

  it('verifies the appendix example signatures with the derived public key', () => {
    const signed = {
      one: 1,
      signatures: { domain: { 'ed25519:1': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw' } },
      two: 'Two',
    };
    expect(verifyJsonSignature(signed, 'domain', lookupFor('domain', specKey))).toEqual({ ok: true });
  });
});

describe('verifying JSON signatures', () => {
  const other = ok(signingKeyFromSeed('other', new Uint8Array(32).fill(1)));
  const base = { name: 'example.org', valid_until_ts: 1_000, unsigned: { age_ts: 5 } };
  const signed = ok(signJson(base, 'example.org', specKey));

  it('ignores unsigned and keeps it out of the signature', () => {
    expect(signed.unsigned).toEqual({ age_ts: 5 });
    const changed = { ...signed, unsigned: { age_ts: 999, extra: true } };
    expect(verifyJsonSignature(changed, 'example.org', lookupFor('example.org', specKey)).ok).toBe(true);
  });

  it('holds several signatures: other keys and other entities', () => {
    const twice = ok(signJson(signed, 'example.org', other));
    const thrice = ok(signJson(twice, 'notary.example', other));
    expect(Object.keys(thrice.signatures['example.org']!)).toEqual(['ed25519:1', 'ed25519:other']);
    expect(verifyJsonSignature(thrice, 'example.org', lookupFor('example.org', specKey)).ok).toBe(true);
    expect(verifyJsonSignature(thrice, 'notary.example', lookupFor('notary.example', other)).ok).toBe(true);
    const both: KeyLookup = (e, id) => (id === 'ed25519:1' ? { key: specKey.publicKey } : id === 'ed25519:other' ? { key: other.publicKey } : undefined);
    expect(verifyJsonSignature(thrice, 'example.org', both).ok).toBe(true);
  });

  it('fails on tampering with any signed value or the signature', () => {
    const lookup = lookupFor('example.org', specKey);
    expect(verifyJsonSignature({ ...signed, name: 'evil.org' }, 'example.org', lookup)).toMatchObject({ ok: false, code: 'M_UNAUTHORIZED' });
    expect(verifyJsonSignature({ ...signed, added: 1 }, 'example.org', lookup).ok).toBe(false);
    const { valid_until_ts: _dropped, ...missing } = signed;
    expect(verifyJsonSignature(missing, 'example.org', lookup).ok).toBe(false);
    const sig = signed.signatures['example.org']!['ed25519:1']!;
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    for (const bad of [flipped, sig.slice(0, -2), 'not base64!', '']) {
      const tampered = { ...signed, signatures: { 'example.org': { 'ed25519:1': bad } } };
      expect(verifyJsonSignature(tampered, 'example.org', lookup).ok).toBe(false);
    }
  });

  it('follows "Checking for a Signature": skips unknown algorithms and keys, needs one good one', () => {
    const lookup = lookupFor('example.org', specKey);
    expect(verifyJsonSignature(signed, 'elsewhere.org', lookup)).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by/) });
    const withUnknown = { ...signed, signatures: { 'example.org': { ...signed.signatures['example.org'], 'curve25519:x': 'AAAA', 'ed25519:unknown': 'AAAA' } } };
    expect(verifyJsonSignature(withUnknown, 'example.org', lookup).ok).toBe(true);
    expect(verifyJsonSignature(signed, 'example.org', () => undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/no known unexpired key/) });
    // A known key whose signature does not verify fails the check even if another one verifies.
    const wrongKey: KeyLookup = (_e, id) => (id === 'ed25519:1' ? { key: specKey.publicKey } : id === 'ed25519:other' ? { key: specKey.publicKey } : undefined);
    expect(verifyJsonSignature(ok(signJson(signed, 'example.org', other)), 'example.org', wrongKey).ok).toBe(false);
  });

  it('skips expired keys, and keys past valid_until_ts when enforced', () => {
    const at = { ts: 2_000 };
    expect(verifyJsonSignature(signed, 'example.org', lookupFor('example.org', specKey, { expiredTs: 1_999 }), at).ok).toBe(false);
    expect(verifyJsonSignature(signed, 'example.org', lookupFor('example.org', specKey, { expiredTs: 2_000 }), at).ok).toBe(true);
    const validUntil = lookupFor('example.org', specKey, { validUntilTs: 1_000 });
    expect(verifyJsonSignature(signed, 'example.org', validUntil, at).ok).toBe(true);
    expect(verifyJsonSignature(signed, 'example.org', validUntil, { ...at, enforceValidUntil: true }).ok).toBe(false);
  });

  it('signs and verifies arbitrary JSON with generated keys; any change breaks it', () => {
    const key = ok(generateSigningKey('gen'));
    const json = fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.maxSafeInteger(), fc.boolean(), fc.constant(null)), { maxKeys: 5 });
    fc.assert(fc.property(json, fc.string(), (obj, extraKey) => {
      const s = ok(signJson(obj, 'gen.example', key));
      const lookup = lookupFor('gen.example', key);
      expect(verifyJsonSignature(s, 'gen.example', lookup).ok).toBe(true);
      if (extraKey !== 'signatures' && extraKey !== 'unsigned') {
        const changed = { ...s, [extraKey]: Object.hasOwn(s, extraKey) ? '\u0000changed' : 'added' };
        expect(verifyJsonSignature(changed, 'gen.example', lookup).ok).toBe(false);
      }
    }), { numRuns: 50 });
  });

  it('returns a rejection for non-JSON input instead of throwing', () => {
    expect(signJson({ bad: NaN }, 'x', specKey)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
  });
});

describe('event hashes', () => {
  it('content hash: the appendix event signing examples', () => {
    // spec: appendices "Event Signing": hashes.sha256 of the two example events
    const minimal = {
      room_id: '!x:domain', sender: '@a:domain', origin: 'domain', origin_server_ts: 1000000, signatures: {},
      hashes: {}, type: 'X', content: {}, prev_events: [], auth_events: [], depth: 3, unsigned: { age_ts: 1000000 },
    };
    expect(encodeBase64(computeContentHash(minimal))).toBe('5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos');
    const message = {
      content: { body: 'Here is the message content' }, event_id: '$0:domain', origin: 'domain', origin_server_ts: 1000000,
      type: 'm.room.message', room_id: '!r:domain', sender: '@u:domain', signatures: {}, unsigned: { age_ts: 1000000 },
    };
    expect(encodeBase64(computeContentHash(message))).toBe('onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g');
  });

  it('reference hash covers the redacted form without signatures and unsigned', () => {
    const redacted = { type: 'X', content: {}, hashes: { sha256: 'abc' } };
    const a = computeReferenceHashOfRedacted(redacted);
    const b = computeReferenceHashOfRedacted({ ...redacted, signatures: { x: { 'ed25519:1': 'sig' } }, unsigned: { age: 1 } });
    expect(a.equals(b)).toBe(true);
    expect(a.equals(computeReferenceHashOfRedacted({ ...redacted, depth: 1 }))).toBe(false);
  });
});
