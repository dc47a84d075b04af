// Outbound requests to other servers: discovery, TLS (the system's CAs plus an optional trusted
// CA), the outbound IP deny list, X-Matrix request signing, JSON in and out.
// spec: server-server-api "Request Authentication", "TLS", "Resolving server names"
import { rootCertificates } from 'node:tls';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { signRequest } from '../../core/federation-auth.js';
import type { SigningKey } from '../../core/crypto.js';
import { IpPolicy } from '../net/ip-policy.js';
import { ServerDiscovery, parseWellKnown, systemResolveSrv, wellKnownCacheMs, type DiscoveryResolver, type WellKnownResult } from './discovery.js';
import { readAtMost } from '../net/read-limited.js';

/** A failed request to another server: a non-2xx answer, a network error, a denied address or a timeout. */
export class FederationRequestError extends Error {
  constructor(message: string, readonly status?: number, readonly errcode?: string, readonly body?: unknown) {
    super(message);
    this.name = 'FederationRequestError';
  }
}

export interface FederationClientOptions {
  serverName: string;
  signingKey: SigningKey;
  ipPolicy: IpPolicy;
  /** PEM of extra certificate authorities to trust, besides the system's. */
  trustedCaPem?: string;
  /** Default time a request may take, in ms. */
  timeoutMs?: number;
  /** Largest response body accepted when the call does not say, in bytes (RESPONSE_LIMITS.default). */
  maxResponseBytes?: number;
  /** Replaces SRV look-ups through node:dns (tests). */
  resolveSrv?: DiscoveryResolver['resolveSrv'];
  /** The port /.well-known/matrix/server is fetched from: 443 as the spec says; tests serve it elsewhere. */
  wellKnownPort?: number;
}

export interface RequestOptions {
  query?: Record<string, string | string[]>;
  body?: unknown;
  timeoutMs?: number;
  /** Send without an X-Matrix signature (key fetching: the key endpoints need none). */
  unsigned?: boolean;
  /**
   * Largest answer accepted, in bytes: what the call expects (RESPONSE_LIMITS). Without it, the
   * endpoints that answer with room state or auth chains (LARGE_ANSWER_PATH) may answer
   * RESPONSE_LIMITS.large, and every other the client's default. A longer answer fails the
   * request with a FederationRequestError, its connection closed, after reading no more than this.
   */
  maxResponseBytes?: number;
}

/**
 * How much of another server's answer is read (and held in memory) at most, in bytes: each call
 * says which it expects. Constants rather than configuration: they bound what a hostile server can
 * make us read, and a legitimate answer is far below each of them.
 */
export const RESPONSE_LIMITS = {
  /** Profiles, alias look-ups, server keys, event templates (make_*), one signed event (invite, send_leave), transaction results. */
  small: 1024 * 1024,
  /** Everything else: single events, keys/query and keys/claim for many users, room directory pages, space hierarchies. */
  default: 16 * 1024 * 1024,
  /** Room state and auth chains: /state, /state_ids, /send_join, /event_auth, /backfill, /get_missing_events of a large room. */
  large: 256 * 1024 * 1024,
} as const;

/** The endpoints whose answers are a room's state or history, RESPONSE_LIMITS.large unless the call says otherwise. */
const LARGE_ANSWER_PATH = /^\/_matrix\/federation\/v[12]\/(?:state|state_ids|send_join|event_auth|backfill|get_missing_events)\//;

const MAX_REDIRECTS = 5;

export class FederationClient {
  readonly discovery: ServerDiscovery;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(private readonly opts: FederationClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? RESPONSE_LIMITS.default;
    // Every connection passes the IP policy (after DNS, and on the connected socket); certificates
    // are always verified, against the system's CAs plus the configured one.
    const ca = opts.trustedCaPem !== undefined ? [...rootCertificates, opts.trustedCaPem] : undefined;
    this.agent = opts.ipPolicy.agent({
      connect: { ...(ca ? { ca } : {}), rejectUnauthorized: true },
      keepAliveTimeout: 30_000,
      connections: 16,
    });
    this.discovery = new ServerDiscovery({
      fetchWellKnown: (hostname) => this.fetchWellKnown(hostname),
      resolveSrv: opts.resolveSrv ?? systemResolveSrv,
    });
  }

