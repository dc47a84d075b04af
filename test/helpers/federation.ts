// Several Weft servers that federate with each other over real HTTPS on 127.0.0.1.
//
// Each server has its own server name `127.0.0.1:<federation port>` (an IP literal with a port:
// discovery connects there directly, no DNS or .well-known), its own database and signing key,
// a plain-HTTP client listener and a TLS listener for the `federation` and `keys` resources.
// Ports are picked before the servers start (server names must be known in their config), by
// briefly listening on port 0. The TLS certificate is made with the openssl CLI in a temporary
// folder: one test CA, and one leaf for 127.0.0.1 and localhost that every server presents; every
// server trusts the CA through `federation.trusted_ca_path` and allows 127.0.0.1 through
// `federation.ip_range_allowlist` (loopback is denied by default).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from './server.js';
import type { TestEngine } from './databases.js';
import { Client } from './client.js';
import { Agent, request } from 'undici';
import { readFileSync } from 'node:fs';

export interface TestCertificates {
  dir: string;
  caPath: string;
  certPath: string;
  keyPath: string;
}

let certificates: TestCertificates | undefined;

/** The test CA and a leaf certificate for 127.0.0.1 / localhost (made once per test file). */
export function testCertificates(): TestCertificates {
  if (certificates) return certificates;
  const dir = mkdtempSync(join(tmpdir(), 'weft-tls-'));
  const p = (f: string) => join(dir, f);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=Weft test CA',
    '-keyout', p('ca.key'), '-out', p('ca.pem'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('leaf.key'), '-out', p('leaf.csr'));
  writeFileSync(p('leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('leaf.ext'), '-out', p('leaf.pem'));
  certificates = { dir, caPath: p('ca.pem'), certPath: p('leaf.pem'), keyPath: p('leaf.key') };
  return certificates;
}

/** A free TCP port on 127.0.0.1 (free when asked; another process could take it before we listen). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface FederatedServer extends TestServer {
  /** `127.0.0.1:<federation port>` */
  serverName: string;
  /** https://127.0.0.1:<federation port> */
  federationUrl: string;
  /** Registers a user on this server and returns a client holding its token. */
  user(localpart: string): Promise<{ client: Client; userId: string; deviceId: string }>;
}

/** Starts `n` federating servers; `engines` gives each server's database (cycled). */
export async function startFederation(engines: TestEngine | TestEngine[], n: number, overrides: Record<string, unknown> = {}): Promise<FederatedServer[]> {
  const certs = testCertificates();
  const list = Array.isArray(engines) ? engines : [engines];
  const servers: FederatedServer[] = [];
  for (let i = 0; i < n; i++) servers.push(await startFederatedServer(list[i % list.length]!, certs, overrides));
  return servers;
}

async function startFederatedServer(engine: TestEngine, certs: TestCertificates, overrides: Record<string, unknown>): Promise<FederatedServer> {
  const [clientPort, fedPort] = [await freePort(), await freePort()];
  const serverName = `127.0.0.1:${fedPort}`;
  const { federation: fedOverrides, ...rest } = overrides as { federation?: Record<string, unknown> };
  const server = await startTestServer(engine, {
    server_name: serverName,
    public_baseurl: `http://127.0.0.1:${clientPort}/`,
    listeners: [
      { port: clientPort, bind_address: '127.0.0.1', resources: ['client', 'media', 'admin', 'health', 'metrics'] },
      { port: fedPort, bind_address: '127.0.0.1', tls: { certificate_path: certs.certPath, private_key_path: certs.keyPath }, resources: ['federation', 'keys'] },
    ],
    federation: {
      trusted_ca_path: certs.caPath,
      ip_range_allowlist: ['127.0.0.1/32'],
      backoff_base_ms: 200,
      backoff_max_ms: 2_000,
      request_timeout_ms: 10_000,
      ...fedOverrides,
    },
    ...rest,
  } as Parameters<typeof startTestServer>[1]);
  return withHelpers(server, serverName, fedPort);
}

function withHelpers(server: TestServer, serverName: string, fedPort: number): FederatedServer {
  const fs: FederatedServer = {
    ...server,
    serverName,
    federationUrl: `https://127.0.0.1:${fedPort}`,
    restart: async () => withHelpers(await server.restart(), serverName, fedPort),
    user: async (localpart) => {
      const client = new Client(server.baseUrl);
      const r = await client.register(localpart);
      return { client, userId: r.user_id, deviceId: r.device_id };
    },
  };
  return fs;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let agent: Agent | undefined;

/** A raw HTTPS request to a server's federation listener (trusting the test CA), for tests that forge requests. */
export async function federationFetch(server: FederatedServer, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  agent ??= new Agent({ connect: { ca: readFileSync(testCertificates().caPath, 'utf8') } });
  const res = await request(`${server.federationUrl}${path}`, { method: method as 'GET', headers: opts.headers, body: opts.body, dispatcher: agent });
  const text = await res.body.text();
  let body: Record<string, unknown> = {};
  try { body = text ? JSON.parse(text) as Record<string, unknown> : {}; } catch { body = { text }; }
  return { status: res.statusCode, body };
}
