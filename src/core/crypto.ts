// ed25519 signing keys, JSON signatures, and the content and reference hashes of events.
// spec: appendices "Signing JSON", "Checking for a Signature", "Cryptographic Test Vectors";
// server-server-api "Retrieving server keys", "Calculating the content hash / reference hash".

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import type { Verdict } from './pdu.js';
import { reject } from './pdu.js';
import { CanonicalJsonError, decodeBase64, encodeBase64, encodeCanonicalJson } from './json.js';

/** Any JSON object, typed loosely so PDUs, RoomEvents and plain JsonObjects all fit. */
export type JsonRecord = Readonly<Record<string, unknown>>;

// ---------------------------------------------------------------------------------------------
// Key IDs. spec: server-server-api "Publishing Keys": the key ID is `<algorithm>:<version>` and
// the version must match [a-zA-Z0-9_].

export const ED25519 = 'ed25519';
const KEY_VERSION = /^[a-zA-Z0-9_]+$/;

export function isValidKeyVersion(version: string): boolean {
  return typeof version === 'string' && KEY_VERSION.test(version);
}

/** `ed25519:<version>` with a valid version. */
export function isValidSigningKeyId(keyId: string): boolean {
  return typeof keyId === 'string' && keyId.startsWith(`${ED25519}:`) && isValidKeyVersion(keyId.slice(ED25519.length + 1));
}

// ---------------------------------------------------------------------------------------------
// Signing keys. A Matrix signing key is a 32-byte ed25519 seed; Synapse stores it in its
// signing.key file as the line `ed25519 <version> <unpadded base64 seed>`.

export interface SigningKey {
  readonly algorithm: typeof ED25519;
  readonly version: string;
  /** `ed25519:<version>` */
  readonly keyId: string;
  readonly seed: Uint8Array;
  /** Raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** The public key as unpadded base64, as published in `verify_keys`. */
  readonly publicKeyBase64: string;
  readonly privateKeyObject: KeyObject;
}

// DER prefixes that wrap a raw 32-byte ed25519 key (RFC 8410): PKCS#8 for the private seed,
// SubjectPublicKeyInfo for the public key. Node's KeyObject APIs want one of these forms.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function signingKeyFromSeed(version: string, seed: Uint8Array): Verdict<SigningKey> {
  if (!isValidKeyVersion(version)) return reject('M_INVALID_PARAM', `invalid key version ${JSON.stringify(version)}`);
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    return reject('M_INVALID_PARAM', 'an ed25519 seed is exactly 32 bytes');
  }
  const privateKeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKeyObject).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length));
  return {
    ok: true,
    value: {
      algorithm: ED25519,
      version,
      keyId: `${ED25519}:${version}`,
      seed: new Uint8Array(seed),
      publicKey,
      publicKeyBase64: encodeBase64(publicKey),
      privateKeyObject,
    },
  };
}

/** A fresh key from 32 random bytes (the one impure helper here: key generation needs entropy). */
export function generateSigningKey(version: string): Verdict<SigningKey> {
  return signingKeyFromSeed(version, randomBytes(32));
}

/** Parse one `ed25519 <version> <base64 seed>` line of a Synapse-format signing key file. */
export function parseSigningKeyLine(line: string): Verdict<SigningKey> {
  const parts = line.trim().split(/\s+/);
  if (parts.length !== 3) return reject('M_INVALID_PARAM', 'expected "ed25519 <version> <base64 seed>"');
  const [algorithm, version, seedBase64] = parts as [string, string, string];
  if (algorithm !== ED25519) return reject('M_INVALID_PARAM', `unsupported key algorithm ${JSON.stringify(algorithm)}`);
  const seed = decodeBase64(seedBase64);
  if (seed === undefined) return reject('M_INVALID_PARAM', 'signing key seed is not base64');
  return signingKeyFromSeed(version, seed);
}

