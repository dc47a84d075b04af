// Room benchmarks (issue "Rooms and messaging"): message send throughput with 50 concurrent
// senders over 10 rooms, /messages pagination in a 10,000-event room, joining a 1,000-member
// room, and database bytes and state rows per event after 100,000 messages.
// The server runs in its own process (`node dist/cli.js start`, needs `npm run build`).
//
//   node --import tsx bench/rooms.ts [sqlite|postgres] [--seconds 10] [--messages 100000]
import { parseArgs } from 'node:util';
import { statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import pg from 'pg';
import SQLite from 'better-sqlite3';
import { createDataDir, enginesFromArgv, fmt, machine, median, percentile, registerUser, requireBuild, startServer, type DataDir, type Engine } from './lib/server.js';

const agent = new Agent({ connections: 128, pipelining: 1 });
const enc = encodeURIComponent;

async function call<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', url: string, token: string, body?: unknown): Promise<T> {
  const res = await request(url, {
    method, dispatcher: agent,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.body.json()) as T;
  if (res.statusCode !== 200) throw new Error(`${method} ${url}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

async function registerMany(baseUrl: string, prefix: string, n: number, concurrency = 8): Promise<Array<{ user_id: string; access_token: string }>> {
  const out: Array<{ user_id: string; access_token: string }> = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < n; i = next++) out[i] = await registerUser(baseUrl, `${prefix}${i}`);
  }));
  return out;
}

let txn = 0;
const send = (base: string, token: string, roomId: string, body: string) =>
  call<{ event_id: string }>('PUT', `${base}/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/b${++txn}`, token, { msgtype: 'm.text', body });

async function dbBytes(data: DataDir): Promise<number> {
  if (data.engine === 'postgres') {
    const c = new pg.Client({ connectionString: data.databaseUrl as string });
    await c.connect();
    try {
      await c.query('CHECKPOINT');
      const r = await c.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
      return Number(r.rows[0].size);
    } finally { await c.end(); }
  }
  const path = join(data.dir, 'weft.db');
  const db = new SQLite(path);
  try { db.pragma('wal_checkpoint(TRUNCATE)'); } finally { db.close(); }
  return statSync(path).size + (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);
}

async function countRows(data: DataDir, sql: string): Promise<number> {
  if (data.engine === 'postgres') {
    const c = new pg.Client({ connectionString: data.databaseUrl as string });
    await c.connect();
    try { return Number((await c.query<{ n: string }>(sql)).rows[0].n); } finally { await c.end(); }
  }
  const db = new SQLite(join(data.dir, 'weft.db'), { readonly: true });
  try { return Number((db.prepare(sql).get() as { n: number }).n); } finally { db.close(); }
}

export interface RoomsResult {
  engine: Engine;
  sendPerSecond: number; sendP50: number; sendP99: number;
  paginateP50: number; paginateP99: number;
  joinMedianMs: number; joinP90Ms: number;
  bytesPerMessage: number; messages: number;
  stateRowsPerJoin: number; stateRowsPerMessage: number;
}

export async function benchRooms(engine: Engine, opts: { seconds?: number; messages?: number } = {}): Promise<RoomsResult> {
  const seconds = opts.seconds ?? 10;
  const data = await createDataDir(engine);
  const server = await startServer(data);
  const base = server.baseUrl;
  try {
    // 1. 50 senders over 10 rooms.
    const senders = await registerMany(base, 'sender', 50);
    const owner = senders[0];
    const rooms: string[] = [];
    for (let r = 0; r < 10; r++) {
      rooms.push((await call<{ room_id: string }>('POST', `${base}/_matrix/client/v3/createRoom`, owner.access_token, { preset: 'public_chat' })).room_id);
    }
    for (let i = 1; i < senders.length; i++) await call('POST', `${base}/_matrix/client/v3/join/${enc(rooms[i % 10])}`, senders[i].access_token, {});
    const sendLatencies: number[] = [];
    const deadline = performance.now() + 1000; // warm-up
    await Promise.all(senders.map(async (s, i) => { while (performance.now() < deadline) await send(base, s.access_token, rooms[i % 10], 'warm-up'); }));
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let sent = 0;
    await Promise.all(senders.map(async (s, i) => {
      while (performance.now() < end) {
        const a = performance.now();
        await send(base, s.access_token, rooms[i % 10], `message ${sent}`);
        sendLatencies.push(performance.now() - a);
        sent++;
      }
    }));
    const sendPerSecond = sent / ((performance.now() - t0) / 1000);

    // 2. /messages: pages of 50 in a room of 10,000 events.
    const big = (await call<{ room_id: string }>('POST', `${base}/_matrix/client/v3/createRoom`, owner.access_token, { preset: 'public_chat' })).room_id;
    const writers = senders.slice(0, 20);
    for (const w of writers.slice(1)) await call('POST', `${base}/_matrix/client/v3/join/${enc(big)}`, w.access_token, {});
    let written = 0;
    await Promise.all(writers.map(async (w) => { while (written < 10_000) { written++; await send(base, w.access_token, big, `history ${written}`); } }));
    const tokens: string[] = [];
    let page = await call<{ end?: string }>('GET', `${base}/_matrix/client/v3/rooms/${enc(big)}/messages?dir=b&limit=50`, owner.access_token);
    while (page.end && tokens.length < 190) {
      tokens.push(page.end);
      page = await call<{ end?: string }>('GET', `${base}/_matrix/client/v3/rooms/${enc(big)}/messages?dir=b&limit=50&from=${enc(page.end)}`, owner.access_token);
    }
    const paginate: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const t of tokens) {
        const a = performance.now();
        await call('GET', `${base}/_matrix/client/v3/rooms/${enc(big)}/messages?dir=b&limit=50&from=${enc(t)}`, owner.access_token);
        paginate.push(performance.now() - a);
      }
    }

    // 3. Joining a room of 1,000 members.
    const members = await registerMany(base, 'member', 1020);
    const crowd = (await call<{ room_id: string }>('POST', `${base}/_matrix/client/v3/createRoom`, owner.access_token, { preset: 'public_chat' })).room_id;
    const deltasBefore = await countRows(data, 'SELECT count(*) AS n FROM state_group_deltas');
    let i = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let k = i++; k < 999; k = i++) await call('POST', `${base}/_matrix/client/v3/join/${enc(crowd)}`, members[k].access_token, {});
    }));
    const deltasAfterJoins = await countRows(data, 'SELECT count(*) AS n FROM state_group_deltas');
    const stateRowsPerJoin = (deltasAfterJoins - deltasBefore) / 999;
    const joins: number[] = [];
    for (let k = 999; k < 1020; k++) {
      const a = performance.now();
      await call('POST', `${base}/_matrix/client/v3/join/${enc(crowd)}`, members[k].access_token, {});
      joins.push(performance.now() - a);
    }
    for (let k = 0; k < 100; k++) await send(base, owner.access_token, crowd, `crowd ${k}`);
    const stateRowsPerMessage = ((await countRows(data, 'SELECT count(*) AS n FROM state_group_deltas')) - deltasAfterJoins - 21) / 100;

    // 4. Bytes per message after `messages` more messages.
    const messages = opts.messages ?? 100_000;
    const bytes0 = await dbBytes(data);
    let n = 0;
    await Promise.all(senders.map(async (s, j) => { while (n < messages) { n++; await send(base, s.access_token, rooms[j % 10], `A message of ordinary length, number ${n}: lorem ipsum dolor sit amet.`); } }));
    const bytesPerMessage = ((await dbBytes(data)) - bytes0) / messages;

    return {
      engine,
      sendPerSecond, sendP50: percentile(sendLatencies, 50), sendP99: percentile(sendLatencies, 99),
      paginateP50: percentile(paginate, 50), paginateP99: percentile(paginate, 99),
      joinMedianMs: median(joins), joinP90Ms: percentile(joins, 90),
      bytesPerMessage, messages, stateRowsPerJoin, stateRowsPerMessage,
    };
  } finally {
    await server.stop();
    await data.destroy();
  }
}

export function printRooms(r: RoomsResult): void {
  process.stdout.write(`rooms (${r.engine}):
  send, 50 senders over 10 rooms: ${fmt(r.sendPerSecond, 0)} messages/s, p50 ${fmt(r.sendP50)} ms, p99 ${fmt(r.sendP99)} ms (target ≥ 3,000/s, p99 < 50 ms)
  /messages, 50 events in a 10,000-event room: p50 ${fmt(r.paginateP50, 2)} ms, p99 ${fmt(r.paginateP99, 2)} ms (target p50 < 5 ms)
  join a 1,000-member room: median ${fmt(r.joinMedianMs)} ms, p90 ${fmt(r.joinP90Ms)} ms (target < 50 ms)
  database bytes per message after ${fmt(r.messages, 0)} messages: ${fmt(r.bytesPerMessage, 0)}
  state rows per event: ${fmt(r.stateRowsPerJoin, 2)} per join (state event), ${fmt(r.stateRowsPerMessage, 2)} per message
`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, messages: { type: 'string' } }, allowPositionals: true });
  requireBuild();
  process.stdout.write(`${machine()}\n`);
  for (const engine of await enginesFromArgv()) {
    printRooms(await benchRooms(engine, { seconds: values.seconds ? Number(values.seconds) : undefined, messages: values.messages ? Number(values.messages) : undefined }));
  }
  await agent.close();
}
