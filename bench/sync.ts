// /sync benchmarks (issue "Sync"): an initial sync for a user in 50 rooms of 100 messages; an
// initial sync with lazy-loaded members for a user in 300 rooms of 300 members; the wake-up
// latency from a send's response to the waiting /sync's answer with 1,000 idle long-polls open;
// and the server's memory per 1,000 idle long-polls.
// The server runs in its own process (`node dist/cli.js start`, needs `npm run build`).
//
//   node --import tsx bench/sync.ts [sqlite|postgres] [--only initial|lazy|wake] [--members 300] [--rooms 300] [--idle 1000]
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Agent, request, WebSocket } from 'undici';
import pg from 'pg';
import { createDataDir, enginesFromArgv, fmt, freePort, machine, median, percentile, registerUser, requireBuild, startServer, type Engine, type RunningServer } from './lib/server.js';

const agent = new Agent({ connections: 4096, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
const enc = encodeURIComponent;
type Json = Record<string, unknown>;
type User = { user_id: string; access_token: string };

async function call<T = Json>(method: 'GET' | 'POST' | 'PUT', url: string, token: string, body?: unknown): Promise<T> {
  const res = await request(url, {
    method, dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.body.json()) as T;
  if (res.statusCode !== 200) throw new Error(`${method} ${url}: ${res.statusCode} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** Runs `fn` for 0..n-1 with at most `concurrency` at once. */
async function forEach(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    for (let i = next++; i < n; i = next++) await fn(i);
  }));
}

async function registerMany(baseUrl: string, prefix: string, n: number): Promise<User[]> {
  const out: User[] = new Array(n);
  await forEach(n, 16, async (i) => { out[i] = await registerUser(baseUrl, `${prefix}${i}`); });
  return out;
}

let txn = 0;
const send = (base: string, u: User, roomId: string, body: string) =>
  call<{ event_id: string }>('PUT', `${base}/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b${++txn}`, u.access_token, { msgtype: 'm.text', body });
const createRoom = async (base: string, u: User, body: Json = { preset: 'public_chat' }) => (await call<{ room_id: string }>('POST', `${base}/_matrix/client/v3/createRoom`, u.access_token, body)).room_id;
const joinRoom = (base: string, u: User, roomId: string) => call('POST', `${base}/_matrix/client/v3/join/${enc(roomId)}`, u.access_token, {});
const syncUrl = (base: string, q: Record<string, string | number>) => `${base}/_matrix/client/v3/sync?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`;

/** Times `n` runs of `fn` (after `warm` untimed ones); milliseconds. */
async function timed(n: number, fn: () => Promise<unknown>, warm = 2): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

const summary = (xs: number[]) => `p50 ${fmt(median(xs))} ms, p95 ${fmt(percentile(xs, 95))} ms, p99 ${fmt(percentile(xs, 99))} ms (n=${xs.length})`;

function rssKb(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * The server's live heap: through its inspector, a full garbage collection and then
 * process.memoryUsage(), so that garbage left by earlier work does not count.
 */
async function liveHeapBytes(inspectPort: number): Promise<number> {
  const list = (await (await request(`http://127.0.0.1:${inspectPort}/json/list`)).body.json()) as Array<{ webSocketDebuggerUrl: string }>;
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let id = 0;
  const callCdp = (method: string, params: Json = {}) => new Promise<Json>((resolve) => {
    const mine = ++id;
    ws.onmessage = (m) => { const r = JSON.parse(String(m.data)) as { id?: number; result?: Json }; if (r.id === mine) resolve(r.result ?? {}); };
    ws.send(JSON.stringify({ id: mine, method, params }));
  });
  await callCdp('HeapProfiler.collectGarbage');
  const r = await callCdp('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
  ws.close();
  return Number((r.result as { value: number }).value);
}

interface Running {
  server: RunningServer;
  inspectPort: number;
  /** Stops the server and starts it again on the same data (caches cold). */
  restart(): Promise<RunningServer>;
  /**
   * PostgreSQL: ANALYZE, as autovacuum would after a bulk load. (The benchmark machine's server
   * runs without autovacuum; without statistics the planner misjudges the events table and, its
   * cost estimates inflated, spends ~100 ms compiling queries with JIT.) SQLite: nothing.
   */
  analyze(): Promise<void>;
}

async function withServer<T>(engine: Engine, fn: (r: Running) => Promise<T>): Promise<T> {
  const data = await createDataDir(engine, { presence: { enabled: true, idle_timeout_ms: 300_000, offline_after_sync_ms: 600_000 } });
  const inspectPort = await freePort();
  const start = () => startServer(data, [`--inspect=127.0.0.1:${inspectPort}`]);
  const running: Running = {
    server: await start(), inspectPort,
    restart: async () => {
      await running.server.stop();
      running.server = await start();
      return running.server;
    },
    analyze: async () => {
      if (!data.databaseUrl) return;
      const c = new pg.Client({ connectionString: data.databaseUrl });
      await c.connect();
      try { await c.query('ANALYZE'); } finally { await c.end(); }
    },
  };
  try {
    return await fn(running);
  } finally {
    await running.server.stop();
    await data.destroy();
  }
}

// ---- 1. initial sync, 50 rooms × 100 messages ----

async function benchInitial(engine: Engine, rooms = 50, messages = 100): Promise<void> {
  await withServer(engine, async ({ server, analyze }) => {
    const base = server.baseUrl;
    const [user, other] = await registerMany(base, 'init', 2);
    const ids: string[] = [];
    for (let r = 0; r < rooms; r++) {
      const roomId = await createRoom(base, user, { preset: 'public_chat', name: `Room ${r}` });
      await joinRoom(base, other, roomId);
      ids.push(roomId);
    }
    await forEach(rooms, 10, async (r) => {
      for (let m = 0; m < messages; m++) await send(base, m % 2 ? user : other, ids[r], `message ${m}`);
    });
    await analyze();
    const plain = await timed(30, () => call('GET', syncUrl(base, { set_presence: 'offline' }), user.access_token));
    // What Element asks for: lazy-loaded members and a 20-event timeline.
    const element = JSON.stringify({ room: { state: { lazy_load_members: true }, timeline: { limit: 20 } } });
    const lazy = await timed(30, () => call('GET', syncUrl(base, { set_presence: 'offline', filter: element }), user.access_token));
    const body = await call<{ next_batch: string }>('GET', syncUrl(base, { set_presence: 'offline' }), user.access_token);
    const incremental = await timed(100, () => call('GET', syncUrl(base, { set_presence: 'offline', since: body.next_batch }), user.access_token));
    process.stdout.write(`[${engine}] initial sync, ${rooms} rooms × ${messages} messages (default filter, 10 events per room): ${summary(plain)}\n`);
    process.stdout.write(`[${engine}]   with lazy-loaded members and 20 events per room: ${summary(lazy)}\n`);
    process.stdout.write(`[${engine}]   incremental sync with nothing new (no wait): ${summary(incremental)}\n`);
  });
}

// ---- 2. initial sync with lazy loading, 300 rooms × 300 members ----

async function benchLazy(engine: Engine, rooms = 300, members = 300): Promise<void> {
  await withServer(engine, async (running) => {
    let base = running.server.baseUrl;
    const t0 = performance.now();
    const users = await registerMany(base, 'lazy', members);
    const user = users[0];
    const ids: string[] = [];
    await forEach(rooms, 16, async (r) => {
      // Creators rotate, so that no user's own membership dominates the state chains.
      ids[r] = await createRoom(base, users[r % members], { preset: 'public_chat', name: `Big ${r}` });
    });
    // Every user joins every room, rooms in parallel, each room's joins in turn.
    await forEach(rooms, 32, async (r) => {
      for (let m = 0; m < members; m++) if (m !== r % members) await joinRoom(base, users[m], ids[r]);
    });
    // A few messages from different members, so that lazy loading has senders to load.
    await forEach(rooms, 32, async (r) => {
      for (let m = 0; m < 15; m++) await send(base, users[(r * 7 + m * 13) % members], ids[r], `chat ${m}`);
    });
    process.stdout.write(`[${engine}] setup: ${members} users, ${rooms} rooms × ${members} members in ${fmt((performance.now() - t0) / 1000)} s\n`);
    const filter = JSON.stringify({ room: { state: { lazy_load_members: true }, timeline: { limit: 10 } } });
    // A sync waits for the device-list changes of the joins so far (services/e2ee/device-lists.ts):
    // right after 90,000 joins that is a long queue. Measured once, then the server starts afresh.
    const drain = await timed(1, () => call('GET', syncUrl(base, { set_presence: 'offline', filter }), user.access_token), 0);
    process.stdout.write(`[${engine}]   the first sync after the setup, behind the device-list changes of every join: ${fmt(drain[0] / 1000)} s\n`);
    await running.analyze();
    base = (await running.restart()).baseUrl;
    const first = await timed(1, () => call('GET', syncUrl(base, { set_presence: 'offline', filter }), user.access_token), 0);
    const lazy = await timed(10, () => call('GET', syncUrl(base, { set_presence: 'offline', filter }), user.access_token), 1);
    const res = await request(syncUrl(base, { set_presence: 'offline', filter }), { dispatcher: agent, headers: { authorization: `Bearer ${user.access_token}` } });
    const bytes = (await res.body.arrayBuffer()).byteLength;
    const full = await timed(3, () => call('GET', syncUrl(base, { set_presence: 'offline' }), user.access_token), 0);
    process.stdout.write(`[${engine}] initial sync with lazy-loaded members, ${rooms} rooms × ${members} members: first after a restart ${fmt(first[0])} ms, then ${summary(lazy)}; ${fmt(bytes / 1024)} KiB\n`);
    process.stdout.write(`[${engine}]   the same without lazy loading (every member event): ${summary(full)}\n`);
  });
}

// ---- 3. wake-up latency with idle long-polls, and their memory ----

async function benchWake(engine: Engine, idle = 1000, samples = 300): Promise<void> {
  await withServer(engine, async ({ server, inspectPort, analyze }) => {
    const base = server.baseUrl;
    const pid = server.child.pid;
    const idlers = await registerMany(base, 'idle', idle);
    const [sender, receiver] = await registerMany(base, 'pair', 2);
    // Idle users sit in rooms of their own (ten to a room) where nothing happens.
    for (let r = 0; r * 10 < idle; r++) {
      const roomId = await createRoom(base, idlers[r * 10]);
      await forEach(Math.min(10, idle - r * 10) - 1, 9, (i) => joinRoom(base, idlers[r * 10 + i + 1], roomId));
    }
    const roomId = await createRoom(base, sender);
    await joinRoom(base, receiver, roomId);
    await analyze();

    // Open the idle long-polls (each re-opened if its timeout ever ends it).
    let stopping = false;
    const tokens = await Promise.all(idlers.map(async (u) => (await call<{ next_batch: string }>('GET', syncUrl(base, { set_presence: 'offline' }), u.access_token)).next_batch));
    await new Promise((r) => setTimeout(r, 500));
    const heapBefore = await liveHeapBytes(inspectPort);
    const rssBefore = rssKb(pid);
    const loops = idlers.map(async (u, i) => {
      let since = tokens[i];
      while (!stopping) since = (await call<{ next_batch: string }>('GET', syncUrl(base, { set_presence: 'offline', since, timeout: 120_000 }), u.access_token)).next_batch;
    });
    // Until every long-poll has looked once and is waiting: the live heap stops moving.
    let heapIdle = await liveHeapBytes(inspectPort);
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const again = await liveHeapBytes(inspectPort);
      const settled = Math.abs(again - heapIdle) < 2 ** 19;
      heapIdle = again;
      if (settled) break;
    }
    const rssIdle = rssKb(pid);

    let since = (await call<{ next_batch: string }>('GET', syncUrl(base, { set_presence: 'offline' }), receiver.access_token)).next_batch;
    const fromResponse: number[] = [];
    const fromRequest: number[] = [];
    for (let i = 0; i < samples; i++) {
      let answered = 0;
      const waiting = call<{ next_batch: string; rooms: { join: Record<string, unknown> } }>('GET', syncUrl(base, { set_presence: 'offline', since, timeout: 30_000 }), receiver.access_token)
        .then((b) => { answered = performance.now(); return b; });
      // Give the request time to reach the server and start waiting.
      await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      await send(base, sender, roomId, `ping ${i}`);
      const t1 = performance.now();
      const b = await waiting;
      if (!b.rooms.join[roomId]) throw new Error('the long-poll answered without the message');
      since = b.next_batch;
      fromResponse.push(Math.max(0, answered - t1));
      fromRequest.push(answered - t0);
    }
    process.stdout.write(`[${engine}] wake-up with ${idle} idle long-polls open: from the send's response ${summary(fromResponse)}\n`);
    process.stdout.write(`[${engine}]   from the send's request (send + wake-up): ${summary(fromRequest)}\n`);
    process.stdout.write(`[${engine}] memory for ${idle} idle long-polls: live heap +${fmt((heapIdle - heapBefore) / 2 ** 20)} MiB (${fmt(heapBefore / 2 ** 20)} → ${fmt(heapIdle / 2 ** 20)} MiB after a full GC), RSS +${fmt((rssIdle - rssBefore) / 1024)} MiB (sockets and buffers included)\n`);
    stopping = true;
    void loops;
  });
}

async function main(): Promise<void> {
  requireBuild();
  const { values } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: {
    only: { type: 'string' }, rooms: { type: 'string' }, members: { type: 'string' }, idle: { type: 'string' },
  } });
  const engines = await enginesFromArgv();
  process.stdout.write(`Weft /sync benchmarks — ${machine()}\n`);
  for (const engine of engines) {
    if (!values.only || values.only === 'initial') await benchInitial(engine);
    if (!values.only || values.only === 'lazy') await benchLazy(engine, Number(values.rooms ?? 300), Number(values.members ?? 300));
    if (!values.only || values.only === 'wake') await benchWake(engine, Number(values.idle ?? 1000));
  }
  await agent.destroy();
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
}
