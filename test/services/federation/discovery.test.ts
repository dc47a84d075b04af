// Server discovery (spec: server-server-api "Resolving server names"): the resolution rules with
// an injected resolver (no DNS needed), and over real HTTPS: /.well-known delegation and its
// cache, certificates checked against the Host name, the trusted CA option, and the outbound IP
// deny list refusing loopback unless allowed.
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerDiscovery, splitHostPort, wellKnownCacheMs, type DiscoveryResolver, type WellKnownResult } from '../../../src/services/federation/discovery.js';
import { FederationClient, FederationRequestError } from '../../../src/services/federation/client.js';
import { IpPolicy } from '../../../src/services/net/ip-policy.js';
import { generateSigningKey } from '../../../src/core/crypto.js';
import { startFederation, testCertificates, type FederatedServer } from '../../helpers/federation.js';

type Srv = Awaited<ReturnType<DiscoveryResolver['resolveSrv']>>;

function fakeResolver(wellKnown: Record<string, WellKnownResult>, srv: Record<string, Srv>) {
  const calls: string[] = [];
  const resolver: DiscoveryResolver = {
    fetchWellKnown: async (host) => { calls.push(`wk:${host}`); return wellKnown[host] ?? { cacheMs: 3600_000 }; },
    resolveSrv: async (name) => { calls.push(`srv:${name}`); return srv[name] ?? []; },
  };
  return { resolver, calls };
}

describe('server name resolution rules', () => {
  it('splits server names', () => {
    expect(splitHostPort('example.org')).toEqual({ host: 'example.org', ipLiteral: false });
    expect(splitHostPort('example.org:8449')).toEqual({ host: 'example.org', port: 8449, ipLiteral: false });
    expect(splitHostPort('1.2.3.4')).toEqual({ host: '1.2.3.4', ipLiteral: true });
    expect(splitHostPort('[::1]:8448')).toEqual({ host: '::1', port: 8448, ipLiteral: true });
    for (const bad of ['', '[::1', '[nope]', 'host:0', 'host:99999', 'host:x', '::1']) expect(splitHostPort(bad)).toBeUndefined();
  });

  it('IP literals and explicit ports connect directly, Host is the server name (steps 1 and 2)', async () => {
    const { resolver, calls } = fakeResolver({}, {});
    const d = new ServerDiscovery(resolver);
    expect(await d.resolve('1.2.3.4')).toEqual({ target: '1.2.3.4', port: 8448, hostHeader: '1.2.3.4' });
    expect(await d.resolve('[2001:db8::1]:9000')).toEqual({ target: '2001:db8::1', port: 9000, hostHeader: '[2001:db8::1]:9000' });
    expect(await d.resolve('example.org:8449')).toEqual({ target: 'example.org', port: 8449, hostHeader: 'example.org:8449' });
    expect(calls).toEqual([]);
  });

  it('follows /.well-known delegation (step 3)', async () => {
    const { resolver } = fakeResolver({
      'a.example': { server: '5.6.7.8', cacheMs: 1000 },
      'b.example': { server: 'b-delegate.example:443', cacheMs: 1000 },
      'c.example': { server: 'c-delegate.example', cacheMs: 1000 },
      'd.example': { server: 'd-delegate.example', cacheMs: 1000 },
      'e.example': { server: 'e-delegate.example', cacheMs: 1000 },
    }, {
      '_matrix-fed._tcp.c-delegate.example': [{ name: 'c-target.example.', port: 1234, priority: 0, weight: 0 }],
      '_matrix._tcp.d-delegate.example': [{ name: 'd-target.example', port: 4321, priority: 0, weight: 0 }],
    });
    const d = new ServerDiscovery(resolver);
    expect(await d.resolve('a.example')).toEqual({ target: '5.6.7.8', port: 8448, hostHeader: '5.6.7.8' });
    expect(await d.resolve('b.example')).toEqual({ target: 'b-delegate.example', port: 443, hostHeader: 'b-delegate.example:443' });
    expect(await d.resolve('c.example')).toEqual({ target: 'c-target.example', port: 1234, hostHeader: 'c-delegate.example' });
    expect(await d.resolve('d.example')).toEqual({ target: 'd-target.example', port: 4321, hostHeader: 'd-delegate.example' });
    expect(await d.resolve('e.example')).toEqual({ target: 'e-delegate.example', port: 8448, hostHeader: 'e-delegate.example' });
  });

  it('without /.well-known: _matrix-fed._tcp, then _matrix._tcp, then port 8448 (steps 4 to 6)', async () => {
    const { resolver, calls } = fakeResolver({}, {
      '_matrix-fed._tcp.f.example': [
        { name: 'backup.example', port: 2, priority: 10, weight: 0 },
        { name: 'light.example', port: 3, priority: 1, weight: 1 },
        { name: 'heavy.example', port: 4, priority: 1, weight: 50 },
      ],
      '_matrix._tcp.f.example': [{ name: 'old.example', port: 5, priority: 0, weight: 0 }],
      '_matrix._tcp.g.example': [{ name: 'old.example', port: 5, priority: 0, weight: 0 }],
      '_matrix-fed._tcp.h.example': [{ name: '.', port: 0, priority: 0, weight: 0 }],
    });
    const d = new ServerDiscovery(resolver);
    expect(await d.resolve('f.example')).toEqual({ target: 'heavy.example', port: 4, hostHeader: 'f.example' });
    expect(await d.resolve('g.example')).toEqual({ target: 'old.example', port: 5, hostHeader: 'g.example' });
    expect(await d.resolve('h.example')).toEqual({ target: 'h.example', port: 8448, hostHeader: 'h.example' });
    expect(calls.slice(0, 2)).toEqual(['wk:f.example', 'srv:_matrix-fed._tcp.f.example']);
  });

  it('caches answers as long as /.well-known allows, errors for an hour', async () => {
    let now = 0;
    const { resolver, calls } = fakeResolver({ 'a.example': { server: '5.6.7.8', cacheMs: 1000 } }, {});
    const d = new ServerDiscovery(resolver, () => now);
    await d.resolve('a.example');
    await d.resolve('a.example');
    expect(calls).toEqual(['wk:a.example']);
    now = 1001;
    await d.resolve('a.example');
    expect(calls).toEqual(['wk:a.example', 'wk:a.example']);
    expect(wellKnownCacheMs('public, max-age=600', true)).toBe(600_000);
    expect(wellKnownCacheMs('max-age=999999999', true)).toBe(48 * 3600_000);
    expect(wellKnownCacheMs(undefined, true)).toBe(24 * 3600_000);
    expect(wellKnownCacheMs('no-store', true)).toBe(0);
    expect(wellKnownCacheMs('max-age=600', false)).toBe(3600_000);
  });
});

