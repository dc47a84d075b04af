// Benchmark: push rule evaluation per event in a room with 1,000 local members, writes included
// (issue "Push", point 5; issue "Sync", point 6: target < 5 ms per event). One member in ten
// (--custom) has rules of their own (keyword content rules and an override rule, through the push
// rules API), one keyword different for each, so no two of their compiled rulesets are alike.
// The homeserver runs in this process without listeners; events go through RoomPipeline.send,
// whose transaction carries the push actions (services/notifications.ts).
//
// Figures, for a modern message (with m.mentions) and a legacy one (without, so the display-name
// rule searches the body for every member's name):
//   evaluation  the push rules of every member, in memory (core/push)
//   hook        evaluation plus the writes, timed inside each send's own transaction
//   send        pipeline.send latency with push actions, and in the same room with the hook
//               taken out: the difference is what push costs a send, commit included
//
//   node --import tsx bench/push.ts [sqlite|postgres] [--members 1000] [--events 300] [--custom 10]
//   node --import tsx bench/push.ts --in-memory 10000   (evaluation alone, no database: rooms too
//                                                        large to fill through the pipeline here)
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import YAML from 'yaml';
import { validateConfig } from '../src/config.js';
import { Homeserver } from '../src/homeserver.js';
import { PushEvent, compileRuleSet, effectiveRules, emptyUserRules, evaluatePushRules, predefinedRules, type CompiledRuleSet } from '../src/core/push/index.js';
import type { JsonObject } from '../src/core/pdu.js';
import type { PersistHook } from '../src/storage/events.js';
import { createDataDir, enginesFromArgv, fmt, machine, median, percentile, SERVER_NAME, type Engine } from './lib/server.js';

const { values } = parseArgs({ options: { members: { type: 'string', default: '1000' }, events: { type: 'string', default: '300' }, custom: { type: 'string', default: '10' }, 'in-memory': { type: 'string' } }, allowPositionals: true });
const MEMBERS = Number(values.members);
const EVENTS = Number(values.events);
/** Every CUSTOM-th member has a keyword rule of their own (0: none). */
const CUSTOM = Number(values.custom);
const CREATOR = `@creator:${SERVER_NAME}`;

const modern = (i: number): JsonObject => ({ msgtype: 'm.text', body: `Message ${i}: the deploy finished, rollback plan is in the runbook.`, 'm.mentions': {} });
const legacy = (i: number): JsonObject => ({ msgtype: 'm.text', body: `Message ${i}: the deploy finished, rollback plan is in the runbook.` });

interface Timings { evaluationUs: number; evaluationCpuUs: number; hookMs: number[]; hookCpuMs: number[]; sendMs: number[]; sendWithoutPushMs: number[] }
interface ReadTimings { unchangedMs: number[]; afterOneEventMs: number[]; afterReceiptMs: number[]; uncachedMs: number[]; unread: number }

/** The EventStore's persist hooks (a private field): the bench times them and takes them out. */
function persistHooks(hs: Homeserver): PersistHook[] {
  return (hs.storage.events as unknown as { persistHooks: PersistHook[] }).persistHooks;
}

