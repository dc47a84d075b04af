// The minimum of canonical JSON and ed25519 that the third-party invite rule needs
// (verifying `signed` against the public keys of m.room.third_party_invite). Kept local so
// core/auth has no dependency on modules written in parallel; core/json.ts and core/crypto.ts
// are the general implementations.
// spec: appendices "Canonical JSON", "Checking for a signature", "Unpadded Base64".

import { createPublicKey, verify } from 'node:crypto';
import { isObject } from './content.js';

/** Canonical JSON text, or undefined if the value holds something JSON cannot (non-finite numbers...). */
export function canonicalJson(value: unknown): string | undefined {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : undefined;
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (const item of value) {
      const text = canonicalJson(item);
      if (text === undefined) return undefined;
      items.push(text);
    }
    return `[${items.join(',')}]`;
  }
  if (isObject(value)) {
    const members: string[] = [];
    for (const key of Object.keys(value).sort(compareCodePoints)) {
      const text = canonicalJson(value[key]);
      if (text === undefined) return undefined;
      members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(',')}}`;
  }
  return undefined;
}

/** Order by Unicode code point (JS's default sort orders by UTF-16 code unit). */
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

/** Decode unpadded (or padded) standard or URL-safe base64; undefined if malformed. */
export function decodeBase64(text: unknown): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64.test(text) || text.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(text, 'base64');
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Verify an ed25519 signature made with a raw 32-byte public key; never throws. */
export function verifyEd25519(publicKey: Buffer, signature: Buffer, message: Buffer): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * Whether `signed.signatures[server][keyId]` is a valid signature of `signed` (without its
 * `signatures` and `unsigned`) under the given base64 public key.
 */
export function verifyJsonSignature(signed: unknown, server: string, keyId: string, publicKeyBase64: unknown): boolean {
  if (!isObject(signed)) return false;
  const signatures = signed.signatures;
  if (!isObject(signatures)) return false;
  const byServer = Object.prototype.hasOwnProperty.call(signatures, server) ? signatures[server] : undefined;
  if (!isObject(byServer) || !Object.prototype.hasOwnProperty.call(byServer, keyId)) return false;
  const signature = decodeBase64(byServer[keyId]);
  const publicKey = decodeBase64(publicKeyBase64);
  if (signature === undefined || publicKey === undefined) return false;
  const { signatures: _signatures, unsigned: _unsigned, ...unsignedCopy } = signed;
  const message = canonicalJson(unsignedCopy);
  if (message === undefined) return false;
  return verifyEd25519(publicKey, signature, Buffer.from(message, 'utf8'));
}
