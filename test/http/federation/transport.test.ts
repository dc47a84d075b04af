// Transactions both ways. Inbound: a transaction is processed once per origin and ID, its size
// limits are enforced, and its origin must be the signing server. Outbound: the queue delivers,
// holds work for a destination that is down (backing off, not hammering), keeps it across a
// restart, and resumes at once when the destination contacts us.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

type User = { userId: string; deviceId: string; client: Client };

/** Reads a user's new to-device messages (acknowledging the previous ones). */
function inbox(user: User): () => Promise<Array<{ sender: string; type: string; content: Record<string, unknown> }>> {
  let since: string | undefined;
  return async () => {
    const r = await user.client.get<{ next_batch: string; to_device?: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> } }>(
      `/_matrix/client/v3/sync?timeout=0${since ? `&since=${since}` : ''}`);
    since = r.body.next_batch;
    return r.body.to_device?.events ?? [];
  };
}

describe.each(ENGINES)('federation transactions (%s)', (engine) => {
  let a: FederatedServer;
  let b: FederatedServer;
  let alice: User;
  let bob: User;
  let aliceInbox: ReturnType<typeof inbox>;
  let bobInbox: ReturnType<typeof inbox>;
  const dtd = (messageId: string, n: unknown) => ({
    edu_type: 'm.direct_to_device',
    content: { sender: bob.userId, type: 'm.test', message_id: messageId, messages: { [alice.userId]: { [alice.deviceId]: { n } } } },
  });

  beforeAll(async () => {
    [a, b] = await startFederation(engine, 2);
    alice = await a.user('alice');
    bob = await b.user('bob');
    aliceInbox = inbox(alice);
    bobInbox = inbox(bob);
    await aliceInbox();
    await bobInbox();
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('processes a transaction once: a retry gets the same answer and applies nothing twice', async () => {
    const body = { origin: b.serverName, origin_server_ts: Date.now(), pdus: [], edus: [dtd('m1', 1)] };
    const first = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/t1', body);
    expect(first).toEqual({ status: 200, body: { pdus: {} } });
    // The same ID with other content: still the stored answer, nothing new applied.
    const again = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/t1', { ...body, edus: [dtd('m2', 2)] });
    expect(again).toEqual({ status: 200, body: { pdus: {} } });
    // Concurrent retries of a new transaction.
    const body3 = { origin: b.serverName, origin_server_ts: Date.now(), pdus: [], edus: [dtd('m3', 3)] };
    const both = await Promise.all([1, 2].map(() => signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/t3', body3)));
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect((await aliceInbox()).map((e) => e.content.n)).toEqual([1, 3]);
  });

  it('enforces the 50 PDU / 100 EDU limits, the envelope schema and the origin', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => dtd(`x${i}`, i));
    const tooManyEdus = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/big1', { origin: b.serverName, origin_server_ts: 1, pdus: [], edus: many(101) });
    expect(tooManyEdus.status).toBe(400);
    expect(tooManyEdus.body.errcode).toBe('M_BAD_JSON');
    const tooManyPdus = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/big2', { origin: b.serverName, origin_server_ts: 1, pdus: Array.from({ length: 51 }, () => ({})) });
    expect(tooManyPdus.status).toBe(400);
    expect(tooManyPdus.body.errcode).toBe('M_BAD_JSON');
    const noPdus = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/bad1', { origin: b.serverName, origin_server_ts: 1 });
    expect(noPdus.status).toBe(400);
    const notJson = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/bad2', { origin: b.serverName, origin_server_ts: 1, pdus: 'x' });
    expect(notJson.status).toBe(400);
    const otherOrigin = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/bad3', { origin: 'elsewhere.example', origin_server_ts: 1, pdus: [], edus: [dtd('o', 'o')] });
    expect(otherOrigin.status).toBe(403);
    // 100 EDUs are fine; a user of another server in an EDU is not ours to speak for.
    const full = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/full', { origin: b.serverName, origin_server_ts: 1, pdus: [], edus: [
      ...many(99), { edu_type: 'm.direct_to_device', content: { sender: `@mallory:${a.serverName}`, type: 'm.test', message_id: 'spoof', messages: { [alice.userId]: { '*': { n: 'spoof' } } } } },
    ] });
    expect(full.status).toBe(200);
    const got = (await aliceInbox()).map((e) => e.content.n);
    expect(got).toHaveLength(99);
    expect(got).not.toContain('spoof');
    expect(got).not.toContain('o');
  });

  it('delivers to-device messages to another server through the queue', async () => {
    const r = await alice.client.put(`/_matrix/client/v3/sendToDevice/m.test/txn1`, { messages: { [bob.userId]: { '*': { hello: 'bob' } } } });
    expect(r.status).toBe(200);
    const got = await eventually(async () => { const e = await bobInbox(); return e.length > 0 ? e : undefined; }, 10_000, 'the message on B');
    expect(got).toEqual([{ sender: alice.userId, type: 'm.test', content: { hello: 'bob' } }]);
  });

  it('backs off from a destination that is down, keeps its queue across a restart, and resumes when it contacts us', async () => {
    await b.stop();
    await alice.client.put(`/_matrix/client/v3/sendToDevice/m.test/txn2`, { messages: { [bob.userId]: { '*': { n: 'while down' } } } });
    await eventually(async () => a.hs.federationSender.isBackingOff(b.serverName), 10_000, 'A to back off from B');
    expect(await a.hs.storage.federation.queuedCount(b.serverName)).toBe(1);
    const retry = await a.hs.storage.federation.retryState(b.serverName);
    expect(retry?.failures).toBeGreaterThanOrEqual(1);

    // A restarts with the message still queued; B comes back (same ports: the clients' URLs hold), and
    // B's first request to A ends A's backoff at once (its backoff would otherwise last up to 2 s).
    await a.restart();
    expect(await a.hs.storage.federation.queuedCount(b.serverName)).toBe(1);
    await b.start();
    await b.hs.federationClient.request(a.serverName, 'PUT', '/_matrix/federation/v1/send/hello', { body: { origin: b.serverName, origin_server_ts: Date.now(), pdus: [] } });
    const got = await eventually(async () => { const e = await bobInbox(); return e.length > 0 ? e : undefined; }, 10_000, 'the queued message on B');
    expect(got.map((e) => e.content)).toEqual([{ n: 'while down' }]);
    await eventually(async () => (await a.hs.storage.federation.queuedCount(b.serverName)) === 0, 5_000, 'the queue to empty');
    expect(await a.hs.storage.federation.retryState(b.serverName)).toBeUndefined();
  });
});
