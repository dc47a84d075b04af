// Throughput of an authenticated no-op: GET /_matrix/client/v3/account/whoami.
// The server runs in its own process (`node dist/cli.js start`); autocannon drives it
// with 50 keep-alive connections for 10 s after a short warm-up. Target: >= 10,000 req/s.
//
//   node --import tsx bench/whoami.ts [sqlite|postgres] [--duration 10] [--connections 50] [--cpu-prof]
//
// --cpu-prof starts the server with `node --cpu-prof` and leaves the .cpuprofile in the data
// directory (which is then kept, and printed).
import autocannon from 'autocannon';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createDataDir, enginesFromArgv, fmt, machine, processCpuMs, registerUser, requireBuild, startServer, type Engine } from './lib/server.js';

export const WHOAMI_TARGET = 10_000;

export interface WhoamiResult {
  engine: Engine;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  total: number;
  /** Server CPU time per request (user + system), and the rate one fully busy core would give. */
  cpuUsPerRequest: number;
  errors: number;
  non2xx: number;
}

function load(url: string, token: string, connections: number, duration: number): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections,
    duration,
    pipelining: 1,
    headers: { authorization: `Bearer ${token}` },
  });
}

export async function benchWhoami(engine: Engine, opts: { duration?: number; connections?: number; cpuProf?: boolean } = {}): Promise<WhoamiResult> {
  const duration = opts.duration ?? 10;
  const connections = opts.connections ?? 50;
  const data = await createDataDir(engine);
  const server = await startServer(data, opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${data.dir}`] : []);
  try {
    const { access_token } = await registerUser(server.baseUrl, 'bench');
    const url = `${server.baseUrl}/_matrix/client/v3/account/whoami`;
    const check = await fetch(url, { headers: { authorization: `Bearer ${access_token}` } });
    if (check.status !== 200) throw new Error(`whoami answered ${check.status}: ${await check.text()}`);
    await load(url, access_token, connections, 2); // warm-up: JIT, token cache, pools
    const cpu0 = processCpuMs(server.child.pid);
    const r = await load(url, access_token, connections, duration);
    const cpuMs = processCpuMs(server.child.pid) - cpu0;
    return {
      engine,
      requestsPerSecond: r.requests.average,
      p50: r.latency.p50,
      p99: r.latency.p99,
      total: r.requests.total,
      cpuUsPerRequest: (cpuMs * 1000) / r.requests.total,
      errors: r.errors + r.timeouts,
      non2xx: r.non2xx,
    };
  } finally {
    await server.stop();
    if (opts.cpuProf) {
      const profiles = readdirSync(data.dir).filter((f) => f.endsWith('.cpuprofile'));
      process.stdout.write(`  server CPU profile: ${profiles.map((f) => join(data.dir, f)).join(', ') || '(none written)'}\n`);
      // keep the directory so the profile can be read; drop only the PostgreSQL database
      if (engine === 'postgres') await data.destroy();
    } else {
      await data.destroy();
    }
  }
}

export function printWhoami(r: WhoamiResult, connections = 50): void {
  const verdict = r.requestsPerSecond >= WHOAMI_TARGET ? 'meets' : 'BELOW';
  process.stdout.write(
    `  whoami [${r.engine}]: ${fmt(r.requestsPerSecond, 0)} req/s (${verdict} the ${fmt(WHOAMI_TARGET, 0)} target), ` +
    `latency p50 ${r.p50} ms, p99 ${r.p99} ms, ${fmt(r.total, 0)} requests over ${connections} connections; ` +
    `server CPU ${fmt(r.cpuUsPerRequest)} µs/request (≈ ${fmt(1e6 / r.cpuUsPerRequest, 0)} req/s per fully used core)` +
    `${r.errors || r.non2xx ? `, ${r.errors} errors, ${r.non2xx} non-2xx` : ''}\n`,
  );
}

async function main(): Promise<void> {
  requireBuild();
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { duration: { type: 'string' }, connections: { type: 'string' }, 'cpu-prof': { type: 'boolean' } },
  });
  const duration = Number(values.duration ?? 10);
  const connections = Number(values.connections ?? 50);
  process.stdout.write(`whoami throughput — ${machine()}\n`);
  for (const engine of await enginesFromArgv(positionals)) {
    const r = await benchWhoami(engine, { duration, connections, cpuProf: values['cpu-prof'] });
    printWhoami(r, connections);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
}
