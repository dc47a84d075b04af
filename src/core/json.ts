// Canonical JSON and unpadded base64.
// spec: appendices "Canonical JSON", "Unpadded Base64", "URL-safe unpadded Base64".

import type { Rejection, Verdict } from './pdu.js';
import { reject } from './pdu.js';

/** The canonical range of integers: [-(2^53)+1, (2^53)-1]. spec: appendices "Canonical JSON" */
export const MAX_CANONICAL_INTEGER = Number.MAX_SAFE_INTEGER;
export const MIN_CANONICAL_INTEGER = Number.MIN_SAFE_INTEGER;

export interface CanonicalJsonOptions {
  /**
   * Enforce the number rules (integers in the canonical range only). Room versions 6+ enforce
   * them (`roomVersion.strictCanonicalJson`); older rooms hold events that break them and must
   * still hash the same way the servers that created them did.
   */
  strict?: boolean;
}

/** Thrown by `encodeCanonicalJson` only; the Verdict-returning API never lets it escape. */
export class CanonicalJsonError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/**
 * Canonical JSON of `value`, or a typed rejection naming the first violation: a value that is not
 * JSON (undefined, function, symbol, bigint, non-finite number, non-plain object, lone surrogate
 * in a string) or, when `strict`, a float or an integer outside the canonical range.
 */
export function canonicalJson(value: unknown, options: CanonicalJsonOptions = {}): Verdict<string> {
  try {
    return { ok: true, value: encodeCanonicalJson(value, options) };
  } catch (e) {
    return asRejection(e);
  }
}

/** UTF-8 bytes of the canonical JSON of `value`. */
export function canonicalJsonBytes(value: unknown, options: CanonicalJsonOptions = {}): Verdict<Buffer> {
  const s = canonicalJson(value, options);
  return s.ok ? { ok: true, value: Buffer.from(s.value, 'utf8') } : s;
}

/**
 * Canonical JSON of a value already known to be valid JSON (for example an event that passed
 * `parsePdu`). Throws `CanonicalJsonError` otherwise; code handling untrusted input should call
 * `canonicalJson` instead.
 */
export function encodeCanonicalJson(value: unknown, options: CanonicalJsonOptions = {}): string {
  return encodeValue(value, options.strict === true, 0);
}

function asRejection(e: unknown): Rejection {
  if (e instanceof CanonicalJsonError) return reject(e.code, e.message);
  // A RangeError here is the engine's call stack running out on absurdly deep input.
  if (e instanceof RangeError) return reject('M_BAD_JSON', 'JSON nesting is too deep');
  throw e;
}

// Deep enough for any real event, shallow enough that recursion cannot blow the stack.
const MAX_DEPTH = 512;

function encodeValue(value: unknown, strict: boolean, depth: number): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value);
    case 'number':
      return encodeNumber(value, strict);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_DEPTH) throw new CanonicalJsonError('M_BAD_JSON', 'JSON nesting is too deep');
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += encodeValue(value[i], strict, depth + 1);
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalJsonError('M_BAD_JSON', 'value is not a plain JSON object');
      }
      const obj = value as Record<string, unknown>;
      const keys = sortKeysByCodePoint(Object.keys(obj));
      let out = '{';
      let first = true;
      for (const key of keys) {
        if (!first) out += ',';
        first = false;
        // An undefined member is refused (encodeValue throws) rather than dropped as
        // JSON.stringify would: a signature must cover exactly what the caller passed.
        out += encodeString(key) + ':' + encodeValue(obj[key], strict, depth + 1);
      }
      return out + '}';
    }
    default:
      throw new CanonicalJsonError('M_BAD_JSON', `${typeof value} is not a JSON value`);
  }
}

// Lone surrogates cannot be encoded as UTF-8. spec: appendices "Canonical JSON" grammar, `unescaped`
const LONE_SURROGATE = /\p{Cs}/u;

function encodeString(s: string): string {
  if (LONE_SURROGATE.test(s)) {
    throw new CanonicalJsonError('M_BAD_JSON', 'string contains a lone UTF-16 surrogate');
  }
  // JSON.stringify escapes exactly what the canonical grammar requires: `"`, `\`, the short
  // escapes \b \t \n \f \r, and other C0 controls as lowercase \u00XX; everything else (DEL,
  // non-ASCII, U+2028/9) is written raw. With lone surrogates excluded above it is exact.
  return JSON.stringify(s);
}

