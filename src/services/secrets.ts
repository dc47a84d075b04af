// Random tokens, their stored hashes, password hashing and constant-time comparison.
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, randomInt } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify, Algorithm } from '@node-rs/argon2';

/** 256 random bits, URL-safe, with a prefix naming its kind (as GitHub tokens do) for leak scanners. */
export function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Tokens are stored only as this hash; a database leak does not leak usable tokens. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

const DEVICE_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export function newDeviceId(): string {
  let s = '';
  for (let i = 0; i < 10; i++) s += DEVICE_ID_ALPHABET[randomInt(DEVICE_ID_ALPHABET.length)];
  return s;
}

export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = Buffer.isBuffer(a) ? a : Buffer.from(a);
  const y = Buffer.isBuffer(b) ? b : Buffer.from(b);
  // Compare equal-length digests so the length of the secret does not leak either.
  const hx = createHash('sha256').update(x).digest();
  const hy = createHash('sha256').update(y).digest();
  return timingSafeEqual(hx, hy) && x.length === y.length;
}

/**
 * A 256-bit key for one purpose, derived (HKDF-SHA256) from a long-lived server secret: the seed
 * of the server's signing key, which every start loads, so the key survives restarts without being
 * stored anywhere. Different purposes get unrelated keys, and no key reveals the seed.
 */
export function deriveKey(secret: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `weft:${purpose}`, 32));
}

/** HMAC-SHA256 under `key` of the parts, each prefixed with its length (no two lists of parts collide), base64url. */
export function macOf(key: Uint8Array, ...parts: string[]): string {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(`${Buffer.byteLength(p, 'utf8')}:`).update(p, 'utf8');
  return h.digest('base64url');
}

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });
}

export async function verifyPassword(hash: string | null, password: string): Promise<boolean> {
  if (!hash) return false;
  try {
    return await argon2Verify(hash, password);
  } catch {
    return false;
  }
}
