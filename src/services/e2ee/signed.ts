// Small checks shared by the E2EE services: JSON shapes, key IDs, and ed25519 signatures of
// signed JSON made by one named key.
// spec: appendices "Signing JSON", "Checking for a Signature"; modules/end_to_end_encryption "Key algorithms"
import { CanonicalJsonError, canonicalJson, decodeBase64 } from '../../core/json.js';
import { signedBytes, verifyBytes } from '../../core/crypto.js';
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { MatrixError, badJson, invalidParam } from '../../errors.js';

export const ED25519 = 'ed25519';
/** Key IDs, algorithms and device IDs end up as database keys: bounded, and no NUL (PostgreSQL text cannot hold it). */
const MAX_ID_LENGTH = 255;

export const invalidSignature = (msg: string) => new MatrixError('M_INVALID_SIGNATURE', msg, 400);

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isIdentifier(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_ID_LENGTH && !s.includes('\u0000');
}

/** `<algorithm>:<key_id>` with both parts non-empty; undefined when it does not parse. */
export function parseKeyId(name: string): { algorithm: string; keyId: string } | undefined {
  const colon = name.indexOf(':');
  if (colon <= 0 || colon === name.length - 1) return undefined;
  const algorithm = name.slice(0, colon);
  const keyId = name.slice(colon + 1);
  if (!isIdentifier(algorithm) || !isIdentifier(keyId)) return undefined;
  return { algorithm, keyId };
}

/** Whether `s` is the unpadded base64 of a 32-byte key (ed25519 and curve25519 alike). */
export function isBase64Key(s: unknown): s is string {
  if (typeof s !== 'string' || s.endsWith('=')) return false;
  return decodeBase64(s)?.length === 32;
}

/** Canonical JSON of an uploaded object without `unsigned`, which is never signed nor stored. */
export function canonicalKeyJson(object: JsonObject, what: string): string {
  const { unsigned: _unsigned, ...rest } = object;
  const c = canonicalJson(rest);
  if (!c.ok) throw badJson(`${what} is not valid JSON: ${c.reason}`);
  return c.value;
}

/** The signature `signatures[userId][keyId]`, if the object carries one. */
export function signatureBy(object: JsonObject, userId: string, keyId: string): string | undefined {
  const sigs = object.signatures;
  if (!isObject(sigs)) return undefined;
  const mine = sigs[userId];
  if (!isObject(mine)) return undefined;
  const s = mine[keyId];
  return typeof s === 'string' ? s : undefined;
}

/** Whether `signature` is a valid ed25519 signature of `object` (as signed JSON) by `publicKey`. */
export function verifySignature(object: JsonObject, signature: string, publicKey: string): boolean {
  let bytes: Buffer;
  try {
    bytes = signedBytes(object);
  } catch (e) {
    if (e instanceof CanonicalJsonError || e instanceof RangeError) return false;
    throw e;
  }
  return verifyBytes(bytes, signature, publicKey);
}

/** Whether two signed objects are the same apart from their signatures (and `unsigned`). */
export function sameSignedContent(a: JsonObject, b: JsonObject): boolean {
  try {
    return signedBytes(a).equals(signedBytes(b));
  } catch (e) {
    if (e instanceof CanonicalJsonError || e instanceof RangeError) return false;
    throw e;
  }
}

/** An object of strings (such as `keys`), else M_BAD_JSON naming `field`. */
export function stringMap(v: JsonValue | undefined, field: string): Record<string, string> {
  if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) throw badJson(`\`${field}\` must be an object of strings`);
  return v as Record<string, string>;
}

export function checkSignaturesShape(v: JsonValue | undefined, field: string): void {
  if (v === undefined) return;
  if (!isObject(v) || !Object.values(v).every((m) => isObject(m) && Object.values(m).every((s) => typeof s === 'string'))) {
    throw badJson(`\`${field}\` must map user IDs to objects of signatures`);
  }
}

export function checkIdentifier(s: string, what: string): string {
  if (!isIdentifier(s)) throw invalidParam(`${what} must be 1 to ${MAX_ID_LENGTH} characters without NUL`);
  return s;
}