function encodeNumber(n: number, strict: boolean): string {
  if (!Number.isFinite(n)) throw new CanonicalJsonError('M_BAD_JSON', `${n} is not a JSON number`);
  if (Number.isInteger(n)) {
    if (strict && (n > MAX_CANONICAL_INTEGER || n < MIN_CANONICAL_INTEGER)) {
      throw new CanonicalJsonError('M_BAD_JSON', `integer ${n} is outside the canonical JSON range`);
    }
    if (Object.is(n, -0)) return '0'; // spec: appendices "Canonical JSON": -0 MUST NOT appear
    // Large integers in pre-v6 rooms: write the exact integer the double holds, never an
    // exponent or JS's shortest-round-trip rounding (2^60 is 1152921504606846976, not ...7000).
    return n <= MAX_CANONICAL_INTEGER && n >= MIN_CANONICAL_INTEGER ? String(n) : BigInt(n).toString();
  }
  if (strict) throw new CanonicalJsonError('M_BAD_JSON', `float ${n} is not allowed in canonical JSON`);
  return pythonFloatRepr(n);
}

/**
 * Floats only occur in pre-v6 rooms, whose events were hashed by Python servers (Synapse's
 * `json.dumps`), so write them as Python's `repr` does: shortest round-trip digits (same as JS),
 * but scientific notation below 1e-4 with a two-digit exponent (`1e-05`, where JS writes 0.00001).
 */
function pythonFloatRepr(n: number): string {
  const exp = n.toExponential(); // shortest round-trip digits, e.g. "1.5e-7"
  const e = exp.indexOf('e');
  const exponent = Number(exp.slice(e + 1));
  if (exponent >= -4) return String(n); // |n| < 1e16 here, so JS writes it in fixed notation too
  const sign = exponent < 0 ? '-' : '+';
  const digits = String(Math.abs(exponent)).padStart(2, '0');
  return `${exp.slice(0, e)}e${sign}${digits}`;
}

/**
 * Sort keys by Unicode code point. JS's default sort compares UTF-16 code units, which puts
 * astral characters (surrogate pairs, 0xD800–0xDFFF) before U+E000–U+FFFF; code point order
 * puts them after.
 */
export function sortKeysByCodePoint(keys: string[]): string[] {
  // The two orders only differ for keys with units >= U+D800; the native sort is much faster.
  for (const k of keys) if (HIGH_UNIT.test(k)) return keys.sort(compareCodePoints);
  return keys.sort();
}

const HIGH_UNIT = /[\uD800-\uFFFF]/;

export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Only the first differing unit matters; both strings agree before it, so both units are
      // at the same position within any surrogate pair. Shift surrogates above U+E000–U+FFFF.
      if (x >= 0xd800 && y >= 0xd800) return codePointRank(x) - codePointRank(y);
      return x - y;
    }
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/**
 * Check raw JSON text for numbers a strict room version forbids in a way that parsing hides:
 * `1.0` and `1e3` both parse to integers, but "represented without exponents or decimal places"
 * rejects them. spec: appendices "Canonical JSON"; rooms/v6 "Canonical JSON"
 */
export function checkStrictNumberSyntax(text: string): Verdict {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let integral = true;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x2e /* . */ || d === 0x65 /* e */ || d === 0x45 /* E */) integral = false;
        else if (!(d >= 0x30 && d <= 0x39) && d !== 0x2b /* + */ && d !== 0x2d /* - */) break;
      }
      if (!integral) {
        return reject('M_BAD_JSON', `number ${text.slice(i, j)} is not an integer in canonical form`);
      }
      i = j - 1;
    }
  }
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Unpadded base64. spec: appendices "Unpadded Base64"

/** Standard alphabet, no `=` padding. */
export function encodeBase64(bytes: Uint8Array): string {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  return s.slice(0, end);
}

/** URL-safe alphabet (`-` and `_`), no padding. spec: appendices "URL-safe unpadded Base64" */
export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

const BASE64 = /^[A-Za-z0-9+/]*$/;
const BASE64_URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decode standard base64, padded or not ("SHOULD accept input with or without padding").
 * Returns undefined for anything that is not base64 (Buffer.from alone skips bad characters).
 * Non-zero trailing bits are accepted, as Python's decoder does: the spec's own test seed has them.
 */
export function decodeBase64(s: string): Buffer | undefined {
  return decodeWith(s, BASE64, 'base64');
}

/** Decode URL-safe base64, padded or not. */
export function decodeBase64Url(s: string): Buffer | undefined {
  return decodeWith(s, BASE64_URL, 'base64url');
}

function decodeWith(s: string, alphabet: RegExp, encoding: 'base64' | 'base64url'): Buffer | undefined {
  if (typeof s !== 'string') return undefined;
  let body = s;
  if (body.endsWith('=')) {
    if (body.length % 4 !== 0) return undefined;
    body = body.endsWith('==') ? body.slice(0, -2) : body.slice(0, -1);
  }
  if (body.length % 4 === 1 || !alphabet.test(body)) return undefined;
  return Buffer.from(body, encoding);
}
