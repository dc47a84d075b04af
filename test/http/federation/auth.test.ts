// Inbound X-Matrix authentication: every federation request must be signed by the origin's
// current key over its method, URI, destination and body, and be meant for us. Anything else is
// 401 M_UNAUTHORIZED and changes nothing. /version and the key endpoints need no signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../../src/core/crypto.js';
import { ENGINES } from '../../helpers/databases.js';
import { federationFetch, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';

const otherKey = (() => { const k = generateSigningKey(process.pid.toString(36).replace(/[^a-z0-9]/g, '') || 'x'); if (!k.ok) throw new Error(k.reason); return k.value; })();

describe.each(ENGINES)('federation request authentication (%s)', (engine) => {
  let a: FederatedServer;
  let b: FederatedServer;
  let alice: { userId: string; deviceId: string; client: import('../../helpers/client.js').Client };
  const txn = (n: string, messageId = n) => ({
    origin: b.serverName, origin_server_ts: Date.now(), pdus: [],
    edus: [{ edu_type: 'm.direct_to_device', content: { sender: `@bob:${b.serverName}`, type: 'm.test', message_id: messageId, messages: { [alice.userId]: { '*': { n } } } } }],
  });
  let since: string | undefined;
  /** The to-device messages alice received since the last call, by the `n` they carried. */
  const delivered = async (): Promise<string[]> => {
    const r = await alice.client.get<{ next_batch: string; to_device?: { events: Array<{ content: { n: string } }> } }>(`/_matrix/client/v3/sync?timeout=0${since ? `&since=${since}` : ''}`);
    since = r.body.next_batch;
    return (r.body.to_device?.events ?? []).map((e) => e.content.n);
  };

  beforeAll(async () => {
    [a, b] = await startFederation(engine, 2);
    alice = await a.user('alice');
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('takes a correctly signed request', async () => {
    const r = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/ok1', txn('ok1'));
    expect(r).toEqual({ status: 200, body: { pdus: {} } });
    expect(await delivered()).toEqual(['ok1']);
  });

  it.each([
    ['no Authorization header', { header: () => '' }],
    ['a Bearer token', { header: () => 'Bearer abc' }],
    ['a malformed header', { header: (h: string) => h.replace('sig=', 'sig') }],
    ['another destination', { destination: 'elsewhere.example' }],
    ['another destination only in the header', { header: (h: string) => h.replace(/destination="[^"]*"/, 'destination="elsewhere.example"') }],
    ['a signature by an unknown key', { key: otherKey }],
    ['a signature by another key under the right key ID', { key: otherKey, header: (h: string) => h.replace(/key="[^"]*"/, 'key="KEYID"') }],
    ['a tampered body', { signedBody: { tampered: true } }],
    ['a tampered path', { signedPath: '/_matrix/federation/v1/send/other' }],
    ['a forged origin (our own name)', { origin: 'SELF' }],
    ['a forged origin (a server that does not exist)', { origin: '127.0.0.1:1' }],
    ['a forged signature', { header: (h: string) => h.replace(/sig="[^"]{4}/, 'sig="AAAA') }],
  ])('rejects %s with 401 and changes nothing', async (_what, forge) => {
    const f = { ...forge } as Parameters<typeof signedFetch>[5] & { header?: (h: string) => string };
    if (f.origin === 'SELF') f.origin = a.serverName;
    const header = f.header;
    if (header) f.header = (h) => header(h).replace('KEYID', b.hs.signingKey.keyId);
    const r = await signedFetch(b, a, 'PUT', '/_matrix/federation/v1/send/forged', txn('forged'), f);
    if (header && header('x') === '') {
      // no header at all
      const raw = await federationFetch(a, 'PUT', '/_matrix/federation/v1/send/forged', { body: JSON.stringify(txn('forged')) });
      expect(raw.status).toBe(401);
      expect(raw.body.errcode).toBe('M_UNAUTHORIZED');
    } else {
      expect(r.status).toBe(401);
      expect(r.body.errcode).toBe('M_UNAUTHORIZED');
    }
    expect(await delivered()).toEqual([]);
  });

  it('serves /version and the key endpoints without a signature', async () => {
    const v = await federationFetch(a, 'GET', '/_matrix/federation/v1/version');
    expect(v.status).toBe(200);
    expect(v.body).toEqual({ server: { name: 'Weft', version: expect.any(String) } });
    expect((await federationFetch(a, 'GET', '/_matrix/key/v2/server')).status).toBe(200);
  });

  it('answers unknown federation endpoints 404 M_UNRECOGNIZED and wrong methods 405', async () => {
    const r = await signedFetch(b, a, 'GET', '/_matrix/federation/v1/nonexistent');
    expect(r.status).toBe(404);
    expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    const m = await signedFetch(b, a, 'POST', '/_matrix/federation/v1/send/x', {});
    expect(m.status).toBe(405);
    expect(m.body.errcode).toBe('M_UNRECOGNIZED');
  });
});