  /** A signed JSON request to `destination`; throws FederationRequestError unless it answers 2xx with JSON. */
  async request<T = unknown>(destination: string, method: 'GET' | 'PUT' | 'POST', path: string, o: RequestOptions = {}): Promise<T> {
    if (destination === this.opts.serverName) throw new FederationRequestError(`refusing a federation request to ourselves (${destination})`);
    const uri = path + queryString(o.query);
    let resolved;
    try {
      resolved = await this.discovery.resolve(destination);
    } catch (err) {
      throw new FederationRequestError(`cannot resolve ${destination}: ${(err as Error).message}`);
    }
    const headers: Record<string, string> = { host: resolved.hostHeader, accept: 'application/json' };
    const content = o.body === undefined && method !== 'GET' ? {} : o.body;
    if (content !== undefined) headers['content-type'] = 'application/json';
    if (!o.unsigned) {
      const auth = signRequest({ method, uri, origin: this.opts.serverName, destination, ...(content !== undefined ? { content } : {}) }, this.opts.signingKey);
      if (!auth.ok) throw new FederationRequestError(`cannot sign the request: ${auth.reason}`);
      headers.authorization = auth.value;
    }
    const target = resolved.target.includes(':') ? `[${resolved.target}]` : resolved.target;
    const url = `https://${target}:${resolved.port}${uri}`;
    const res = await this.send(url, { method, headers, body: content !== undefined ? JSON.stringify(content) : undefined }, o.timeoutMs, destination);
    const limit = o.maxResponseBytes ?? (LARGE_ANSWER_PATH.test(path) ? RESPONSE_LIMITS.large : this.maxResponseBytes);
    const text = await this.readBody(res, destination, limit);
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const errcode = typeof (json as { errcode?: unknown } | undefined)?.errcode === 'string' ? (json as { errcode: string }).errcode : undefined;
      const error = typeof (json as { error?: unknown } | undefined)?.error === 'string' ? `: ${(json as { error: string }).error}` : '';
      throw new FederationRequestError(`${method} ${destination}${path} answered ${res.statusCode}${errcode ? ` ${errcode}` : ''}${error}`, res.statusCode, errcode, json);
    }
    if (typeof json !== 'object' || json === null) throw new FederationRequestError(`${method} ${destination}${path} answered something other than a JSON object`, res.statusCode);
    return json as T;
  }

  /**
   * A signed GET whose answer comes back unread, whatever its status (media downloads: the caller
   * streams or dumps the body).
   */
  async requestRaw(destination: string, path: string, o: Pick<RequestOptions, 'query' | 'timeoutMs'> = {}): Promise<Dispatcher.ResponseData> {
    if (destination === this.opts.serverName) throw new FederationRequestError(`refusing a federation request to ourselves (${destination})`);
    const uri = path + queryString(o.query);
    let resolved;
    try {
      resolved = await this.discovery.resolve(destination);
    } catch (err) {
      throw new FederationRequestError(`cannot resolve ${destination}: ${(err as Error).message}`);
    }
    const auth = signRequest({ method: 'GET', uri, origin: this.opts.serverName, destination }, this.opts.signingKey);
    if (!auth.ok) throw new FederationRequestError(`cannot sign the request: ${auth.reason}`);
    const target = resolved.target.includes(':') ? `[${resolved.target}]` : resolved.target;
    return this.send(`https://${target}:${resolved.port}${uri}`, { method: 'GET', headers: { host: resolved.hostHeader, authorization: auth.value } }, o.timeoutMs, destination);
  }

  /** An unsigned GET of a URL another server pointed to (a media `Location`), through the same IP policy and TLS checks. */
  async fetchUrl(url: string, timeoutMs?: number): Promise<Dispatcher.ResponseData> {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new FederationRequestError(`not an http(s) URL: ${url}`);
    return this.send(u.toString(), { method: 'GET', headers: {} }, timeoutMs, u.host);
  }

  private closed = false;

  /** Ends open connections; requests still running fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.destroy();
  }

  private async send(url: string, init: { method: string; headers: Record<string, string>; body?: string }, timeoutMs: number | undefined, destination: string): Promise<Dispatcher.ResponseData> {
    try {
      return await undiciRequest(url, {
        ...init, dispatcher: this.agent, signal: AbortSignal.timeout(timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { code?: string; cause?: Error & { code?: string } };
      const reason = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timed out' : `${e.code ?? e.cause?.code ?? ''} ${e.message}`.trim();
      throw new FederationRequestError(`request to ${destination} failed: ${reason}`);
    }
  }

  private async readBody(res: Dispatcher.ResponseData, destination: string, max: number): Promise<string> {
    const declared = Number(res.headers['content-length']);
    if (declared > max) {
      // Refused before reading: the connection goes with the unread answer (whose abort error is expected).
      res.body.on('error', () => undefined);
      res.body.destroy();
      throw new FederationRequestError(`the response from ${destination} is ${declared} bytes, more than the ${max} accepted`);
    }
    try {
      return await readAtMost(res.body, max);
    } catch (err) {
      throw new FederationRequestError(`reading the response from ${destination} failed: ${(err as Error).message}`);
    }
  }

  /** GET https://<hostname>/.well-known/matrix/server, following redirects; any failure is an error answer. */
  private async fetchWellKnown(hostname: string): Promise<WellKnownResult> {
    const port = this.opts.wellKnownPort !== undefined && this.opts.wellKnownPort !== 443 ? `:${this.opts.wellKnownPort}` : '';
    let url = `https://${hostname}${port}/.well-known/matrix/server`;
    try {
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const res = await undiciRequest(url, { method: 'GET', dispatcher: this.agent, signal: AbortSignal.timeout(10_000), headers: { accept: 'application/json' } });
        const location = res.headers.location;
        if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
          await res.body.dump();
          const next = new URL(location, url);
          if (next.protocol !== 'https:') break;
          url = next.toString();
          continue;
        }
        const text = res.statusCode === 200 ? await readAtMost(res.body, 64 * 1024) : (await res.body.dump(), '');
        const cacheControl = res.headers['cache-control'];
        let server: string | undefined;
        try { server = res.statusCode === 200 ? parseWellKnown(JSON.parse(text)) : undefined; } catch { server = undefined; }
        return { ...(server !== undefined ? { server } : {}), cacheMs: wellKnownCacheMs(typeof cacheControl === 'string' ? cacheControl : undefined, server !== undefined) };
      }
    } catch {
      // network errors, denied addresses, bad certificates: an error answer
    }
    return { cacheMs: wellKnownCacheMs(undefined, false) };
  }

}

/** `?a=1&b=2&b=3` with every part percent-encoded; '' without parameters. */
export function queryString(query: Record<string, string | string[]> | undefined): string {
  if (query === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    for (const value of Array.isArray(v) ? v : [v]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(value)}`);
  }
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}
