// Server keys: our own self-signed key response with old keys, the notary endpoints (GET and POST,
// answers countersigned by us, cached keys served when the server is down), and fetching keys
// through a trusted key server when the server itself cannot be reached.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, verifyJsonSignature } from '../../../src/core/crypto.js';
import { ENGINES } from '../../helpers/databases.js';
import { federationFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';

const oldKey = generateSigningKey('old1');
if (!oldKey.ok) throw new Error(oldKey.reason);
const OLD_KEY = oldKey.value.publicKeyBase64;

type KeyResponse = { server_name: string; verify_keys: Record<string, { key: string }>; old_verify_keys: Record<string, { key: string; expired_ts: number }>; valid_until_ts: number; signatures: Record<string, Record<string, string>> };

function signedBy(json: KeyResponse, server: FederatedServer): boolean {
  const key = server.hs.signingKey;
  return verifyJsonSignature(json, server.serverName, (e, id) => (e === server.serverName && id === key.keyId ? { key: key.publicKeyBase64 } : undefined)).ok;
}

describe.each(ENGINES)('federation keys (%s)', (engine) => {
  let a: FederatedServer;
  let c: FederatedServer | undefined;
  let cKeyId: string;

  beforeAll(async () => {
    [a, c] = await startFederation(engine, 2, { federation: { old_verify_keys: { 'ed25519:old1': { key: OLD_KEY, expired_ts: 1_532_645_052_628 } } } });
    cKeyId = c!.hs.signingKey.keyId;
  });
  afterAll(async () => {
    await a?.close();
    await c?.close();
  });

  it('publishes a self-signed key response with old keys and a validity', async () => {
    const r = await federationFetch(a, 'GET', '/_matrix/key/v2/server');
    expect(r.status).toBe(200);
    const json = r.body as unknown as KeyResponse;
    expect(json.server_name).toBe(a.serverName);
    expect(json.verify_keys[a.hs.signingKey.keyId]).toEqual({ key: a.hs.signingKey.publicKeyBase64 });
    expect(json.old_verify_keys).toEqual({ 'ed25519:old1': { key: OLD_KEY, expired_ts: 1_532_645_052_628 } });
    expect(json.valid_until_ts).toBeGreaterThan(Date.now() + 3600_000);
    expect(signedBy(json, a)).toBe(true);
    // A tampered copy no longer verifies.
    expect(signedBy({ ...json, valid_until_ts: json.valid_until_ts + 1 }, a)).toBe(false);
  });

  it('notary: answers for itself and for another server, countersigned', async () => {
    const own = await federationFetch(a, 'GET', `/_matrix/key/v2/query/${encodeURIComponent(a.serverName)}`);
    expect(own.status).toBe(200);
    const [ownKeys] = own.body.server_keys as KeyResponse[];
    expect(signedBy(ownKeys!, a)).toBe(true);

    const c1 = c!;
    const other = await federationFetch(a, 'POST', '/_matrix/key/v2/query', {
      body: JSON.stringify({ server_keys: { [c1.serverName]: { [cKeyId]: { minimum_valid_until_ts: Date.now() } } } }),
    });
    expect(other.status).toBe(200);
    const list = other.body.server_keys as KeyResponse[];
    expect(list).toHaveLength(1);
    expect(list[0]!.server_name).toBe(c1.serverName);
    expect(list[0]!.verify_keys[cKeyId]!.key).toBe(c1.hs.signingKey.publicKeyBase64);
    expect(signedBy(list[0]!, c1)).toBe(true);
    expect(signedBy(list[0]!, a)).toBe(true);
  });

  it('notary: no keys for a server that cannot be reached, bad input rejected', async () => {
    const r = await federationFetch(a, 'POST', '/_matrix/key/v2/query', { body: JSON.stringify({ server_keys: { '127.0.0.1:1': {} } }) });
    expect(r.status).toBe(200);
    expect(r.body.server_keys).toEqual([]);
    const empty = await federationFetch(a, 'POST', '/_matrix/key/v2/query', { body: JSON.stringify({ server_keys: {} }) });
    expect(empty.body).toEqual({ server_keys: [] });
    const bad = await federationFetch(a, 'POST', '/_matrix/key/v2/query', { body: JSON.stringify({ server_keys: [] }) });
    expect(bad.status).toBe(400);
    const badName = await federationFetch(a, 'GET', '/_matrix/key/v2/query/not%20a%20server');
    expect(badName.status).toBe(400);
  });

  it('fetches keys directly, caches them, and gets them through a trusted key server once the server is down', async () => {
    // A fetched C's keys above (notary query). A third server trusts A as a key server.
    const b = (await startFederation(engine, 1, {
      federation: { trusted_key_servers: [{ server_name: a.serverName, verify_keys: { [a.hs.signingKey.keyId]: a.hs.signingKey.publicKeyBase64 } }] },
    }))[0]!;
    try {
      const direct = await b.hs.keyRing.getVerifyKey(a.serverName, a.hs.signingKey.keyId, Date.now());
      expect(direct?.key).toBe(a.hs.signingKey.publicKeyBase64);
      expect(direct?.validUntilTs).toBeGreaterThan(Date.now());
      expect(await b.hs.keyRing.getVerifyKey(a.serverName, 'ed25519:old1')).toMatchObject({ key: OLD_KEY, expiredTs: 1_532_645_052_628 });
      // An old key is not valid after it expired.
      expect(await b.hs.keyRing.getVerifyKey(a.serverName, 'ed25519:old1', Date.now())).toBeUndefined();

      const cName = c!.serverName;
      const cKey = c!.hs.signingKey.publicKeyBase64;
      await c!.close(); // C is down from here on; B has never seen its keys
      c = undefined;
      const viaNotary = await b.hs.keyRing.getVerifyKey(cName, cKeyId, Date.now());
      expect(viaNotary?.key).toBe(cKey);
      // Stored: the key is there after a restart without asking anyone.
      const b2 = await b.restart();
      try {
        const lookup = await b2.hs.keyRing.prepareLookup([{ serverName: cName, keyId: cKeyId }]);
        expect(lookup(cName, cKeyId)).toMatchObject({ key: cKey });
        expect(lookup(cName, 'ed25519:nope')).toBeUndefined();
      } finally {
        await b2.close();
      }
    } catch (err) {
      await b.close().catch(() => undefined);
      throw err;
    }
  });
});