/** Parse a whole signing key file: one key per non-blank line. */
export function parseSigningKeyFile(text: string): Verdict<SigningKey[]> {
  const keys: SigningKey[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const key = parseSigningKeyLine(line);
    if (!key.ok) return key;
    keys.push(key.value);
  }
  if (keys.length === 0) return reject('M_INVALID_PARAM', 'signing key file holds no key');
  return { ok: true, value: keys };
}

export function formatSigningKeyLine(key: SigningKey): string {
  return `${key.algorithm} ${key.version} ${encodeBase64(key.seed)}`;
}

// ---------------------------------------------------------------------------------------------
// Verify keys. Creating a KeyObject costs more than the ed25519 check itself, so build one per
// raw public key (SPKI prefix + key) and keep it.

const MAX_CACHED_KEYS = 10_000;
const publicKeyCache = new Map<string, KeyObject>();

/** A KeyObject for a raw 32-byte ed25519 public key, given as bytes or unpadded base64. */
export function ed25519PublicKey(key: Uint8Array | string): KeyObject | undefined {
  const cacheKey = typeof key === 'string' ? key : encodeBase64(key);
  const cached = publicKeyCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const raw = typeof key === 'string' ? decodeBase64(key) : key;
  if (raw === undefined || raw.length !== 32) return undefined;
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return undefined; // not a point on the curve
  }
  if (publicKeyCache.size >= MAX_CACHED_KEYS) {
    publicKeyCache.delete(publicKeyCache.keys().next().value as string);
  }
  publicKeyCache.set(cacheKey, keyObject);
  return keyObject;
}

/** ed25519 signature (64 bytes) of `message`. */
export function signBytes(message: Uint8Array, key: SigningKey): Uint8Array {
  return cryptoSign(null, message, key.privateKeyObject);
}

/** Whether `signature` (raw bytes or unpadded base64) is a valid ed25519 signature of `message`. */
export function verifyBytes(message: Uint8Array, signature: Uint8Array | string, publicKey: KeyObject | Uint8Array | string): boolean {
  const sig = typeof signature === 'string' ? decodeBase64(signature) : signature;
  if (sig === undefined || sig.length !== 64) return false;
  const keyObject = isKeyObject(publicKey) ? publicKey : ed25519PublicKey(publicKey);
  if (keyObject === undefined) return false;
  try {
    return cryptoVerify(null, message, keyObject, sig);
  } catch {
    return false;
  }
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === 'object' && k !== null && !(k instanceof Uint8Array);
}

// ---------------------------------------------------------------------------------------------
// Signing JSON. spec: appendices "Signing Details"

export type Signatures = Record<string, Record<string, string>>;

/**
 * The bytes a JSON signature covers: canonical JSON of the object without `signatures` and
 * `unsigned`. Throws CanonicalJsonError on non-JSON input (callers below convert it).
 */
export function signedBytes(object: JsonRecord): Buffer {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = object;
  return Buffer.from(encodeCanonicalJson(rest), 'utf8');
}

/**
 * Return a copy of `object` signed by `entity` with `key`: existing signatures (other keys, other
 * entities) and `unsigned` are kept; the new signature goes under signatures[entity][key.keyId].
 */
export function signJson<T extends JsonRecord>(object: T, entity: string, key: SigningKey): Verdict<T & { signatures: Signatures }> {
  let bytes: Buffer;
  try {
    bytes = signedBytes(object);
  } catch (e) {
    if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
    throw e;
  }
  const existing = isSignatures(object.signatures) ? object.signatures : {};
  const signatures: Signatures = { ...existing, [entity]: { ...(existing[entity] ?? {}), [key.keyId]: encodeBase64(signBytes(bytes, key)) } };
  return accept({ ...object, signatures });
}

/** A success Verdict for a generic value (TypeScript cannot narrow Verdict<T> for unresolved T). */
function accept<T>(value: T): Verdict<T> {
  return { ok: true, value } as unknown as Verdict<T>;
}

/** A verify key as known to the key store: the raw key plus what is known about its lifetime. */
export interface VerifyKey {
  /** Raw 32-byte public key or unpadded base64. */
  key: Uint8Array | string;
  /** `valid_until_ts` of a current key (enforced from room version 5). */
  validUntilTs?: number;
  /** `expired_ts` of an old verify key. */
  expiredTs?: number;
}

