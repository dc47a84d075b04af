// The outbound queue with the destination played by a stub client: transactions of at most 50
// PDUs and 100 EDUs in order, a failed transaction retried as it was (same ID, same content)
// after a growing backoff, a refused one dropped, stale typing not sent, and the queue kept in
// the database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../../src/storage/index.js';
import { FederationSender } from '../../../src/services/federation/sender.js';
import { FederationRequestError, type FederationClient } from '../../../src/services/federation/client.js';

type Txn = { path: string; body: { pdus: Array<{ n: number }>; edus?: Array<{ edu_type: string; content: { n?: number } }> } };

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('FederationSender', () => {
  let dir: string;
  let storage: Storage;
  let sent: Txn[];
  let fail: (() => Error | undefined) | undefined;
  /** Added to the clock (to age queued items). */
  let offset: number;
  let sender: FederationSender;

  const make = () => new FederationSender({
    serverName: 'us.example', store: storage.federation, log: pino({ level: 'silent' }), backoffBaseMs: 50, backoffMaxMs: 200, now: () => Date.now() + offset,
    client: {
      request: async (_dest: string, _method: string, path: string, o: { body: Txn['body'] }) => {
        const err = fail?.();
        if (err) throw err;
        sent.push({ path, body: o.body });
        return { pdus: {} };
      },
    } as unknown as FederationClient,
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-sender-'));
    storage = await openStorage({ engine: 'sqlite', path: join(dir, 'db'), url: null, pool_size: 1 });
    sent = [];
    fail = undefined;
    offset = 0;
    sender = make();
  });
  afterEach(async () => {
    await sender.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('batches at most 50 PDUs and 100 EDUs per transaction, in order, never to ourselves', async () => {
    fail = () => new FederationRequestError('hold on'); // queue everything first
    sender.sendPdu({ n: -1 }, ['us.example', 'not a server name']);
    for (let n = 0; n < 120; n++) sender.sendPdu({ n }, ['them.example']);
    for (let n = 0; n < 130; n++) sender.sendEdu('them.example', { edu_type: 'm.test', content: { n } });
    await sender.flush();
    expect(await storage.federation.queuedCount('them.example')).toBe(250);
    expect(await storage.federation.queuedCount('us.example')).toBe(0);
    fail = undefined;
    sender.onRemoteContact('them.example');
    await until(async () => (await storage.federation.queuedCount('them.example')) === 0, 'the queue to drain');
    // The first transaction (the first PDU, sent at once) failed and went again as it was; the rest
    // was batched behind it.
    expect(sent.map((t) => [t.body.pdus.length, t.body.edus?.length ?? 0])).toEqual([[1, 0], [50, 100], [50, 30], [19, 0]]);
    expect(sent.flatMap((t) => t.body.pdus.map((p) => p.n))).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(new Set(sent.map((t) => t.path)).size).toBe(4);
  });

  it('retries a failed transaction unchanged, backing off more each time, and drops a refused one', async () => {
    let failures = 0;
    fail = () => (failures++ < 3 ? new FederationRequestError('connection refused') : undefined);
    sender.sendPdu({ n: 1 }, ['them.example']);
    await until(() => sent.length === 1, 'the retries to succeed');
    const state = await storage.federation.retryState('them.example');
    expect(state).toBeUndefined(); // cleared on success
    expect(sent[0]!.body.pdus).toEqual([{ n: 1 }]);

    fail = () => new FederationRequestError('bad', 400, 'M_BAD_JSON');
    sender.sendPdu({ n: 2 }, ['them.example']);
    await until(async () => (await storage.federation.queuedCount('them.example')) === 0, 'the refused transaction to be dropped');
    expect(sender.isBackingOff('them.example')).toBe(false);

    fail = () => new FederationRequestError('down');
    sender.sendPdu({ n: 3 }, ['them.example']);
    await until(() => sender.isBackingOff('them.example'), 'backoff');
    const first = (await storage.federation.retryState('them.example'))!;
    await until(async () => ((await storage.federation.retryState('them.example'))?.failures ?? 0) >= 3, 'more failures');
    const third = (await storage.federation.retryState('them.example'))!;
    expect(third.failures).toBeGreaterThan(first.failures);
  });

  it('drops typing notifications that waited too long, keeps other EDUs', async () => {
    fail = () => new FederationRequestError('down');
    sender.sendPdu({ n: 1 }, ['them.example']);
    await until(() => sender.isBackingOff('them.example'), 'backoff');
    // Queued behind the failed transaction, which is retried as it was.
    sender.sendEdu('them.example', { edu_type: 'm.typing', content: { n: 1 } });
    sender.sendEdu('them.example', { edu_type: 'm.receipt', content: { n: 2 } });
    await sender.flush();
    offset = 60_000;
    fail = undefined;
    sender.onRemoteContact('them.example');
    await until(() => sent.length === 2, 'the transactions');
    expect(sent[0]!.body).toMatchObject({ pdus: [{ n: 1 }] });
    expect(sent[0]!.body.edus).toBeUndefined();
    expect(sent[1]!.body.edus).toEqual([{ edu_type: 'm.receipt', content: { n: 2 } }]);
  });

  it('resumes what was queued after a restart', async () => {
    fail = () => new FederationRequestError('down');
    sender.sendPdu({ n: 7 }, ['them.example']);
    await sender.flush();
    await sender.close();
    fail = undefined;
    sender = make();
    await sender.start();
    await until(() => sent.length === 1, 'the queued PDU after restart', 5000);
    expect(sent[0]!.body.pdus).toEqual([{ n: 7 }]);
  });
});
