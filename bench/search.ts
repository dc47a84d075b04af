// /search latency over a large index (issue #10): fills N messages (default 1,000,000) into 20
// rooms the searching user is joined to, straight into the database (src/storage/search-bench.ts,
// bypassing the event pipeline), then times POST /search over HTTP against the server in its
// own process (`node dist/cli.js start`, needs `npm run build`) for common and rare words, a
// phrase and a prefix, in rank and recent order.
//
// Message bodies are 4-16 words drawn from a 20,000-word vocabulary with Zipf frequencies (the
// most common word is in about 6 messages of 10), from a fixed seed.
//
//   node --import tsx bench/search.ts [sqlite|postgres] [--messages 1000000] [--runs 50] [--keep] [--reuse DIR]
//
// --keep leaves the filled data directory (and PostgreSQL database) in place and prints it;
// --reuse DIR times the searches again on it without filling (one engine: the directory's).
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { Agent, request } from 'undici';
import { openStorage } from '../src/storage/index.js';
import { bulkInsertMessages } from '../src/storage/search-bench.js';
import { createDataDir, enginesFromArgv, fmt, machine, median, percentile, registerUser, requireBuild, startServer, type DataDir, type Engine } from './lib/server.js';

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: {
    messages: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '50' },
    keep: { type: 'boolean', default: false }, reuse: { type: 'string' },
  },
  allowPositionals: true,
});
const MESSAGES = Number(opts.messages);
const RUNS = Number(opts.runs);
const ROOMS = 20;
const VOCABULARY = 20_000;

const agent = new Agent({ connections: 4, pipelining: 1 });

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pronounceable distinct words: word(r) is the r-th most frequent (r from 1). */
const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'be', 'da', 'fu', 'go', 'hi', 'ja', 'pe', 'zu'];
function word(r: number): string {
  let n = r;
  let out = '';
  do { out += SYLLABLES[n % 16]; n = Math.floor(n / 16); } while (n > 0);
  return out;
}

/** Zipf sampling over ranks 1..VOCABULARY by inverting the cumulative distribution. */
function zipfSampler(rand: () => number): () => number {
  const cdf = new Float64Array(VOCABULARY);
  let sum = 0;
  for (let r = 1; r <= VOCABULARY; r++) { sum += 1 / r; cdf[r - 1] = sum; }
  return () => {
    const x = rand() * sum;
    let lo = 0;
    let hi = VOCABULARY - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cdf[mid] < x) lo = mid + 1; else hi = mid; }
    return lo + 1;
  };
}

