// Several Weft servers that federate with each other over real HTTPS on 127.0.0.1.
//
// Each server has its own server name `127.0.0.1:<federation port>` (an IP literal with a port:
// discovery connects there directly, no DNS or .well-known), its own database and signing key,
// a plain-HTTP client listener and a TLS listener for the `federation` and `keys` resources.
// Ports are picked before the servers start (server names must be known in their config), by
// briefly listening on port 0. `stop()` and `start()` take a server down and bring it back on
// the same ports, database and key (catch-up tests). The TLS certificate is made with the openssl CLI in a temporary
// folder: one test CA, and one leaf for 127.0.0.1 and localhost that every server presents; every
// server trusts the CA through `federation.trusted_ca_path` and allows 127.0.0.1 through
// `federation.ip_range_allowlist` (loopback is denied by default).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { TestServer } from './server.js';
import { createTestDatabase, type TestDatabase, type TestEngine } from './databases.js';
import { validateConfig, type Config } from '../../src/config.js';
import { Homeserver } from '../../src/homeserver.js';
import { signRequest } from '../../src/core/federation-auth.js';
import type { SigningKey } from '../../src/core/crypto.js';
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

/** One server of a federation test: its own name, database, signing key and listeners. */
export class FederatedServer implements TestServer {
  hs!: Homeserver;
  baseUrl = '';
  /** https://127.0.0.1:<federation port> */
  readonly federationUrl: string;
  private running = false;

  constructor(
    /** `127.0.0.1:<federation port>` */
    readonly serverName: string,
    readonly config: Config,
    private readonly db: TestDatabase,
    fedPort: number,
    private readonly logger: pino.Logger,
  ) {
    this.federationUrl = `https://127.0.0.1:${fedPort}`;
  }

  /** Opens the homeserver on its database and starts its listeners (same ports, same key). */
  async start(): Promise<this> {
    this.hs = await Homeserver.open(this.config, this.logger);
    [this.baseUrl] = await this.hs.listen();
    this.running = true;
    return this;
  }

  /** Stops the homeserver; its database stays for `start()`. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.hs.close();
  }

  async restart(): Promise<this> {
    await this.stop();
    return this.start();
  }

  async close(): Promise<void> {
    await this.stop();
    await this.db.drop();
  }

  /** Registers a user on this server and returns a client holding its token. */
  async user(localpart: string): Promise<{ client: Client; userId: string; deviceId: string }> {
    const client = new Client(this.baseUrl);
    const r = await client.register(localpart);
    return { client, userId: r.user_id, deviceId: r.device_id };
  }
}

/** Starts `n` federating servers; `engines` gives each server's database (cycled). */
export async function startFederation(engines: TestEngine | TestEngine[], n: number, overrides: Record<string, unknown> = {}): Promise<FederatedServer[]> {
  const certs = testCertificates();
  const list = Array.isArray(engines) ? engines : [engines];
  const servers: FederatedServer[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await startFederatedServer(list[i % list.length]!, certs, overrides));
  } catch (err) {
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
  return servers;
}

async function startFederatedServer(engine: TestEngine, certs: TestCertificates, overrides: Record<string, unknown>): Promise<FederatedServer> {
  const [clientPort, fedPort] = [await freePort(), await freePort()];
  const serverName = `127.0.0.1:${fedPort}`;
  const { federation: fedOverrides, ...rest } = overrides as { federation?: Record<string, unknown> };
  const db = await createTestDatabase(engine);
  const config = validateConfig({
    server_name: serverName,
    public_baseurl: `http://127.0.0.1:${clientPort}/`,
    listeners: [
      { port: clientPort, bind_address: '127.0.0.1', resources: ['client', 'media', 'admin', 'health', 'metrics'] },
      { port: fedPort, bind_address: '127.0.0.1', tls: { certificate_path: certs.certPath, private_key_path: certs.keyPath }, resources: ['federation', 'keys'] },
    ],
    database: db.config,
    registration: { mode: 'open', shared_secret: 'test-shared-secret', allow_guests: true },
    rate_limits: { enabled: false },
    log_level: 'silent',
    media_path: join(db.dir, 'media'),
    signing_key_path: join(db.dir, 'signing.key'),
    federation: {
      trusted_ca_path: certs.caPath,
      ip_range_allowlist: ['127.0.0.1/32'],
      backoff_base_ms: 200,
      backoff_max_ms: 2_000,
      request_timeout_ms: 10_000,
      ...fedOverrides,
    },
    ...rest,
  }, db.dir);
  const logger = pino({ level: process.env.WEFT_TEST_LOG ?? 'silent' });
  const server = new FederatedServer(serverName, config, db, fedPort, logger);
  try {
    return await server.start();
  } catch (err) {
    await db.drop();
    throw err;
  }
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

/**
 * A request to `to`'s federation listener signed as `from` would sign it (X-Matrix), with hooks to
 * forge it: another destination in the header, another body sent than signed, and so on.
 */
export async function signedFetch(from: FederatedServer, to: FederatedServer, method: 'GET' | 'PUT' | 'POST', path: string, body?: unknown, forge: {
  destination?: string; signedBody?: unknown; signedPath?: string; key?: SigningKey; origin?: string; header?: (h: string) => string;
} = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const origin = forge.origin ?? from.serverName;
  const signedBody = 'signedBody' in forge ? forge.signedBody : body;
  const auth = signRequest({
    method, uri: forge.signedPath ?? path, origin, destination: forge.destination ?? to.serverName,
    ...(signedBody !== undefined ? { content: signedBody } : {}),
  }, forge.key ?? from.hs.signingKey);
  if (!auth.ok) throw new Error(auth.reason);
  const header = forge.header ? forge.header(auth.value) : auth.value;
  return federationFetch(to, method, path, {
    headers: { authorization: header, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}