describe('discovery, TLS and the IP deny list over real HTTPS', () => {
  let a: FederatedServer;
  let wellKnown: Server;
  let wellKnownPort: number;
  let served: unknown = {};
  let hits = 0;
  let cacheControl: string | undefined;
  const signingKey = (() => { const k = generateSigningKey('t'); if (!k.ok) throw new Error(k.reason); return k.value; })();
  const log = pino({ level: 'silent' });
  const certs = testCertificates();
  const clients: FederationClient[] = [];
  const client = (o: { ca?: boolean; allow?: string[]; deny?: string[] } = {}) => {
    const c = new FederationClient({
      serverName: 'tester.example', signingKey, log,
      ipPolicy: new IpPolicy({ allowlist: o.allow ?? ['127.0.0.1/32'], ...(o.deny ? { denylist: o.deny } : {}) }),
      ...(o.ca === false ? {} : { trustedCaPem: readFileSync(certs.caPath, 'utf8') }),
      timeoutMs: 5000, wellKnownPort, resolveSrv: async () => [],
    } as ConstructorParameters<typeof FederationClient>[0]);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    [a] = await startFederation('sqlite', 1);
    wellKnown = createServer({ cert: readFileSync(certs.certPath), key: readFileSync(certs.keyPath) }, (req, res) => {
      hits++;
      if (req.url !== '/.well-known/matrix/server') { res.writeHead(404).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json', ...(cacheControl ? { 'cache-control': cacheControl } : {}) }).end(JSON.stringify(served));
    });
    await new Promise<void>((resolve) => wellKnown.listen(0, '127.0.0.1', resolve));
    wellKnownPort = (wellKnown.address() as { port: number }).port;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await new Promise((r) => wellKnown?.close(r));
    await a?.close();
  });

  it('follows /.well-known to an IP literal and to a name, and caches it', async () => {
    const fedPort = Number(a.serverName.split(':')[1]);
    served = { 'm.server': `127.0.0.1:${fedPort}` };
    const c = client();
    // `localhost` has no port: its /.well-known (on the test port) delegates to A.
    const keys = await c.request<{ server_name: string }>('localhost', 'GET', '/_matrix/key/v2/server', { unsigned: true });
    expect(keys.server_name).toBe(a.serverName);
    expect(await c.discovery.resolve('localhost')).toEqual({ target: '127.0.0.1', port: fedPort, hostHeader: `127.0.0.1:${fedPort}` });
    expect(hits).toBe(1); // cached

    // Delegation to a name with a port: the certificate must be valid for that name (localhost is in the test certificate).
    served = { 'm.server': `localhost:${fedPort}` };
    cacheControl = 'max-age=0';
    const c2 = client();
    const again = await c2.request<{ server_name: string }>('localhost', 'GET', '/_matrix/key/v2/server', { unsigned: true });
    expect(again.server_name).toBe(a.serverName);
    cacheControl = undefined;
  });

  it('verifies certificates: without the trusted CA option the test certificate is refused', async () => {
    const err = await client({ ca: false }).request(a.serverName, 'GET', '/_matrix/key/v2/server', { unsigned: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FederationRequestError);
    expect((err as Error).message).toMatch(/certificate|self.signed|issuer/i);
  });

  it('refuses denied addresses: loopback by default, through DNS names too, and private ranges', async () => {
    const strict = client({ allow: [] });
    const direct = await strict.request(a.serverName, 'GET', '/_matrix/key/v2/server', { unsigned: true }).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(FederationRequestError);
    expect((direct as Error).message).toMatch(/denied/);
    const fedPort = a.serverName.split(':')[1];
    const byName = await strict.request(`localhost:${fedPort}`, 'GET', '/_matrix/key/v2/server', { unsigned: true }).catch((e: unknown) => e);
    expect((byName as Error).message).toMatch(/denied/);
    // The default deny list covers the private ranges (checked without sending anything there).
    const policy = new IpPolicy({ denylist: a.config.federation.ip_range_denylist, allowlist: [] });
    for (const ip of ['10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.1.1', '127.0.0.1', '::1', 'fe80::1', 'fc00::1', '::ffff:10.0.0.1']) expect(policy.isAllowed(ip)).toBe(false);
    expect(policy.isAllowed('93.184.216.34')).toBe(true);
  });

  it('a client asking for a profile on a denied server gets an error and nothing is sent', async () => {
    const alice = await a.user('alice');
    const r = await alice.client.get(`/_matrix/client/v3/profile/${encodeURIComponent('@x:127.0.0.2:8448')}`);
    expect(r.status).toBe(502);
    expect(String(r.body.error)).toMatch(/denied/);
  });
});