async function bench(engine: Engine): Promise<{ sends: Map<string, Timings>; reads: ReadTimings }> {
  const data = await createDataDir(engine);
  const config = validateConfig(YAML.parse(readFileSync(data.configPath, 'utf8')), data.dir);
  const hs = await Homeserver.open(config, pino({ level: 'silent' }));
  try {
    const roomId = (await hs.rooms.createRoom(CREATOR, { preset: 'public_chat' })).room_id;
    for (let i = 0; i < MEMBERS; i++) {
      const userId = `@user${i}:${SERVER_NAME}`;
      await hs.pipeline.send(roomId, { type: 'm.room.member', state_key: userId, sender: userId, content: { membership: 'join', displayname: `User Number ${i}` } });
      if (CUSTOM > 0 && i % CUSTOM === 0) {
        await hs.pushRules.putRule(userId, 'content', 'rollbacks', { pattern: 'rollback*', actions: ['notify', { set_tweak: 'highlight' }] }, {});
        // A keyword of their own: no two of these rulesets are alike (the server shares identical ones).
        await hs.pushRules.putRule(userId, 'content', 'own', { pattern: `keyword${i}`, actions: ['notify'] }, {});
        await hs.pushRules.putRule(userId, 'override', 'no-bots', { conditions: [{ kind: 'event_match', key: 'sender', pattern: '@bot*' }], actions: [] }, {});
      }
    }
    const hooks = persistHooks(hs);
    const original = [...hooks];
    let hookMs: number[] = [];
    let hookCpuMs: number[] = [];
    // CPU time as well as wall time: on a loaded 2-core machine the wall time mostly measures the neighbours.
    const timed = original.map((hook): PersistHook => async (tx, e, nid, defer) => {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await hook(tx, e, nid, defer);
      const c = process.cpuUsage(c0);
      hookMs.push(performance.now() - t0);
      hookCpuMs.push((c.user + c.system) / 1000);
    });
    const send = async (content: JsonObject) => {
      const t0 = performance.now();
      await hs.pipeline.send(roomId, { type: 'm.room.message', sender: CREATOR, content });
      return performance.now() - t0;
    };

    const out = new Map<string, Timings>();
    let n = 0;
    for (const [name, content] of [['modern (m.mentions)', modern], ['legacy (no m.mentions)', legacy]] as const) {
      for (let i = 0; i < 20; i++) await send(content(n++));
      const t: Timings = { evaluationUs: 0, evaluationCpuUs: 0, hookMs: [], hookCpuMs: [], sendMs: [], sendWithoutPushMs: [] };
      // Alternate with and without the hook, so that both see the same database.
      hookMs = [];
      hookCpuMs = [];
      for (let i = 0; i < EVENTS; i++) {
        hooks.splice(0, hooks.length, ...timed);
        t.sendMs.push(await send(content(n++)));
        hooks.splice(0, hooks.length);
        t.sendWithoutPushMs.push(await send(content(n++)));
      }
      hooks.splice(0, hooks.length, ...original);
      t.hookMs = hookMs;
      t.hookCpuMs = hookCpuMs;

      // evaluation: every member's rules against one event, in memory.
      const members = (await hs.storage.rooms.joinedMemberIds(roomId)).filter((u) => u !== CREATOR);
      // Kept across events, as the notification service keeps one per member.
      const recipients = members.map((userId) => ({ userId, displayName: `User Number ${userId.slice(5, userId.indexOf(':'))}` }));
      const facts = { memberCount: members.length + 1, senderPowerLevel: 100, notificationPowerLevels: { room: 50 } };
      const rounds = 200;
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let notified = 0;
      let highlighted = 0;
      for (let r = 0; r < rounds; r++) {
        const ev = new PushEvent({ type: 'm.room.message', sender: CREATOR, room_id: roomId, content: content(r) }, facts);
        for (let i = 0; i < members.length; i++) {
          const outcome = evaluatePushRules(hs.notifications.rulesFor(members[i]), ev, recipients[i]);
          if (outcome?.notify) notified++;
          if (outcome?.highlight) highlighted++;
        }
      }
      t.evaluationUs = ((performance.now() - t0) / rounds) * 1000;
      const cpu = process.cpuUsage(c0);
      t.evaluationCpuUs = (cpu.user + cpu.system) / rounds;
      if (notified !== rounds * members.length) throw new Error(`expected every member to be notified, got ${notified}`);
      // The keyword rules are in force (loaded by the sends above): their owners get highlights.
      const custom = CUSTOM > 0 ? Math.ceil(MEMBERS / CUSTOM) : 0;
      if (highlighted !== rounds * custom) throw new Error(`expected ${rounds * custom} highlights, got ${highlighted}`);
      out.set(name, t);
    }
    const check = await hs.notifications.counts(`@user0:${SERVER_NAME}`, roomId);
    if (check.notification_count !== 40 + 2 * EVENTS) throw new Error(`unexpected count ${check.notification_count}`);

    // reads: one member's counts as /sync would ask for them.
    const reads: ReadTimings = { unchangedMs: [], afterOneEventMs: [], afterReceiptMs: [], uncachedMs: [], unread: check.notification_count };
    const timeCounts = async (userId: string) => {
      const t0 = performance.now();
      await hs.notifications.counts(userId, roomId);
      return performance.now() - t0;
    };
    for (let i = 0; i < 50; i++) {
      const userId = `@user${i + 1}:${SERVER_NAME}`;
      await hs.storage.database.db.deleteFrom('event_push_summary').where('room_id', '=', roomId).where('user_id', '=', userId).execute();
      reads.uncachedMs.push(await timeCounts(userId));
      reads.unchangedMs.push(await timeCounts(userId));
      const sent = await hs.pipeline.send(roomId, { type: 'm.room.message', sender: CREATOR, content: modern(n++) });
      reads.afterOneEventMs.push(await timeCounts(userId));
      await hs.receipts.sendReceipt(userId, roomId, 'm.read', sent.event.event_id);
      reads.afterReceiptMs.push(await timeCounts(userId));
    }
    return { sends: out, reads };
  } finally {
    await hs.close();
    await data.destroy();
  }
}

