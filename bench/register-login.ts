// Registrations and password logins per second against a server in its own process,
// sequentially and with a few concurrent clients. Both are dominated by argon2id
// (hashing at registration, verifying at login), so the cost parameters the server
// really uses are read back from its database and timed here for one hash.
//
//   node --import tsx bench/register-login.ts [sqlite|postgres] [--seconds 5] [--concurrency 8]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { hash as argon2Hash, Algorithm } from '@node-rs/argon2';
import {
  PASSWORD, createDataDir, enginesFromArgv, fmt, machine, median, percentile, postJson, requireBuild, startServer,
  type DataDir, type Engine,
} from './lib/server.js';

interface Rate { count: number; seconds: number; perSecond: number; p50: number; p99: number }

export interface RegisterLoginResult {
  engine: Engine;
  argon2: { params: string; hashMs: number };
  register: { sequential: Rate; concurrent: Rate };
  login: { sequential: Rate; concurrent: Rate };
  concurrency: number;
}

/** Runs `op(i)` from `workers` loops until `seconds` have passed; every op must succeed. */
async function measure(workers: number, seconds: number, op: (i: number) => Promise<void>): Promise<Rate> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (performance.now() < end) {
      const s = performance.now();
      await op(next++);
      latencies.push(performance.now() - s);
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  return { count: latencies.length, seconds: elapsed, perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** The `$argon2id$v=19$m=…,t=…,p=…` prefix of a stored hash. */
async function storedHashParams(data: DataDir): Promise<string> {
  let hash: string | null | undefined;
  if (data.engine === 'sqlite') {
    const db = new SQLite(join(data.dir, 'weft.db'), { readonly: true });
    try {
      hash = (db.prepare('SELECT password_hash FROM users WHERE password_hash IS NOT NULL LIMIT 1').get() as { password_hash: string | null } | undefined)?.password_hash;
    } finally {
      db.close();
    }
  } else {
    const c = new pg.Client({ connectionString: data.databaseUrl as string });
    await c.connect();
    try {
      hash = (await c.query<{ password_hash: string | null }>('SELECT password_hash FROM users WHERE password_hash IS NOT NULL LIMIT 1')).rows[0]?.password_hash;
    } finally {
      await c.end();
    }
  }
  const m = hash ? /^\$(argon2(?:id|i|d))\$v=(\d+)\$([^$]+)\$/.exec(hash) : null;
  return m ? `${m[1]} v=${m[2]} ${m[3]}` : `(unrecognised: ${hash?.slice(0, 20) ?? 'no hash stored'})`;
}

/** Times one hash with the parameters the server stored (median of 7, after one warm-up). */
async function timeArgon2(params: string): Promise<number> {
  const get = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(params)?.[1]);
  const opts = { algorithm: Algorithm.Argon2id, memoryCost: get('m'), timeCost: get('t'), parallelism: get('p') };
  if (![opts.memoryCost, opts.timeCost, opts.parallelism].every(Number.isFinite)) return NaN;
  await argon2Hash(PASSWORD, opts);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const s = performance.now();
    await argon2Hash(PASSWORD, opts);
    times.push(performance.now() - s);
  }
  return median(times);
}

export async function benchRegisterLogin(engine: Engine, opts: { seconds?: number; concurrency?: number } = {}): Promise<RegisterLoginResult> {
  const seconds = opts.seconds ?? 5;
  const concurrency = opts.concurrency ?? 8;
  const data = await createDataDir(engine);
  const server = await startServer(data);
  const base = server.baseUrl;
  try {
    let users = 0;
    const register = (prefix: string) => async (i: number) => {
      const r = await postJson(`${base}/_matrix/client/v3/register`, { username: `${prefix}${i}`, password: PASSWORD, auth: { type: 'm.login.dummy' } });
      if (r.status !== 200) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
      users++;
    };
    await measure(1, 1, register('warm')); // warm-up
    const regSeq = await measure(1, seconds, register('seq'));
    const regConc = await measure(concurrency, seconds, register('conc'));

    const login = async (i: number) => {
      const r = await postJson(`${base}/_matrix/client/v3/login`, {
        type: 'm.login.password', identifier: { type: 'm.id.user', user: `seq${i % regSeq.count}` }, password: PASSWORD,
      });
      if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.body)}`);
    };
    const loginSeq = await measure(1, seconds, login);
    const loginConc = await measure(concurrency, seconds, login);
    if (users === 0) throw new Error('no user registered');

    const params = await storedHashParams(data);
    return {
      engine,
      argon2: { params, hashMs: await timeArgon2(params) },
      register: { sequential: regSeq, concurrent: regConc },
      login: { sequential: loginSeq, concurrent: loginConc },
      concurrency,
    };
  } finally {
    await server.stop();
    await data.destroy();
  }
}

export function printRegisterLogin(r: RegisterLoginResult): void {
  const line = (what: string, x: Rate) =>
    `    ${what.padEnd(22)} ${fmt(x.perSecond).padStart(7)} /s   (p50 ${fmt(x.p50, 0)} ms, p99 ${fmt(x.p99, 0)} ms, ${x.count} in ${fmt(x.seconds)} s)\n`;
  process.stdout.write(
    `  register/login [${r.engine}]: argon2 ${r.argon2.params}, one hash ${fmt(r.argon2.hashMs)} ms on this machine\n` +
    line('register, sequential', r.register.sequential) +
    line(`register, ${r.concurrency} clients`, r.register.concurrent) +
    line('login, sequential', r.login.sequential) +
    line(`login, ${r.concurrency} clients`, r.login.concurrent),
  );
}

async function main(): Promise<void> {
  requireBuild();
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string' }, concurrency: { type: 'string' } } });
  process.stdout.write(`registrations and logins — ${machine()}\n`);
  for (const engine of await enginesFromArgv(positionals)) {
    printRegisterLogin(await benchRegisterLogin(engine, { seconds: Number(values.seconds ?? 5), concurrency: Number(values.concurrency ?? 8) }));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
}
