// E2EE key endpoints against a real server in its own process (`node dist/cli.js start`):
//  - keys/claim of one signed_curve25519 key from each of 100 devices in one request
//    (target p50 < 20 ms), and
//  - keys/query of 500 users, each with one device with signed keys (target p50 < 50 ms).
// Requests are sequential (one at a time), after a short warm-up; the figure is the client-side
// round trip over HTTP on localhost.
//
//   npm run build && node --import tsx bench/e2ee.ts [sqlite|postgres] [--iterations 200]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { signBytes, signedBytes, signingKeyFromSeed, type SigningKey } from '../src/core/crypto.js';
import { encodeBase64 } from '../src/core/json.js';
import { createDataDir, enginesFromArgv, fmt, machine, percentile, postJson, registerUser, requireBuild, startServer, type Engine } from './lib/server.js';

export const CLAIM_TARGET_P50_MS = 20;
export const QUERY_TARGET_P50_MS = 50;
const CLAIM_DEVICES = 100;
const QUERY_USERS = 500;
/** One-time keys per claimable device: one per measured or warm-up claim. */
const KEYS_PER_UPLOAD = 100;

type Json = Record<string, unknown>;

function sign<T extends Json>(object: T, userId: string, keyId: string, key: SigningKey): T {
  return { ...object, signatures: { [userId]: { [keyId]: encodeBase64(signBytes(signedBytes(object), key)) } } };
}

interface BenchUser { userId: string; deviceId: string; token: string; key: SigningKey }

async function setUpUser(baseUrl: string, name: string): Promise<BenchUser> {
  const r = await registerUser(baseUrl, name);
  const k = signingKeyFromSeed('b', randomBytes(32));
  if (!k.ok) throw new Error(k.reason);
  const key = k.value;
  const deviceKeys = sign({
    user_id: r.user_id, device_id: r.device_id, algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    keys: { [`curve25519:${r.device_id}`]: encodeBase64(randomBytes(32)), [`ed25519:${r.device_id}`]: key.publicKeyBase64 },
  }, r.user_id, `ed25519:${r.device_id}`, key);
  const up = await postJson(`${baseUrl}/_matrix/client/v3/keys/upload`, { device_keys: deviceKeys }, r.access_token);
  if (up.status !== 200) throw new Error(`keys/upload: ${up.status} ${JSON.stringify(up.body)}`);
  return { userId: r.user_id, deviceId: r.device_id, token: r.access_token, key };
}

async function uploadOneTimeKeys(baseUrl: string, u: BenchUser, count: number, batch: number): Promise<void> {
  for (let done = 0; done < count; done += KEYS_PER_UPLOAD) {
    const keys: Record<string, Json> = {};
    for (let i = done; i < Math.min(count, done + KEYS_PER_UPLOAD); i++) {
      keys[`signed_curve25519:b${batch}k${i}`] = sign({ key: encodeBase64(randomBytes(32)) }, u.userId, `ed25519:${u.deviceId}`, u.key);
    }
    const r = await postJson(`${baseUrl}/_matrix/client/v3/keys/upload`, { one_time_keys: keys }, u.token);
    if (r.status !== 200) throw new Error(`keys/upload: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

/** Runs `fn` on `items` with at most `n` at a time. */
async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

async function time(iterations: number, warmup: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

export interface E2eeResult { engine: Engine; claim: number[]; query: number[]; queryBytes: number }

export async function benchE2ee(engine: Engine, iterations = 200): Promise<E2eeResult> {
  const warmup = 10;
  const data = await createDataDir(engine);
  const server = await startServer(data);
  try {
    const base = server.baseUrl;
    const users = await pool(Array.from({ length: QUERY_USERS }, (_, i) => `e2ee${i}`), 8, (name) => setUpUser(base, name));
    const claimable = users.slice(0, CLAIM_DEVICES);
    await pool(claimable, 8, (u) => uploadOneTimeKeys(base, u, iterations + warmup, 0));
    const requester = users[0];

    const claimBody = { one_time_keys: Object.fromEntries(claimable.map((u) => [u.userId, { [u.deviceId]: 'signed_curve25519' }])) };
    const claim = await time(iterations, warmup, async () => {
      const r = await postJson<{ one_time_keys: Record<string, unknown> }>(`${base}/_matrix/client/v3/keys/claim`, claimBody, requester.token);
      if (r.status !== 200 || Object.keys(r.body.one_time_keys).length !== CLAIM_DEVICES) throw new Error(`keys/claim: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    });

    const queryBody = { device_keys: Object.fromEntries(users.map((u) => [u.userId, []])) };
    let queryBytes = 0;
    const query = await time(iterations, warmup, async () => {
      const res = await fetch(`${base}/_matrix/client/v3/keys/query`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${requester.token}` }, body: JSON.stringify(queryBody),
      });
      const text = await res.text();
      queryBytes = text.length;
      const body = JSON.parse(text) as { device_keys: Record<string, Record<string, unknown>> };
      if (res.status !== 200 || Object.keys(body.device_keys).length !== QUERY_USERS) throw new Error(`keys/query: ${res.status} ${text.slice(0, 200)}`);
    });
    return { engine, claim, query, queryBytes };
  } finally {
    await server.stop();
    await data.destroy();
  }
}

export function printE2ee(r: E2eeResult): void {
  const line = (name: string, xs: number[], target: number) => {
    const p50 = percentile(xs, 50);
    process.stdout.write(`  ${name} [${r.engine}]: p50 ${fmt(p50, 2)} ms, p90 ${fmt(percentile(xs, 90), 2)} ms, p99 ${fmt(percentile(xs, 99), 2)} ms` +
      ` (${p50 < target ? 'meets' : 'MISSES'} the p50 < ${target} ms target; ${xs.length} requests)\n`);
  };
  line(`keys/claim, ${CLAIM_DEVICES} devices`, r.claim, CLAIM_TARGET_P50_MS);
  line(`keys/query, ${QUERY_USERS} users (${fmt(r.queryBytes / 1024, 0)} KiB)`, r.query, QUERY_TARGET_P50_MS);
}

async function main(): Promise<void> {
  requireBuild();
  const { values, positionals } = parseArgs({ options: { iterations: { type: 'string', default: '200' } }, allowPositionals: true });
  const engines = await enginesFromArgv(positionals);
  process.stdout.write(`Weft E2EE benchmarks — ${machine()}\n`);
  for (const engine of engines) printE2ee(await benchE2ee(engine, Number(values.iterations)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
}