/** Key lookup: the verify key `keyId` of `entity`, if known. Synchronous: core does no I/O. */
export type KeyLookup = (entity: string, keyId: string) => VerifyKey | KeyObject | undefined;

/** Which keys count when checking a signature made at `ts` (an event's origin_server_ts). */
export interface KeyValidity {
  ts?: number;
  /** Reject keys whose validUntilTs is before ts (room versions 5+). */
  enforceValidUntil?: boolean;
}

/**
 * "Checking for a Signature" (spec: appendices): `entity` must have signed; signatures under
 * algorithms other than ed25519, and unknown or expired keys, are skipped; every remaining
 * signature must verify, and at least one must remain.
 * `bytes` may be passed when the caller already holds the canonical signed bytes.
 */
export function verifyJsonSignature(
  object: JsonRecord,
  entity: string,
  lookup: KeyLookup,
  validity: KeyValidity = {},
  bytes?: Uint8Array,
): Verdict {
  const signatures = object.signatures;
  if (!isSignatures(signatures)) return reject('M_UNAUTHORIZED', 'object has no valid signatures');
  const entitySignatures = signatures[entity];
  if (entitySignatures === undefined) return reject('M_UNAUTHORIZED', `not signed by ${entity}`);
  let verified = 0;
  let message = bytes;
  for (const keyId of Object.keys(entitySignatures)) {
    if (!keyId.startsWith(`${ED25519}:`)) continue; // algorithm we don't understand
    const known = lookup(entity, keyId);
    if (known === undefined) continue;
    let keyObject: KeyObject | undefined;
    if (isVerifyKey(known)) {
      const ts = validity.ts;
      if (ts !== undefined && known.expiredTs !== undefined && known.expiredTs < ts) continue;
      if (ts !== undefined && validity.enforceValidUntil && known.validUntilTs !== undefined && known.validUntilTs < ts) continue;
      keyObject = ed25519PublicKey(known.key);
      if (keyObject === undefined) continue; // an unusable key is as good as unknown
    } else {
      keyObject = known;
    }
    if (message === undefined) {
      try {
        message = signedBytes(object);
      } catch (e) {
        if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
        throw e;
      }
    }
    if (!verifyBytes(message, entitySignatures[keyId]!, keyObject)) {
      return reject('M_UNAUTHORIZED', `invalid signature from ${entity} with key ${keyId}`);
    }
    verified++;
  }
  if (verified === 0) return reject('M_UNAUTHORIZED', `no known unexpired key of ${entity} signed this`);
  return { ok: true };
}

function isVerifyKey(k: VerifyKey | KeyObject): k is VerifyKey {
  return typeof (k as VerifyKey).key === 'string' || (k as VerifyKey).key instanceof Uint8Array;
}

/** `signatures` shaped as { entity: { keyId: string } }. */
export function isSignatures(value: unknown): value is Signatures {
  if (!isPlainObject(value)) return false;
  for (const perEntity of Object.values(value)) {
    if (!isPlainObject(perEntity)) return false;
    for (const sig of Object.values(perEntity)) if (typeof sig !== 'string') return false;
  }
  return true;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Event hashes. spec: server-server-api "Calculating the content hash for an event",
// "Calculating the reference hash for an event".

export function sha256(bytes: Uint8Array | string): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/**
 * The content hash: sha256 of the canonical JSON of the event without `unsigned`, `signatures`
 * and `hashes`. Covers the unredacted event. `event` is in federation format (as sent).
 */
export function computeContentHash(event: JsonRecord): Buffer {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = event;
  return sha256(encodeCanonicalJson(rest));
}

/**
 * The reference hash of an event that has already been through the redaction algorithm (see
 * `referenceHash` in events.ts, which redacts first): sha256 of its canonical JSON without
 * `signatures` and `unsigned`.
 */
export function computeReferenceHashOfRedacted(redacted: JsonRecord): Buffer {
  return sha256(signedBytes(redacted));
}
