// Federation, event side (issue #7): joining, from another Weft server, rooms of 1,000 and
// 10,000 members with every signature and hash of the send_join response checked and every
// event authorised (targets < 2 s and < 15 s); and inbound PDUs per second through the receive
// path (target >= 1,000/s).
// Two homeservers run in this process, federating over HTTPS on 127.0.0.1 with a throwaway CA
// (openssl CLI). The big room's members are seeded as users of a third server (see below):
// that is setup, not measured.
//
//   node --import tsx bench/federation-join.ts [sqlite|postgres] [--members 1000,10000] [--pdus 2000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { validateConfig } from '../src/config.js';
import { Homeserver } from '../src/homeserver.js';
import { buildEvent, toFederationPdu } from '../src/core/events.js';
import { generateSigningKey } from '../src/core/crypto.js';
import { getRoomVersion } from '../src/core/room-versions.js';
import { fmt, freePort, machine } from './lib/server.js';
import { benchDatabase, certificates } from './lib/federation.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { members: { type: 'string', default: '1000,10000' }, pdus: { type: 'string', default: '2000' } } });
const engine = (positionals[0] ?? 'sqlite') as 'sqlite' | 'postgres';
const sizes = values.members!.split(',').map(Number);
const log = pino({ level: 'silent' });
const SEED = 'seed.test';

async function startHomeserver(certs: { ca: string; cert: string; key: string }): Promise<{ hs: Homeserver; name: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-fed-'));
  const fedPort = await freePort();
  const db = await benchDatabase(engine, dir, 'weft_bench_fed');
  const name = `127.0.0.1:${fedPort}`;
  const config = validateConfig({
    server_name: name,
    listeners: [{ port: fedPort, bind_address: '127.0.0.1', tls: { certificate_path: certs.cert, private_key_path: certs.key }, resources: ['federation', 'keys'] }],
    public_baseurl: `https://127.0.0.1:${fedPort}/`, database: db.config, rate_limits: { enabled: false }, log_level: 'silent',
    media_path: join(dir, 'media'), signing_key_path: join(dir, 'signing.key'),
    federation: { trusted_ca_path: certs.ca, ip_range_allowlist: ['127.0.0.1/32'], request_timeout_ms: 120_000 },
  }, dir);
  const hs = await Homeserver.open(config, log);
  await hs.listen();
  return { hs, name, stop: async () => { await hs.close(); await db.drop(); rmSync(dir, { recursive: true, force: true }); } };
}

async function main(): Promise<void> {
  const certDir = mkdtempSync(join(tmpdir(), 'weft-bench-tls-'));
  const certs = certificates(certDir);
  console.log(`# federation join (${engine}) — ${machine()}`);
  for (const members of sizes) {
    const a = await startHomeserver(certs);
    const b = await startHomeserver(certs);
    try {
      const creator = `@owner:${a.name}`;
      const { room_id: roomId } = await a.hs.rooms.createRoom(creator, { preset: 'public_chat', name: `${members} members` });
      const version = getRoomVersion((await a.hs.storage.events.getRoom(roomId))!.roomVersion)!;
      // The members are users of a third server, "seed.test", whose joins A receives as it would
      // over federation (checks 4-6 and persistence; their signatures are made with seed.test's
      // key, which B is given, so B verifies every one of them). Local members would make the
      // seeding quadratic in push-rule evaluations, which is not what is measured here.
      const seedKey = generateSigningKey('seed');
      if (!seedKey.ok) throw new Error(seedKey.reason);
      const seedStart = performance.now();
      for (let i = 1; i < members; i++) {
        const user = `@member${i}:${SEED}`;
        const { template } = await a.hs.pipeline.template(roomId, version, { type: 'm.room.member', state_key: user, sender: user, content: { membership: 'join', displayname: `Member ${i}` } });
        const built = buildEvent(template, version, { serverName: SEED, key: seedKey.value });
        if (!built.ok) throw new Error(built.reason);
        const outcome = await a.hs.pipeline.exclusive(roomId, () => a.hs.federationEvents.processEvent(SEED, version, built.value, false));
        if (outcome.status !== 'persisted') throw new Error(`seeding: ${outcome.status} ${outcome.reason ?? ''}`);
      }
      await b.hs.storage.federation.storeKeyResponse(SEED, '{}', Date.now() + 86_400_000,
        [{ serverName: SEED, keyId: seedKey.value.keyId, key: seedKey.value.publicKeyBase64, validUntilTs: Date.now() + 86_400_000, expiredTs: null }], Date.now());
      const seedMs = performance.now() - seedStart;
      const joiner = `@joiner:${b.name}`;
      const t0 = performance.now();
      await b.hs.federationMembership.joinRemote(roomId, joiner, [a.name], {});
      const joinMs = performance.now() - t0;
      const joined = (await b.hs.storage.rooms.joinedMemberIds(roomId)).length;
      if (joined !== members + 1) throw new Error(`joined room has ${joined} members, expected ${members + 1}`);
      console.log(`join a ${fmt(members, 0)}-member room from another server: ${fmt(joinMs, 0)} ms (state ${fmt(members + 6, 0)} events + auth chain, every signature checked; seeding took ${fmt(seedMs / 1000, 0)} s)`);

      if (members === sizes[0]) {
        // Inbound PDUs: messages of A's users built and signed by A, handed to B's receive path
        // in transactions of 50 (the /send limit), as the /send route does.
        const n = Number(values.pdus);
        let prev = (await b.hs.storage.events.forwardExtremities(roomId))[0]!;
        const head = (await b.hs.storage.events.getEvent(prev))!.event;
        const { template } = await b.hs.pipeline.template(roomId, version, { type: 'm.room.message', sender: creator, content: {} });
        const pdus: Record<string, unknown>[] = [];
        let depth = head.depth;
        for (let i = 0; i < n; i++) {
          const built = buildEvent({ ...template, content: { msgtype: 'm.text', body: `message ${i}` }, prev_events: [prev], depth: ++depth, origin_server_ts: Date.now() },
            version, { serverName: a.name, key: a.hs.signingKey });
          if (!built.ok) throw new Error(built.reason);
          prev = built.value.event_id;
          pdus.push(toFederationPdu(built.value, version));
        }
        const t1 = performance.now();
        for (let i = 0; i < n; i += 50) {
          const results = await b.hs.federationEvents.receiveTransactionPdus(a.name, pdus.slice(i, i + 50));
          const failed = Object.values(results).find((r) => r.error !== undefined);
          if (failed) throw new Error(`PDU refused: ${failed.error}`);
        }
        const recvMs = performance.now() - t1;
        console.log(`inbound PDUs through the receive path (a ${fmt(members, 0)}-member room, 50 per transaction): ${fmt(n / (recvMs / 1000), 0)} PDUs/s (${fmt(n, 0)} in ${fmt(recvMs, 0)} ms)`);
      }
    } finally {
      await b.stop();
      await a.stop();
    }
  }
  rmSync(certDir, { recursive: true, force: true });
}

main().catch((err) => { console.error(err); process.exit(1); });