function print(engine: Engine, { sends: results, reads }: { sends: Map<string, Timings>; reads: ReadTimings }): void {
  process.stdout.write(`\n${engine}: a room of ${MEMBERS} local members and the sender, ${CUSTOM > 0 ? Math.ceil(MEMBERS / CUSTOM) : 0} of them with rules of their own; ${EVENTS} sends per figure\n`);
  const row = (label: string, xs: number[]) => `  ${label.padEnd(36)} p50 ${fmt(median(xs), 2)} ms  p90 ${fmt(percentile(xs, 90), 2)} ms  p99 ${fmt(percentile(xs, 99), 2)} ms\n`;
  for (const [name, t] of results) {
    process.stdout.write(`${name}\n`);
    process.stdout.write(`  ${'evaluation (all members, in memory)'.padEnd(36)} ${fmt(t.evaluationUs / 1000, 2)} ms per event, CPU ${fmt(t.evaluationCpuUs / 1000, 2)} ms\n`);
    process.stdout.write(row('hook (evaluation + writes, in the tx)', t.hookMs));
    process.stdout.write(row('hook, CPU time', t.hookCpuMs));
    process.stdout.write(row('send with push actions', t.sendMs));
    process.stdout.write(row('send without push actions', t.sendWithoutPushMs));
    process.stdout.write(`  ${'push cost per send (p50 difference)'.padEnd(36)} ${fmt(median(t.sendMs) - median(t.sendWithoutPushMs), 2)} ms\n`);
  }
  process.stdout.write(`counts(user, room) for one member (50 members each)\n`);
  process.stdout.write(row(`uncached, ${reads.unread} unread`, reads.uncachedMs));
  process.stdout.write(row('cached, nothing new', reads.unchangedMs));
  process.stdout.write(row('cached, one new event', reads.afterOneEventMs));
  process.stdout.write(row('after a read receipt', reads.afterReceiptMs));
}

/**
 * Evaluation alone for a room of `members` local members, every CUSTOM-th with their own compiled
 * ruleset (as NotificationService compiles them), the rest sharing the default one.
 */
function inMemory(members: number): void {
  const defaults = predefinedRules();
  const shared = compileRuleSet(defaults);
  const rules: CompiledRuleSet[] = [];
  for (let i = 0; i < members; i++) {
    if (CUSTOM > 0 && i % CUSTOM === 0) {
      const user = emptyUserRules();
      user.own.content.push({ rule_id: 'rollbacks', default: false, enabled: true, pattern: 'rollback*', actions: ['notify', { set_tweak: 'highlight' }] });
      user.own.content.push({ rule_id: 'own', default: false, enabled: true, pattern: `keyword${i}`, actions: ['notify'] });
      user.own.override.push({ rule_id: 'no-bots', default: false, enabled: true, conditions: [{ kind: 'event_match', key: 'sender', pattern: '@bot*' }], actions: [] });
      rules.push(compileRuleSet(effectiveRules(defaults, user)));
    } else {
      rules.push(shared);
    }
  }
  // One recipient object per member, kept across events, as the notification service keeps them.
  const recipients = Array.from({ length: members }, (_, i) => ({ userId: `@user${i}:${SERVER_NAME}`, displayName: `User Number ${i}` }));
  const facts = { memberCount: members + 1, senderPowerLevel: 100, notificationPowerLevels: { room: 50 } };
  process.stdout.write(`\nin memory: ${members} members, ${CUSTOM > 0 ? Math.ceil(members / CUSTOM) : 0} with rules of their own\n`);
  for (const [name, content] of [['modern (m.mentions)', modern], ['legacy (no m.mentions)', legacy]] as const) {
    const rounds = 100;
    let notified = 0;
    for (let warm = 0; warm < 2; warm++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let r = 0; r < rounds; r++) {
        const ev = new PushEvent({ type: 'm.room.message', sender: CREATOR, room_id: '!room:bench.local', content: content(r) }, facts);
        for (let i = 0; i < members; i++) if (evaluatePushRules(rules[i], ev, recipients[i])?.notify) notified++;
      }
      const cpu = process.cpuUsage(c0);
      if (warm === 1) process.stdout.write(`  ${name.padEnd(24)} ${fmt((performance.now() - t0) / rounds, 2)} ms per event, CPU ${fmt((cpu.user + cpu.system) / 1000 / rounds, 2)} ms\n`);
    }
    if (notified !== 2 * rounds * members) throw new Error(`expected every member to be notified, got ${notified}`);
  }
}

async function main(): Promise<void> {
  if (values['in-memory'] !== undefined) {
    process.stdout.write(`Weft push evaluation benchmark — ${machine()}\n`);
    inMemory(Number(values['in-memory']));
    return;
  }
  const engines = await enginesFromArgv(process.argv.slice(2).filter((a) => !a.startsWith('--') && !/^\d+$/.test(a)));
  process.stdout.write(`Weft push evaluation benchmark — ${machine()}\n`);
  for (const engine of engines) print(engine, await bench(engine));
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
