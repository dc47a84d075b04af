// KeyRing with other servers played by a stub client (the servers are outside the process): key
// responses must be self-signed and name the right server, validity is capped at 7 days and
// enforced, expired keys are fetched again, notary answers must carry the notary's signature,
// and fetches are not repeated too often.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKey, signJson, type SigningKey } from '../../../src/core/crypto.js';
import { openStorage, type Storage } from '../../../src/storage/index.js';
import { KeyRing, MAX_KEY_VALIDITY_MS, parseKeyResponse } from '../../../src/services/federation/keyring.js';
import { FederationRequestError, type FederationClient } from '../../../src/services/federation/client.js';

const DAY = 24 * 3600_000;
const key = (v: string): SigningKey => { const k = generateSigningKey(v); if (!k.ok) throw new Error(k.reason); return k.value; };
const own = key('own');
const remote = key('r1');
const notary = key('n1');
const NOW = 1_700_000_000_000;

function keyResponse(server: string, k: SigningKey, validUntil: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const signed = signJson({ server_name: server, verify_keys: { [k.keyId]: { key: k.publicKeyBase64 } }, old_verify_keys: {}, valid_until_ts: validUntil, ...extra }, server, k);
  if (!signed.ok) throw new Error(signed.reason);
  return signed.value;
}

describe('parseKeyResponse', () => {
  it('accepts a self-signed response and caps its validity at 7 days', () => {
    const r = parseKeyResponse(keyResponse('r.example', remote, NOW + 30 * DAY), 'r.example', NOW);
    expect(r).toMatchObject({ ok: true, value: { validUntilTs: NOW + MAX_KEY_VALIDITY_MS } });
  });
  it.each([
    ['another server name', keyResponse('other.example', remote, NOW + DAY)],
    ['no self-signature', { ...keyResponse('r.example', remote, NOW + DAY), signatures: {} }],
    ['a signature by another key', keyResponse('r.example', notary, NOW + DAY, { verify_keys: { [remote.keyId]: { key: remote.publicKeyBase64 } } })],
    ['a tampered body', { ...keyResponse('r.example', remote, NOW + DAY), valid_until_ts: NOW + 2 * DAY }],
    ['no valid_until_ts', { ...keyResponse('r.example', remote, NOW + DAY), valid_until_ts: 'soon' }],
    ['not an object', []],
  ])('rejects %s', (_what, json) => {
    expect(parseKeyResponse(json, 'r.example', NOW).ok).toBe(false);
  });
});

describe('KeyRing', () => {
  let dir: string;
  let storage: Storage;
  let now: number;
  let calls: string[];
  let answers: Map<string, () => unknown>;

  const ring = (trusted: Array<{ server_name: string; verify_keys: Record<string, string> }> = []) => new KeyRing({
    serverName: 'own.example', signingKey: own, oldVerifyKeys: {}, trustedKeyServers: trusted, store: storage.federation, log: pino({ level: 'silent' }),
    now: () => now,
    client: {
      request: async (server: string, method: string, path: string) => {
        calls.push(`${method} ${server}${path}`);
        const answer = answers.get(`${server}${path}`);
        if (!answer) throw new FederationRequestError(`${server} is down`);
        return answer();
      },
    } as unknown as FederationClient,
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-keyring-'));
    storage = await openStorage({ engine: 'sqlite', path: join(dir, 'db'), url: null, pool_size: 1 });
    now = NOW;
    calls = [];
    answers = new Map();
  });
  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers our own keys without asking anyone', async () => {
    expect(await ring().getVerifyKey('own.example', own.keyId)).toEqual({ key: own.publicKeyBase64 });
    expect(calls).toEqual([]);
  });

  it('fetches once, enforces validity, and fetches again when a key has expired', async () => {
    let validUntil = NOW + DAY;
    answers.set('r.example/_matrix/key/v2/server', () => keyResponse('r.example', remote, validUntil));
    const kr = ring();
    expect((await kr.getVerifyKey('r.example', remote.keyId, NOW))?.key).toBe(remote.publicKeyBase64);
    expect(await kr.getVerifyKey('r.example', remote.keyId, NOW + 1000)).toBeDefined();
    expect(calls).toHaveLength(1);
    // An event from after the key's validity: the key is fetched again (after the 30 s pause)...
    now += 60_000;
    expect(await kr.getVerifyKey('r.example', remote.keyId, NOW + 2 * DAY)).toBeUndefined();
    expect(calls).toHaveLength(2);
    // ...and once the server publishes a longer validity, it counts.
    validUntil = NOW + 3 * DAY;
    now += 60_000;
    expect(await kr.getVerifyKey('r.example', remote.keyId, NOW + 2 * DAY)).toBeDefined();
    // An unknown key ID does not make the ring ask again within 30 s.
    const before = calls.length;
    expect(await kr.getVerifyKey('r.example', 'ed25519:unknown')).toBeUndefined();
    expect(calls.length).toBe(before);
  });

  it('refuses a forged direct answer and a notary answer without the notary\'s signature; takes a signed one', async () => {
    answers.set('r.example/_matrix/key/v2/server', () => keyResponse('r.example', notary, NOW + DAY, { verify_keys: { [remote.keyId]: { key: remote.publicKeyBase64 } } }));
    const trusted = [{ server_name: 'notary.example', verify_keys: { [notary.keyId]: notary.publicKeyBase64 } }];
    let notarySigns = false;
    answers.set('notary.example/_matrix/key/v2/query', () => {
      const entry = keyResponse('r.example', remote, NOW + DAY);
      const signed = signJson(entry, 'notary.example', notarySigns ? notary : key('fake'));
      return { server_keys: [signed.ok ? signed.value : entry] };
    });
    const kr = ring(trusted);
    expect(await kr.getVerifyKey('r.example', remote.keyId)).toBeUndefined();
    expect(calls).toEqual(['GET r.example/_matrix/key/v2/server', 'POST notary.example/_matrix/key/v2/query']);
    notarySigns = true;
    now += 60_000;
    expect((await kr.getVerifyKey('r.example', remote.keyId))?.key).toBe(remote.publicKeyBase64);
    // Stored for the notary endpoint with the server's own signature only.
    const stored = JSON.parse((await storage.federation.keyResponse('r.example'))!.json) as { signatures: Record<string, unknown> };
    expect(Object.keys(stored.signatures)).toEqual(['r.example']);
  });

  it('fetches each server once for a batch of needs, concurrently asked', async () => {
    answers.set('r.example/_matrix/key/v2/server', () => keyResponse('r.example', remote, NOW + DAY));
    const kr = ring();
    const lookup = await kr.prepareLookup([
      { serverName: 'r.example', keyId: remote.keyId }, { serverName: 'r.example', keyId: remote.keyId, validAt: NOW },
      { serverName: 'own.example', keyId: own.keyId }, { serverName: 'down.example', keyId: 'ed25519:x' },
    ]);
    expect(calls.filter((c) => c.includes('r.example'))).toHaveLength(1);
    expect(lookup('r.example', remote.keyId)).toMatchObject({ key: remote.publicKeyBase64 });
    expect(lookup('own.example', own.keyId)).toEqual({ key: own.publicKeyBase64 });
    expect(lookup('down.example', 'ed25519:x')).toBeUndefined();
  });
});
