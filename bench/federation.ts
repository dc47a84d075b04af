// Federation, transport side (issue #7): inbound /send throughput over HTTPS (signed requests,
// X-Matrix checked, transactions of 50 PDUs one after another as a sending server sends them;
// target >= 1,000 PDUs/s; the receive path alone is measured beside it), the outbound queue draining a backlog to a server that comes back,
// and the latency from a client's send on server A to a waiting /sync on server B returning
// (target p50 < 30 ms on loopback).
// Two homeservers run in this process (2 cores shared), federating over HTTPS on 127.0.0.1 with
// a throwaway CA (openssl CLI); clients speak plain HTTP to each server's client listener.
//
//   node --import tsx bench/federation.ts [sqlite|postgres] [--pdus 2000] [--rounds 100]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Agent, request } from 'undici';
import { validateConfig } from '../src/config.js';
import { Homeserver } from '../src/homeserver.js';
import { buildEvent, toFederationPdu } from '../src/core/events.js';
import { getRoomVersion } from '../src/core/room-versions.js';
import { fmt, freePort, machine, median, percentile } from './lib/server.js';
import { benchDatabase, certificates } from './lib/federation.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { pdus: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '100' } } });
const engine = (positionals[0] ?? 'sqlite') as 'sqlite' | 'postgres';
const log = pino({ level: 'silent' });
const agent = new Agent({ connections: 16 });
const enc = encodeURIComponent;

interface Server { hs: Homeserver; name: string; clientUrl: string; pause: () => Promise<void>; resume: () => Promise<void>; stop: () => Promise<void> }

async function startHomeserver(certs: { ca: string; cert: string; key: string }): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-fedtx-'));
  const [fedPort, clientPort] = [await freePort(), await freePort()];
  const db = await benchDatabase(engine, dir, 'weft_bench_fedtx');
  const name = `127.0.0.1:${fedPort}`;
  const config = validateConfig({
    server_name: name,
    listeners: [
      { port: clientPort, bind_address: '127.0.0.1', resources: ['client'] },
      { port: fedPort, bind_address: '127.0.0.1', tls: { certificate_path: certs.cert, private_key_path: certs.key }, resources: ['federation', 'keys'] },
    ],
    public_baseurl: `http://127.0.0.1:${clientPort}/`, database: db.config, rate_limits: { enabled: false }, log_level: 'silent',
    registration: { mode: 'open' }, media_path: join(dir, 'media'), signing_key_path: join(dir, 'signing.key'),
    federation: { trusted_ca_path: certs.ca, ip_range_allowlist: ['127.0.0.1/32'], request_timeout_ms: 120_000, backoff_base_ms: 60_000 },
  }, dir);
  const server: Server = {
    hs: await Homeserver.open(config, log), name, clientUrl: `http://127.0.0.1:${clientPort}`,
    pause: async () => { await server.hs.close(); },
    resume: async () => { server.hs = await Homeserver.open(config, log); await server.hs.listen(); },
    stop: async () => { await server.hs.close(); await db.drop(); rmSync(dir, { recursive: true, force: true }); },
  };
  await server.hs.listen();
  return server;
}

