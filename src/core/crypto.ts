// ed25519 signing keys, JSON signatures, and the content and reference hashes of events.
// spec: appendices "Signing JSON", "Checking for a Signature", "Cryptographic Test Vectors";
// server-server-api "Retrieving server keys", "Calculating the content hash / reference hash".
//
// ed25519 signing and verification go through libsodium (sodium-native): over twice as many
// verifications per second as node:crypto's OpenSSL path on our servers (docs/dependencies.md),
// and the same checks Synapse makes (PyNaCl is libsodium too). node:crypto still does sha256,
// randomness and the KeyObjects that some callers hold.

import { createHash, createPrivateKey, createPublicKey, KeyObject, randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
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
  /** The private key for node:crypto callers; signing here uses libsodium's secret key. */
  readonly privateKeyObject: KeyObject;
}

// libsodium's 64-byte secret key (seed || public key) for each SigningKey made here. Keyed by the
// object; a SigningKey copied or built elsewhere gets its secret key derived from its seed.
const sodiumSecretKeys = new WeakMap<SigningKey, Buffer>();

function sodiumKeyPair(seed: Uint8Array): { publicKey: Buffer; secretKey: Buffer } {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, asBuffer(seed));
  return { publicKey, secretKey };
}

function sodiumSecretKey(key: SigningKey): Buffer {
  let secretKey = sodiumSecretKeys.get(key);
  if (secretKey === undefined) {
    secretKey = sodiumKeyPair(key.seed).secretKey;
    sodiumSecretKeys.set(key, secretKey);
  }
  return secretKey;
}

/** A Buffer view of the same bytes (no copy): sodium-native's typings want Buffers. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  const pair = sodiumKeyPair(seed);
  const publicKey = new Uint8Array(pair.publicKey);
  const key: SigningKey = {
    algorithm: ED25519,
    version,
    keyId: `${ED25519}:${version}`,
    seed: new Uint8Array(seed),
    publicKey,
    publicKeyBase64: encodeBase64(publicKey),
    privateKeyObject,
  };
  sodiumSecretKeys.set(key, pair.secretKey);
  return { ok: true, value: key };
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
// Verify keys. libsodium takes the raw 32-byte key, so the verify path caches raw key Buffers by
// their base64 (the form key stores and lookups hand out). Keys held as KeyObjects (from
// ed25519PublicKey or a KeyLookup) are turned into raw keys once each.

const MAX_CACHED_KEYS = 10_000;
const rawKeyCache = new Map<string, Buffer>();
const keyObjectCache = new Map<string, KeyObject>();
const rawKeyOfKeyObject = new WeakMap<KeyObject, Buffer | null>();

function remember<V>(cache: Map<string, V>, key: string, value: V): void {
  if (cache.size >= MAX_CACHED_KEYS) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
}

/** The raw 32-byte ed25519 public key from bytes or unpadded base64; undefined if not 32 bytes. */
function rawPublicKey(key: Uint8Array | string): Buffer | undefined {
  if (typeof key !== 'string') return key instanceof Uint8Array && key.length === 32 ? asBuffer(key) : undefined;
  const cached = rawKeyCache.get(key);
  if (cached !== undefined) return cached;
  const raw = decodeBase64(key);
  if (raw === undefined || raw.length !== 32) return undefined;
  remember(rawKeyCache, key, raw);
  return raw;
}

/** The raw public key of an ed25519 KeyObject (public or private); undefined for any other key. */
function rawPublicKeyOf(keyObject: KeyObject): Buffer | undefined {
  let raw = rawKeyOfKeyObject.get(keyObject);
  if (raw === undefined) {
    raw = null;
    if (keyObject.asymmetricKeyType === 'ed25519') {
      const x = keyObject.export({ format: 'jwk' }).x;
      const bytes = typeof x === 'string' ? Buffer.from(x, 'base64url') : undefined;
      if (bytes !== undefined && bytes.length === 32) raw = bytes;
    }
    rawKeyOfKeyObject.set(keyObject, raw);
  }
  return raw ?? undefined;
}

/** A KeyObject for a raw 32-byte ed25519 public key, given as bytes or unpadded base64. */
export function ed25519PublicKey(key: Uint8Array | string): KeyObject | undefined {
  const cacheKey = typeof key === 'string' ? key : encodeBase64(key);
  const cached = keyObjectCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const raw = rawPublicKey(key);
  if (raw === undefined) return undefined;
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
  remember(keyObjectCache, cacheKey, keyObject);
  rawKeyOfKeyObject.set(keyObject, Buffer.from(raw));
  return keyObject;
}

/** ed25519 signature (64 bytes) of `message`. */
export function signBytes(message: Uint8Array, key: SigningKey): Uint8Array {
  const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
  sodium.crypto_sign_detached(signature, asBuffer(message), sodiumSecretKey(key));
  return signature;
}

/** Whether `signature` (raw bytes or unpadded base64) is a valid ed25519 signature of `message`. */
export function verifyBytes(message: Uint8Array, signature: Uint8Array | string, publicKey: KeyObject | Uint8Array | string): boolean {
  // libsodium throws on buffers of the wrong size, so every length is checked first.
  const sig = typeof signature === 'string' ? decodeBase64(signature) : signature;
  if (!(sig instanceof Uint8Array) || sig.length !== sodium.crypto_sign_BYTES) return false;
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message; // as node:crypto took it
  if (!(bytes instanceof Uint8Array)) return false;
  const raw = publicKey instanceof KeyObject ? rawPublicKeyOf(publicKey) : rawPublicKey(publicKey);
  if (raw === undefined) return false;
  try {
    return sodium.crypto_sign_verify_detached(asBuffer(sig), asBuffer(bytes), raw);
  } catch {
    return false;
  }
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
    let publicKey: Buffer | KeyObject | undefined;
    if (isVerifyKey(known)) {
      const ts = validity.ts;
      if (ts !== undefined && known.expiredTs !== undefined && known.expiredTs < ts) continue;
      if (ts !== undefined && validity.enforceValidUntil && known.validUntilTs !== undefined && known.validUntilTs < ts) continue;
      publicKey = rawPublicKey(known.key);
      if (publicKey === undefined) continue; // an unusable key is as good as unknown
    } else {
      publicKey = known;
    }
    if (message === undefined) {
      try {
        message = signedBytes(object);
      } catch (e) {
        if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
        throw e;
      }
    }
    if (!verifyBytes(message, entitySignatures[keyId]!, publicKey)) {
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
