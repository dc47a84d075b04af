// Shared by the foundation benchmarks: a real Weft server in a child process
// (`node dist/cli.js start`), so that the load generator and the server do not
// share one event loop; plus small helpers for timing and printing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import YAML from 'yaml';
import { validateConfig } from '../../src/config.js';

export type Engine = 'sqlite' | 'postgres';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(ROOT, 'dist', 'cli.js');
export const PG_ADMIN_URL = process.env.WEFT_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const SERVER_NAME = 'bench.local';
export const PASSWORD = 'correct horse battery staple';

export function requireBuild(): void {
  if (!existsSync(CLI)) {
    process.stderr.write(`bench: ${CLI} is missing; run \`npm run build\` first\n`);
    process.exit(1);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A data directory with a config file (and, for PostgreSQL, a fresh database), removed by destroy(). */
export interface DataDir {
  dir: string;
  configPath: string;
  port: number;
  engine: Engine;
  databaseUrl: string | null;
  destroy(): Promise<void>;
}

export async function createDataDir(engine: Engine, overrides: Record<string, unknown> = {}): Promise<DataDir> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  const port = await freePort();
  let databaseUrl: string | null = null;
  let dbName: string | null = null;
  if (engine === 'postgres') {
    dbName = `weft_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const u = new URL(PG_ADMIN_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const raw = {
    server_name: SERVER_NAME,
    listeners: [{ port, bind_address: '127.0.0.1', resources: ['client', 'admin', 'health'] }],
    database: engine === 'sqlite' ? { engine, path: './weft.db' } : { engine, url: databaseUrl, pool_size: 10 },
    registration: { mode: 'open', shared_secret: 'bench-shared-secret', allow_guests: false },
    rate_limits: { enabled: false },
    log_level: 'silent',
    media_path: './media',
    signing_key_path: './signing.key',
    ...overrides,
  };
  validateConfig(raw, dir); // fail here, with the option's name, rather than in the child
  const configPath = join(dir, 'weft.yaml');
  writeFileSync(configPath, YAML.stringify(raw));
  return {
    dir, configPath, port, engine, databaseUrl,
    destroy: async () => {
      if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once something accepts TCP connections on the port; rejects if the child exits first. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | null = null;
  const onExit = (code: number | null, signal: string | null) => { exited = `exited with ${signal ?? code}`; };
  child.once('exit', onExit);
  try {
    for (;;) {
      if (exited) throw new Error(`server ${exited} before listening`);
      const ok = await new Promise<boolean>((res) => {
        const sock = connect({ port, host: '127.0.0.1' });
        sock.once('connect', () => { sock.destroy(); res(true); });
        sock.once('error', () => { sock.destroy(); res(false); });
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`server did not listen on ${port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.off('exit', onExit);
  }
}

export interface RunningServer {
  child: ChildProcess;
  baseUrl: string;
  /** Milliseconds from spawn to the port accepting connections. */
  startMs: number;
  stop(): Promise<void>;
}

/** Runs `node dist/cli.js start --config <dir>/weft.yaml` and waits for its port. */
export async function startServer(data: DataDir, nodeArgs: string[] = []): Promise<RunningServer> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'start', '--config', data.configPath], {
    cwd: data.dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    await waitForPort(data.port, child);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const startMs = performance.now() - t0;
  return {
    child,
    baseUrl: `http://127.0.0.1:${data.port}`,
    startMs,
    stop: () => new Promise<void>((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => { clearTimeout(timer); res(); });
      child.kill('SIGTERM');
    }),
  };
}

export async function postJson<T = Record<string, unknown>>(url: string, body: unknown, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Registers through /register with the m.login.dummy stage; returns the access token. */
export async function registerUser(baseUrl: string, username: string): Promise<{ user_id: string; access_token: string; device_id: string }> {
  const r = await postJson<{ user_id: string; access_token: string; device_id: string }>(`${baseUrl}/_matrix/client/v3/register`,
    { username, password: PASSWORD, auth: { type: 'm.login.dummy' } });
  if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[11], fields[12] are utime and stime (fields 14 and 15 of proc(5)), in clock ticks (100/s on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} CPU(s), ${cpu}, Node ${process.version}, ${process.platform}/${process.arch}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Which engines to run: argv `sqlite` / `postgres` picks one; default both (PostgreSQL when reachable). */
export async function enginesFromArgv(argv = process.argv.slice(2)): Promise<Engine[]> {
  const asked = argv.filter((a): a is Engine => a === 'sqlite' || a === 'postgres');
  const wanted: Engine[] = asked.length ? asked : ['sqlite', 'postgres'];
  const out: Engine[] = [];
  for (const e of wanted) {
    if (e === 'postgres' && !(await postgresReachable())) {
      process.stdout.write(`(PostgreSQL at ${PG_ADMIN_URL} is not reachable: skipping the postgres run)\n`);
      continue;
    }
    out.push(e);
  }
  return out;
}