async function call<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', url: string, token: string | undefined, body?: unknown): Promise<T> {
  const res = await request(url, {
    method, dispatcher: agent, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.body.json()) as T;
  if (res.statusCode !== 200) throw new Error(`${method} ${url}: ${res.statusCode} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

const register = (s: Server, username: string) => call<{ user_id: string; access_token: string }>('POST', `${s.clientUrl}/_matrix/client/v3/register`, undefined,
  { username, password: 'correct horse battery staple', auth: { type: 'm.login.dummy' } });

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const certDir = mkdtempSync(join(tmpdir(), 'weft-bench-tls-'));
  const certs = certificates(certDir);
  const a = await startHomeserver(certs);
  const b = await startHomeserver(certs);
  console.log(`# federation transport (${engine}) — ${machine()}`);
  try {
    const alice = await register(a, 'alice');
    const bob = await register(b, 'bob');
    const roomId = (await call<{ room_id: string }>('POST', `${a.clientUrl}/_matrix/client/v3/createRoom`, alice.access_token, { preset: 'public_chat' })).room_id;
    await call('POST', `${b.clientUrl}/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.name)}`, bob.access_token, {});
    await until(async () => (await a.hs.storage.rooms.membership(roomId, bob.user_id)) === 'join', 30_000, 'the join on A');

    // 1. Inbound /send over HTTPS: PDUs built and signed by A, sent by A's federation client in
    //    transactions of 50, one at a time (a sender keeps one transaction in flight per destination).
    const n = Number(values.pdus);
    const version = getRoomVersion((await a.hs.storage.events.getRoom(roomId))!.roomVersion)!;
    let prev = (await b.hs.storage.events.forwardExtremities(roomId))[0]!;
    let depth = (await b.hs.storage.events.getEvent(prev))!.event.depth;
    const { template } = await b.hs.pipeline.template(roomId, version, { type: 'm.room.message', sender: alice.user_id, content: {} });
    const pdus: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const built = buildEvent({ ...template, content: { msgtype: 'm.text', body: `message ${i}` }, prev_events: [prev], depth: ++depth, origin_server_ts: Date.now() },
        version, { serverName: a.name, key: a.hs.signingKey });
      if (!built.ok) throw new Error(built.reason);
      prev = built.value.event_id;
      pdus.push(toFederationPdu(built.value, version));
    }
    // The first half goes straight to B's receive path in-process, for comparison: what /send adds
    // on top of it is HTTPS, the X-Matrix check, the envelope and the transaction record.
    const half = pdus.splice(0, Math.floor(n / 2));
    const tp = performance.now();
    for (let i = 0; i < half.length; i += 50) await b.hs.federationEvents.receiveTransactionPdus(a.name, half.slice(i, i + 50));
    const inProcessMs = performance.now() - tp;
    console.log(`inbound PDUs, receive path in-process (50 per call): ${fmt(Math.round(half.length / (inProcessMs / 1000)), 0)} PDUs/s (${fmt(half.length, 0)} in ${fmt(Math.round(inProcessMs), 0)} ms)`);
    const t0 = performance.now();
    for (let i = 0; i < pdus.length; i += 50) {
      const r = await a.hs.federationClient.request<{ pdus: Record<string, { error?: string }> }>(b.name, 'PUT', `/_matrix/federation/v1/send/bench${i}`, {
        body: { origin: a.name, origin_server_ts: Date.now(), pdus: pdus.slice(i, i + 50) },
      });
      const failed = Object.values(r.pdus).find((x) => x.error !== undefined);
      if (failed) throw new Error(`PDU refused: ${failed.error}`);
    }
    const sendMs = performance.now() - t0;
    console.log(`inbound /send over HTTPS (signed, 50 PDUs per transaction, one at a time): ${fmt(Math.round(pdus.length / (sendMs / 1000)), 0)} PDUs/s (${fmt(pdus.length, 0)} in ${fmt(Math.round(sendMs), 0)} ms)`);

    // 2. Latency: a client's send on A to bob's waiting /sync on B returning with it.
    let since = (await call<{ next_batch: string }>('GET', `${b.clientUrl}/_matrix/client/v3/sync?timeout=0`, bob.access_token)).next_batch;
    const filter = enc(JSON.stringify({ room: { timeline: { limit: 5 }, state: { lazy_load_members: true } }, presence: { types: [] }, account_data: { types: [] } }));
    const latencies: number[] = [];
    // Where the time goes: A's client request answered, the event persisted on B (after A's
    // outbox, the HTTPS transaction and B's checks), then B's long-poll answered.
    const persistedAt = (s: Server) => {
      const at = new Map<string, number>();
      s.hs.pipeline.onPersisted((st) => { if (typeof st.event.content.body === 'string') at.set(st.event.content.body, performance.now()); });
      return at;
    };
    const onA = persistedAt(a);
    const onB = persistedAt(b);
    const phases = { request: [] as number[], toB: [] as number[], toSync: [] as number[] };
    const rounds = Number(values.rounds);
    for (let i = 0; i < rounds; i++) {
      const body = `ping ${i}`;
      const waiting = (async () => {
        for (;;) {
          const s = await call<{ next_batch: string; rooms?: { join?: Record<string, { timeline?: { events: Array<{ content: { body?: string } }> } }> } }>(
            'GET', `${b.clientUrl}/_matrix/client/v3/sync?timeout=30000&since=${since}&filter=${filter}`, bob.access_token);
          since = s.next_batch;
          if (s.rooms?.join?.[roomId]?.timeline?.events.some((e) => e.content.body === body)) return performance.now();
        }
      })();
      await new Promise((r) => setTimeout(r, 20)); // the long-poll is waiting
      const start = performance.now();
      await call('PUT', `${a.clientUrl}/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/lat${i}`, alice.access_token, { msgtype: 'm.text', body });
      const answered = performance.now();
      const end = await waiting;
      latencies.push(end - start);
      phases.request.push(answered - start);
      phases.toB.push(onB.get(body)! - onA.get(body)!);
      phases.toSync.push(end - onB.get(body)!);
    }
    console.log(`client send on A -> waiting /sync on B returns: p50 ${fmt(median(latencies))} ms, p90 ${fmt(percentile(latencies, 90))} ms, max ${fmt(Math.max(...latencies))} ms (${rounds} messages, one at a time)`);
    console.log(`  p50 of its parts: A answers the send ${fmt(median(phases.request))} ms; persisted on A -> persisted on B ${fmt(median(phases.toB))} ms; persisted on B -> /sync answered ${fmt(median(phases.toSync))} ms`);

    // 3. The outbound queue: B goes down while alice sends; A backs off and queues; when B is
    //    back and contacts A, the backlog drains in transactions of 50.
    const backlog = Math.max(50, Math.round(n / 4));
    await b.pause();
    for (let i = 0; i < backlog; i++) await a.hs.rooms.send(roomId, alice.user_id, 'm.room.message', { msgtype: 'm.text', body: `backlog ${i}` });
    await until(async () => (await a.hs.storage.federation.queuedCount(b.name)) === backlog && a.hs.federationSender.isBackingOff(b.name), 30_000, 'the backlog on A');
    await b.resume();
    const t2 = performance.now();
    a.hs.federationSender.onRemoteContact(b.name);
    await until(async () => (await a.hs.storage.federation.queuedCount(b.name)) === 0, 120_000, 'the backlog to drain');
    const lastOnA = (await a.hs.storage.events.forwardExtremities(roomId))[0]!;
    await until(async () => (await b.hs.storage.events.getEvent(lastOnA)) !== undefined, 60_000, 'the last event on B');
    const drainMs = performance.now() - t2;
    console.log(`outbound queue: a backlog of ${fmt(backlog, 0)} PDUs drained to a server that came back in ${fmt(Math.round(drainMs), 0)} ms (${fmt(Math.round(backlog / (drainMs / 1000)), 0)} PDUs/s)`);
  } finally {
    await b.stop();
    await a.stop();
    await agent.close();
    rmSync(certDir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
