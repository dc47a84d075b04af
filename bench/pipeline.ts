// The event persistence pipeline without HTTP: 50 senders over 10 rooms calling RoomService.send
// in this process, on SQLite. Prints messages per second, CPU per message, and the SQLite time
// per message by statement — the server-side cost of a send that bench/rooms.ts measures over HTTP.
//
//   node --import tsx bench/pipeline.ts [messages] [--profile]
//
// --profile writes a CPU profile of the sending phase alone to pipeline.cpuprofile (open it in
// Chrome DevTools) and leaves SQLite's statements untimed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import SQLite from 'better-sqlite3';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { validateConfig } from '../src/config.js';
import { Homeserver } from '../src/homeserver.js';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 20_000);
const PROFILE = process.argv.includes('--profile');

// Time every statement SQLite runs, by SQL text.
const stats = new Map<string, { count: number; ns: bigint }>();
const prepare = SQLite.prototype.prepare;
if (!PROFILE) SQLite.prototype.prepare = function timedPrepare(this: SQLite.Database, source: string) {
  const stmt = prepare.call(this, source);
  const methods = stmt as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const method of ['run', 'all', 'get']) {
    const original = methods[method].bind(stmt);
    methods[method] = (...args: unknown[]) => {
      const t = process.hrtime.bigint();
      try { return original(...args); } finally {
        const s = stats.get(source) ?? { count: 0, ns: 0n };
        s.count++;
        s.ns += process.hrtime.bigint() - t;
        stats.set(source, s);
      }
    };
  }
  return stmt;
} as typeof prepare;

const dir = mkdtempSync(join(tmpdir(), 'weft-pipeline-'));
const config = validateConfig({
  server_name: 'bench.local', listeners: [{ port: 0 }], database: { engine: 'sqlite', path: join(dir, 'weft.db') },
  registration: { mode: 'open' }, rate_limits: { enabled: false }, log_level: 'silent',
  media_path: join(dir, 'media'), signing_key_path: join(dir, 'signing.key'),
}, dir);
const hs = await Homeserver.open(config, pino({ level: 'silent' }));
const users: string[] = [];
for (let i = 0; i < 50; i++) {
  users.push((await hs.accounts.register({ localpart: `u${i}`, password: null, deviceId: null, deviceDisplayName: null, inhibitLogin: true, refresh: false, guest: false, ip: null })).user_id);
}
const rooms: string[] = [];
for (let r = 0; r < 10; r++) rooms.push((await hs.rooms.createRoom(users[0], { preset: 'public_chat' })).room_id);
for (let i = 1; i < 50; i++) await hs.rooms.setMembership(rooms[i % 10], users[i], users[i], 'join');
stats.clear();

const profiler = new Session();
if (PROFILE) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}
let sent = 0;
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(users.map(async (u, i) => {
  while (sent < N) {
    sent++;
    await hs.rooms.send(rooms[i % 10], u, 'm.room.message', { msgtype: 'm.text', body: `hello ${sent}` }, { userId: u, deviceId: 'DEVICE', txnId: `t${sent}` });
  }
}));
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
if (PROFILE) {
  const { profile } = await profiler.post('Profiler.stop');
  writeFileSync('pipeline.cpuprofile', JSON.stringify(profile));
}
await hs.close();
rmSync(dir, { recursive: true, force: true });

let sqlNs = 0n;
for (const s of stats.values()) sqlNs += s.ns;
process.stdout.write(`${Math.round(N / seconds)} messages/s in-process; CPU ${((cpu.user + cpu.system) / N).toFixed(0)} µs per message, of which SQLite ${(Number(sqlNs) / 1e3 / N).toFixed(0)} µs\n`);
for (const [source, s] of [...stats].sort((a, b) => Number(b[1].ns - a[1].ns)).slice(0, 8)) {
  process.stdout.write(`  ${String(s.count).padStart(7)} × ${(Number(s.ns) / 1e3 / s.count).toFixed(1).padStart(6)} µs  ${source.slice(0, 90)}\n`);
}
