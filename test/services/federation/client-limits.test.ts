// How much of another server's answer the federation client reads: each call says what it
// expects (RequestOptions.maxResponseBytes, RESPONSE_LIMITS), the room-state endpoints may answer
// much, everything else gets the default. Over real HTTPS against a tiny node:https server that
// answers with bodies of a chosen size, with and without Content-Length.
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FederationClient, FederationRequestError, RESPONSE_LIMITS } from '../../../src/services/federation/client.js';
import { FederationQueries, type FederationQueryDeps } from '../../../src/services/federation/queries.js';
import { IpPolicy } from '../../../src/services/net/ip-policy.js';
import { generateSigningKey } from '../../../src/core/crypto.js';
import { MatrixError } from '../../../src/errors.js';
import { testCertificates } from '../../helpers/federation.js';

/** A JSON object of exactly `bytes` bytes. */
function jsonOfSize(bytes: number): string {
  const head = '{"displayname":"';
  const tail = '"}';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

describe('federation client answer limits', () => {
  const signingKey = (() => { const k = generateSigningKey('t'); if (!k.ok) throw new Error(k.reason); return k.value; })();
  const certs = testCertificates();
  let remote: Server;
  let server: string;
  let client: FederationClient;
  /** The answer's size in bytes, and whether it is sent chunked (no Content-Length). */
  let answer = { bytes: 100, chunked: false };
  let requests = 0;

  beforeAll(async () => {
    remote = createServer({ cert: readFileSync(certs.certPath), key: readFileSync(certs.keyPath) }, (req, res) => {
      requests++;
      req.resume();
      const body = Buffer.from(jsonOfSize(answer.bytes));
      if (!answer.chunked) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < body.length; i += 64 * 1024) res.write(body.subarray(i, i + 64 * 1024));
      res.end();
    });
    await new Promise<void>((resolve) => remote.listen(0, '127.0.0.1', resolve));
    server = `127.0.0.1:${(remote.address() as { port: number }).port}`;
    client = new FederationClient({
      serverName: 'tester.example', signingKey, ipPolicy: new IpPolicy({ allowlist: ['127.0.0.1/32'] }),
      trustedCaPem: readFileSync(certs.caPath, 'utf8'), timeoutMs: 10_000, resolveSrv: async () => [],
    });
  });
  afterAll(async () => {
    await client.close();
    await new Promise((r) => remote.close(r));
  });

  const get = (path: string, maxResponseBytes?: number) =>
    client.request<Record<string, unknown>>(server, 'GET', path, maxResponseBytes === undefined ? {} : { maxResponseBytes });

  it('has a small, a default and a large limit, the default far below the old 256 MiB', () => {
    expect(RESPONSE_LIMITS).toEqual({ small: 1024 * 1024, default: 16 * 1024 * 1024, large: 256 * 1024 * 1024 });
  });

  it("refuses an answer over the call's limit, with or without Content-Length, and keeps working", async () => {
    for (const chunked of [false, true]) {
      answer = { bytes: 2000, chunked };
      const err = await get('/_matrix/federation/v1/query/profile', 1000).catch((e: unknown) => e);
      expect(err, `chunked: ${chunked}`).toBeInstanceOf(FederationRequestError);
      expect((err as Error).message).toMatch(/1000/);
      // At the limit exactly, it is read.
      answer = { bytes: 1000, chunked };
      expect(Object.keys(await get('/_matrix/federation/v1/query/profile', 1000))).toEqual(['displayname']);
    }
  });

  it('reads at most the default (16 MiB) from endpoints that do not say', async () => {
    answer = { bytes: RESPONSE_LIMITS.default + 1, chunked: true };
    await expect(get('/_matrix/federation/v1/event/%24x')).rejects.toThrow(FederationRequestError);
    answer = { bytes: RESPONSE_LIMITS.default, chunked: false };
    expect(await get('/_matrix/federation/v1/event/%24x')).toHaveProperty('displayname');
  });

  it('lets the room-state endpoints answer more than the default', async () => {
    answer = { bytes: RESPONSE_LIMITS.default + 1024 * 1024, chunked: false };
    for (const path of ['/_matrix/federation/v1/state/%21r', '/_matrix/federation/v1/state_ids/%21r', '/_matrix/federation/v1/event_auth/%21r/%24e',
      '/_matrix/federation/v1/backfill/%21r', '/_matrix/federation/v1/get_missing_events/%21r']) {
      expect(await get(path), path).toHaveProperty('displayname');
    }
    // The call's own limit wins over the endpoint's.
    await expect(get('/_matrix/federation/v1/state/%21r', RESPONSE_LIMITS.small)).rejects.toThrow(FederationRequestError);
  });

  it('a profile query reads at most 1 MiB: a larger answer is a clean 502 for the client', async () => {
    const queries = new FederationQueries({ serverName: 'tester.example', client } as unknown as FederationQueryDeps);
    const userId = `@someone:${server}`;
    answer = { bytes: 2 * 1024 * 1024, chunked: true };
    const before = requests;
    const err = await queries.profile(userId, '@me:tester.example').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MatrixError);
    expect(err).toMatchObject({ errcode: 'M_UNKNOWN', status: 502 });
    expect(requests).toBe(before + 1);
    const fieldErr = await queries.profileField(userId, 'displayname', '@me:tester.example').catch((e: unknown) => e);
    expect(fieldErr).toMatchObject({ errcode: 'M_UNKNOWN', status: 502 });
    answer = { bytes: 1000, chunked: false };
    expect(await queries.profile(userId, '@me:tester.example')).toHaveProperty('displayname');
  });
});
