// Request authentication between servers: the signed JSON of a request and the `X-Matrix`
// Authorization header that carries its signature.
// spec: server-server-api "Request Authentication"
import { signJson, verifyJsonSignature, isValidSigningKeyId, type KeyLookup, type SigningKey } from './crypto.js';
import { isValidServerName } from './identifiers.js';
import type { Verdict } from './pdu.js';
import { reject } from './pdu.js';

/** What a request signature covers. `uri` is the path with its query string, exactly as sent. */
export interface FederationRequest {
  method: string;
  uri: string;
  origin: string;
  destination: string;
  /** The JSON-parsed body; absent for requests without one. */
  content?: unknown;
}

/** The parameters of an `X-Matrix` Authorization header. */
export interface XMatrixAuth {
  origin: string;
  /** Optional for compatibility with servers older than v1.3 (spec: recipients should accept it missing). */
  destination?: string;
  key: string;
  sig: string;
}

function requestJson(req: FederationRequest): Record<string, unknown> {
  const json: Record<string, unknown> = { method: req.method, uri: req.uri, origin: req.origin, destination: req.destination };
  if (req.content !== undefined) json.content = req.content;
  return json;
}

/** Signs the request with `key` and returns the Authorization header value. */
export function signRequest(req: FederationRequest, key: SigningKey): Verdict<string> {
  const signed = signJson(requestJson(req), req.origin, key);
  if (!signed.ok) return signed;
  const sig = signed.value.signatures[req.origin]![key.keyId]!;
  return { ok: true, value: formatXMatrix({ origin: req.origin, destination: req.destination, key: key.keyId, sig }) };
}

/** Whether the header's signature is a valid signature of `req` by the origin's key. */
export function verifyRequest(req: FederationRequest, auth: XMatrixAuth, lookup: KeyLookup): Verdict {
  const json = { ...requestJson(req), signatures: { [auth.origin]: { [auth.key]: auth.sig } } };
  return verifyJsonSignature(json, auth.origin, lookup);
}

// spec: "For compatibility with older servers, the sender should only include one space after
// X-Matrix, only use lower-case names, avoid using backslashes in parameter values, and avoid
// including whitespace around the commas". Server names, key IDs and base64 never need escaping,
// but quote and backslash are escaped anyway so the header can never be malformed.
export function formatXMatrix(auth: XMatrixAuth): string {
  const q = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`;
  const params = [`origin=${q(auth.origin)}`];
  if (auth.destination !== undefined) params.push(`destination=${q(auth.destination)}`);
  params.push(`key=${q(auth.key)}`, `sig=${q(auth.sig)}`);
  return `X-Matrix ${params.join(',')}`;
}

// RFC 9110 token characters, plus ':' which the spec asks recipients to accept unquoted.
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:]/;

/**
 * Parses an `X-Matrix` Authorization header (RFC 9110 section 11.4 auth-param syntax: names case
 * insensitive, values tokens or quoted strings with backslash escapes, optional spaces and tabs
 * around commas; unknown parameters ignored). Rejects a header without origin, key or sig.
 */
export function parseXMatrix(header: string): Verdict<XMatrixAuth> {
  const m = /^X-Matrix +/i.exec(header);
  if (!m) return reject('M_UNAUTHORIZED', 'Authorization header is not X-Matrix');
  const text = header.slice(m[0].length);
  const params = new Map<string, string>();
  let i = 0;
  const skipWs = () => { while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++; };
  while (i < text.length) {
    skipWs();
    if (text[i] === ',') { i++; continue; } // empty list elements are allowed by RFC 9110 #rule
    let name = '';
    while (i < text.length && TOKEN_CHAR.test(text[i]!) && text[i] !== ':') name += text[i++];
    if (name === '') return reject('M_UNAUTHORIZED', 'malformed X-Matrix header: expected a parameter name');
    skipWs();
    if (text[i] !== '=') return reject('M_UNAUTHORIZED', `malformed X-Matrix header: expected "=" after ${name}`);
    i++;
    skipWs();
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i++]!;
        if (c === '\\') {
          if (i >= text.length) break;
          value += text[i++];
        } else if (c === '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return reject('M_UNAUTHORIZED', 'malformed X-Matrix header: unterminated quoted value');
    } else {
      while (i < text.length && TOKEN_CHAR.test(text[i]!)) value += text[i++];
      if (value === '') return reject('M_UNAUTHORIZED', `malformed X-Matrix header: empty value for ${name}`);
    }
    skipWs();
    if (i < text.length && text[i] !== ',') return reject('M_UNAUTHORIZED', 'malformed X-Matrix header: expected ","');
    const key = name.toLowerCase();
    if (params.has(key)) return reject('M_UNAUTHORIZED', `malformed X-Matrix header: ${key} given twice`);
    params.set(key, value);
  }
  const origin = params.get('origin');
  const key = params.get('key');
  const sig = params.get('sig');
  const destination = params.get('destination');
  if (origin === undefined || key === undefined || sig === undefined) {
    return reject('M_UNAUTHORIZED', 'X-Matrix header needs origin, key and sig');
  }
  if (!isValidServerName(origin)) return reject('M_UNAUTHORIZED', 'X-Matrix origin is not a valid server name');
  if (destination !== undefined && !isValidServerName(destination)) return reject('M_UNAUTHORIZED', 'X-Matrix destination is not a valid server name');
  if (!isValidSigningKeyId(key)) return reject('M_UNAUTHORIZED', 'X-Matrix key is not an ed25519 key ID');
  return { ok: true, value: { origin, key, sig, ...(destination !== undefined ? { destination } : {}) } };
}
