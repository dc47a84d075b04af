// Server discovery: where to connect for a server name, and which Host header (and so which TLS
// certificate name) to use. Results are cached; the DNS and /.well-known look-ups are injected so
// that the resolution rules can be tested without DNS.
// spec: server-server-api "Resolving server names"
import { isIP } from 'node:net';
import { promises as dns } from 'node:dns';

export const DEFAULT_FEDERATION_PORT = 8448;
/** spec: "The recommended sensible default is 24 hours ... a maximum cache time ... 48 hours". */
export const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3600_000;
export const WELL_KNOWN_MAX_CACHE_MS = 48 * 3600_000;
/** spec: "Errors are recommended to be cached for up to an hour". */
export const WELL_KNOWN_ERROR_CACHE_MS = 3600_000;
/** How long an SRV or plain-DNS answer is kept (node:dns does not give its TTL). */
const SRV_CACHE_MS = 3600_000;

/** Where to send requests for a server name. */
export interface ResolvedServer {
  /** The host to connect to: an IP literal (IPv6 without brackets) or a name resolved with A/AAAA. */
  target: string;
  port: number;
  /** The Host header, whose host part is also the name the TLS certificate must be valid for. */
  hostHeader: string;
}

export interface WellKnownResult {
  /** `m.server` when the response was valid; undefined for an error or an invalid response. */
  server?: string;
  /** How long to cache this answer (from Cache-Control, capped), in ms. */
  cacheMs: number;
}

export interface DiscoveryResolver {
  /** GET https://<hostname>/.well-known/matrix/server (redirects followed); never throws. */
  fetchWellKnown(hostname: string): Promise<WellKnownResult>;
  /** SRV records of `name`, [] when there are none. */
  resolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>>;
}

export interface HostPort { host: string; port?: number; ipLiteral: boolean }

/** Splits `host[:port]` (IPv6 in brackets); undefined for a malformed name. */
export function splitHostPort(name: string): HostPort | undefined {
  let host: string;
  let portText: string | undefined;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return undefined;
    host = name.slice(1, close);
    const rest = name.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = name.lastIndexOf(':');
    host = colon >= 0 ? name.slice(0, colon) : name;
    portText = colon >= 0 ? name.slice(colon + 1) : undefined;
    // A hostname or IPv4 literal (spec: appendices "Server name"); a bare IPv6 literal needs brackets.
    if (!/^[A-Za-z0-9.-]{1,255}$/.test(host)) return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { host, ...(port !== undefined ? { port } : {}), ipLiteral: isIP(host) !== 0 };
}

/** The lifetime of a /.well-known answer from its Cache-Control header. */
export function wellKnownCacheMs(cacheControl: string | undefined, ok: boolean): number {
  if (!ok) return WELL_KNOWN_ERROR_CACHE_MS;
  if (cacheControl !== undefined) {
    if (/(?:^|,)\s*(?:no-store|no-cache)\b/i.test(cacheControl)) return 0;
    const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
    if (m) return Math.min(Number(m[1]) * 1000, WELL_KNOWN_MAX_CACHE_MS);
  }
  return WELL_KNOWN_DEFAULT_CACHE_MS;
}

/** The `m.server` of a /.well-known/matrix/server body, if valid. */
export function parseWellKnown(body: unknown): string | undefined {
  const server = (body as { 'm.server'?: unknown } | null)?.['m.server'];
  return typeof server === 'string' && splitHostPort(server) !== undefined ? server : undefined;
}

export class ServerDiscovery {
  private readonly cache = new Map<string, { result: ResolvedServer; expires: number }>();
  private readonly now: () => number;

  constructor(private readonly resolver: DiscoveryResolver, now?: () => number) {
    this.now = now ?? Date.now;
  }

  async resolve(serverName: string): Promise<ResolvedServer> {
    const cached = this.cache.get(serverName);
    if (cached !== undefined && cached.expires > this.now()) return cached.result;
    const { result, cacheMs } = await this.resolveUncached(serverName);
    if (cacheMs > 0) this.cache.set(serverName, { result, expires: this.now() + cacheMs });
    return result;
  }

  /** Forgets a cached resolution (after a connection failure, say). */
  forget(serverName: string): void {
    this.cache.delete(serverName);
  }

  private async resolveUncached(serverName: string): Promise<{ result: ResolvedServer; cacheMs: number }> {
    const name = splitHostPort(serverName);
    if (name === undefined) throw new Error(`invalid server name ${JSON.stringify(serverName)}`);
    const forever = Number.POSITIVE_INFINITY;
    // Steps 1 and 2: an IP literal, or an explicit port: connect there, Host is the server name.
    if (name.ipLiteral || name.port !== undefined) {
      return { result: { target: name.host, port: name.port ?? DEFAULT_FEDERATION_PORT, hostHeader: serverName }, cacheMs: forever };
    }
    // Step 3: /.well-known delegation.
    const wk = await this.resolver.fetchWellKnown(name.host);
    if (wk.server !== undefined) {
      const delegated = splitHostPort(wk.server)!;
      if (delegated.ipLiteral || delegated.port !== undefined) {
        // 3.1 and 3.2: Host is the delegated name, with its port when one was given.
        return { result: { target: delegated.host, port: delegated.port ?? DEFAULT_FEDERATION_PORT, hostHeader: wk.server }, cacheMs: wk.cacheMs };
      }
      // 3.3 - 3.5: SRV for the delegated name, else its A/AAAA records on 8448.
      const srv = await this.srv(delegated.host);
      return { result: { ...(srv ?? { target: delegated.host, port: DEFAULT_FEDERATION_PORT }), hostHeader: delegated.host }, cacheMs: Math.min(wk.cacheMs, SRV_CACHE_MS) };
    }
    // Steps 4 - 6: SRV for the server name, else its A/AAAA records on 8448.
    const srv = await this.srv(name.host);
    return { result: { ...(srv ?? { target: name.host, port: DEFAULT_FEDERATION_PORT }), hostHeader: name.host }, cacheMs: Math.min(wk.cacheMs, SRV_CACHE_MS) };
  }

  /** `_matrix-fed._tcp.<host>`, then the deprecated `_matrix._tcp.<host>`: the best record (lowest priority, highest weight). */
  private async srv(host: string): Promise<{ target: string; port: number } | undefined> {
    for (const service of ['_matrix-fed._tcp', '_matrix._tcp']) {
      let records: Awaited<ReturnType<DiscoveryResolver['resolveSrv']>> = [];
      try {
        records = await this.resolver.resolveSrv(`${service}.${host}`);
      } catch {
        records = [];
      }
      // RFC 2782: a target of "." means the service is decidedly not available there.
      const usable = records.filter((r) => r.name !== '' && r.name !== '.');
      if (usable.length > 0) {
        usable.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
        return { target: usable[0]!.name.replace(/\.$/, ''), port: usable[0]!.port };
      }
    }
    return undefined;
  }
}

/** SRV through node:dns; NXDOMAIN and "no data" mean no records. */
export async function systemResolveSrv(name: string): Promise<Array<{ name: string; port: number; priority: number; weight: number }>> {
  try {
    return await dns.resolveSrv(name);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw err;
  }
}