async function call<T>(url: string, token: string, body: unknown): Promise<T> {
  const res = await request(url, { method: 'POST', dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.body.json()) as T;
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

interface Filled { data: DataDir; token: string }

/** Creates the rooms through the server, then fills the messages straight into the database. */
async function fill(engine: Engine): Promise<Filled> {
  const data = await createDataDir(engine);
  const server = await startServer(data);
  const user = await registerUser(server.baseUrl, 'searcher');
  const rooms: string[] = [];
  for (let i = 0; i < ROOMS; i++) {
    rooms.push((await call<{ room_id: string }>(`${server.baseUrl}/_matrix/client/v3/createRoom`, user.access_token, { preset: 'private_chat' })).room_id);
  }
  await server.stop();

  const storage = await openStorage(engine === 'sqlite'
    ? { engine, path: join(data.dir, 'weft.db'), url: null, pool_size: 4 }
    : { engine, path: '', url: data.databaseUrl, pool_size: 4 });
  const rand = prng(42);
  const zipf = zipfSampler(rand);
  const body = () => {
    const n = 4 + Math.floor(rand() * 13);
    const words: string[] = [];
    for (let k = 0; k < n; k++) words.push(word(zipf()));
    return words.join(' ');
  };
  const t0 = performance.now();
  let last = t0;
  await bulkInsertMessages(storage, rooms.map((roomId) => ({ roomId, sender: user.user_id })), MESSAGES, body, (done) => {
    if (performance.now() - last > 15_000 || done === MESSAGES) {
      last = performance.now();
      process.stderr.write(`  ${engine}: ${done.toLocaleString('en-US')} messages in ${fmt((last - t0) / 1000, 0)} s\n`);
    }
  });
  const fillS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  if (engine === 'postgres') await sql`VACUUM ANALYZE`.execute(storage.database.db);
  else await sql`INSERT INTO event_search(event_search) VALUES ('optimize')`.execute(storage.database.db);
  const optimizeS = (performance.now() - t1) / 1000;
  await storage.close();
  console.log(`${engine}: filled ${MESSAGES.toLocaleString('en-US')} messages in ${fmt(fillS, 0)} s (${fmt(MESSAGES / fillS, 0)}/s); ${engine === 'postgres' ? 'VACUUM ANALYZE' : 'FTS5 optimize'} ${fmt(optimizeS, 0)} s`);
  writeFileSync(join(data.dir, 'bench-search.json'), JSON.stringify({ engine, port: data.port, databaseUrl: data.databaseUrl, token: user.access_token }));
  return { data, token: user.access_token };
}

function reuse(dir: string): Filled {
  const saved = JSON.parse(readFileSync(join(dir, 'bench-search.json'), 'utf8')) as { engine: Engine; port: number; databaseUrl: string | null; token: string };
  return {
    data: { dir, configPath: join(dir, 'weft.yaml'), port: saved.port, engine: saved.engine, databaseUrl: saved.databaseUrl, destroy: async () => undefined },
    token: saved.token,
  };
}

async function run(engine: Engine): Promise<void> {
  const { data, token } = opts.reuse ? reuse(opts.reuse) : await fill(engine);
  const user = { access_token: token };
  try {
    const server = await startServer(data);
    const url = `${server.baseUrl}/_matrix/client/v3/search`;
    const cases: Array<[string, string]> = [
      ['most common word (rank 1)', word(1)],
      ['common word (rank 10)', word(10)],
      ['mid word (rank 100)', word(100)],
      ['rare word (rank 10,000)', word(10_000)],
      ['two common words', `${word(2)} ${word(3)}`],
      ['phrase of two common words', `"${word(1)} ${word(2)}"`],
      ['prefix (3 letters of rank 300)', `${word(300).slice(0, 3)}*`],
    ];
    console.log(`| query | matches | rank p50 / p99 | recent p50 / p99 |`);
    console.log(`|---|---|---|---|`);
    for (const [label, term] of cases) {
      const times: Record<string, number[]> = { rank: [], recent: [] };
      let count = 0;
      for (const order of ['rank', 'recent'] as const) {
        const criteria = { search_categories: { room_events: { search_term: term, order_by: order } } };
        for (let i = 0; i < 3; i++) await call(url, user.access_token, criteria);
        for (let i = 0; i < RUNS; i++) {
          const s = performance.now();
          const r = await call<{ search_categories: { room_events: { count: number; results: unknown[] } } }>(url, user.access_token, criteria);
          times[order].push(performance.now() - s);
          count = r.search_categories.room_events.count;
        }
      }
      const cell = (xs: number[]) => `${fmt(median(xs))} / ${fmt(percentile(xs, 99))} ms`;
      console.log(`| ${label}: \`${term}\` | ${count.toLocaleString('en-US')} | ${cell(times.rank)} | ${cell(times.recent)} |`);
    }
    await server.stop();
  } finally {
    if (opts.keep || opts.reuse) console.log(`data kept in ${data.dir}${data.databaseUrl ? ` (${data.databaseUrl})` : ''}`);
    else await data.destroy();
  }
}

requireBuild();
console.log(machine());
if (opts.reuse) await run(reuse(opts.reuse).data.engine);
else for (const engine of await enginesFromArgv()) await run(engine);
await agent.close();
