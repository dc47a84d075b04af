// Other servers' signing keys: fetched from the server itself (/_matrix/key/v2/server) or through
// the configured trusted key servers (notaries, /_matrix/key/v2/query), checked, cached in memory
// and in the database. Our own keys are answered from the signing key and the configured old keys.
// spec: server-server-api "Retrieving server keys"
import type { Logger } from 'pino';
import { ED25519, isValidSigningKeyId, signJson, verifyJsonSignature, type KeyLookup, type SigningKey, type VerifyKey } from '../../core/crypto.js';
import { decodeBase64 } from '../../core/json.js';
import type { Verdict } from '../../core/pdu.js';
import { reject } from '../../core/pdu.js';
import type { FederationStore, StoredServerKey } from '../../storage/federation.js';
import { RESPONSE_LIMITS, type FederationClient } from './client.js';

/** spec: "Servers MUST use the lesser of this field and 7 days into the future". */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600_000;
/** How long our own key response says it is valid for (Synapse publishes one day too). */
const OWN_KEY_VALIDITY_MS = 24 * 3600_000;
/** A server whose keys were fetched this recently is not asked again for a key it lacked. */
const REFETCH_AFTER_MS = 30_000;

export interface TrustedKeyServer {
  server_name: string;
  /** keyId → unpadded base64 public key the notary signs its answers with. */
  verify_keys: Record<string, string>;
}

export interface OldVerifyKey { key: string; expired_ts: number }

export interface KeyRingOptions {
  serverName: string;
  signingKey: SigningKey;
  oldVerifyKeys: Record<string, OldVerifyKey>;
  trustedKeyServers: TrustedKeyServer[];
  store: FederationStore;
  client: FederationClient;
  log: Logger;
  now?: () => number;
}

export interface KeyNeed { serverName: string; keyId: string; validAt?: number }

/** A checked key response: its keys and the time until which the response may be trusted. */
export interface ParsedKeyResponse {
  keys: StoredServerKey[];
  validUntilTs: number;
}

/**
 * Checks a /_matrix/key/v2/server response of `serverName`: shape, server name, and a valid
 * self-signature by at least one of the verify keys it lists (spec: "Checking for a Signature").
 * valid_until_ts is capped at 7 days from `now`.
 */
export function parseKeyResponse(json: unknown, serverName: string, now: number): Verdict<ParsedKeyResponse> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return reject('M_BAD_JSON', 'key response is not an object');
  const r = json as Record<string, unknown>;
  if (r.server_name !== serverName) return reject('M_UNAUTHORIZED', `key response is for ${JSON.stringify(r.server_name)}, not ${serverName}`);
  if (typeof r.valid_until_ts !== 'number' || !Number.isInteger(r.valid_until_ts)) return reject('M_BAD_JSON', 'key response has no valid_until_ts');
  const validUntilTs = Math.min(r.valid_until_ts, now + MAX_KEY_VALIDITY_MS);
  const keys: StoredServerKey[] = [];
  const current = new Map<string, string>();
  if (typeof r.verify_keys !== 'object' || r.verify_keys === null || Array.isArray(r.verify_keys)) return reject('M_BAD_JSON', 'key response has no verify_keys');
  for (const [keyId, v] of Object.entries(r.verify_keys as Record<string, unknown>)) {
    const key = (v as { key?: unknown } | null)?.key;
    if (!isValidSigningKeyId(keyId) || typeof key !== 'string' || decodeBase64(key)?.length !== 32) continue; // other algorithms, junk
    current.set(keyId, key);
    keys.push({ serverName, keyId, key, validUntilTs, expiredTs: null });
  }
  const old = r.old_verify_keys;
  if (typeof old === 'object' && old !== null && !Array.isArray(old)) {
    for (const [keyId, v] of Object.entries(old as Record<string, unknown>)) {
      const o = v as { key?: unknown; expired_ts?: unknown } | null;
      if (!isValidSigningKeyId(keyId) || current.has(keyId) || typeof o?.key !== 'string' || decodeBase64(o.key)?.length !== 32) continue;
      if (typeof o.expired_ts !== 'number' || !Number.isInteger(o.expired_ts)) continue;
      keys.push({ serverName, keyId, key: o.key, validUntilTs: null, expiredTs: o.expired_ts });
    }
  }
  const selfSigned = verifyJsonSignature(r, serverName, (entity, keyId) => (entity === serverName && current.has(keyId) ? { key: current.get(keyId)! } : undefined));
  if (!selfSigned.ok) return reject('M_UNAUTHORIZED', `key response of ${serverName} is not self-signed: ${selfSigned.reason}`);
  return { ok: true, value: { keys, validUntilTs } };
}

export class KeyRing {
  private readonly now: () => number;
  /** serverName → keyId → key, for servers loaded from the database or fetched. */
  private readonly cache = new Map<string, Map<string, VerifyKey>>();
  private readonly loading = new Map<string, Promise<Map<string, VerifyKey>>>();
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly lastFetch = new Map<string, number>();
  private readonly ownKeys: Map<string, VerifyKey>;

  constructor(private readonly opts: KeyRingOptions) {
    this.now = opts.now ?? Date.now;
    this.ownKeys = new Map<string, VerifyKey>([[opts.signingKey.keyId, { key: opts.signingKey.publicKeyBase64 }]]);
    for (const [keyId, old] of Object.entries(opts.oldVerifyKeys)) this.ownKeys.set(keyId, { key: old.key, expiredTs: old.expired_ts });
  }

  /** The verify key `keyId` of `serverName`, fetched as needed; with `validAt`, only a key valid at that time. */
  async getVerifyKey(serverName: string, keyId: string, validAt?: number): Promise<VerifyKey | undefined> {
    if (serverName === this.opts.serverName) return this.ownKeys.get(keyId);
    if (!keyId.startsWith(`${ED25519}:`)) return undefined;
    const known = (await this.load(serverName)).get(keyId);
    if (known !== undefined && isValidAt(known, validAt)) return known;
    const last = this.lastFetch.get(serverName);
    if (last === undefined || this.now() - last >= REFETCH_AFTER_MS || this.fetching.has(serverName)) {
      await this.fetch(serverName);
    }
    const fetched = this.cache.get(serverName)?.get(keyId);
    return fetched !== undefined && isValidAt(fetched, validAt) ? fetched : undefined;
  }

  /** Makes sure every needed key is known (fetching each server's keys once) and returns a synchronous lookup. */
  async prepareLookup(needs: Iterable<KeyNeed>): Promise<KeyLookup> {
    const seen = new Set<string>();
    const pending: Array<Promise<unknown>> = [];
    for (const n of needs) {
      const id = `${n.serverName}\u0000${n.keyId}\u0000${n.validAt ?? ''}`;
      if (seen.has(id)) continue;
      seen.add(id);
      pending.push(this.getVerifyKey(n.serverName, n.keyId, n.validAt).catch(() => undefined));
    }
    await Promise.all(pending);
    return (entity, keyId) => (entity === this.opts.serverName ? this.ownKeys.get(keyId) : this.cache.get(entity)?.get(keyId));
  }

  /** Our own /_matrix/key/v2/server response, signed by us. */
  ownKeyResponse(): Record<string, unknown> {
    const { signingKey, serverName, oldVerifyKeys } = this.opts;
    const response = {
      server_name: serverName,
      verify_keys: { [signingKey.keyId]: { key: signingKey.publicKeyBase64 } },
      old_verify_keys: Object.fromEntries(Object.entries(oldVerifyKeys).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }])),
      valid_until_ts: this.now() + OWN_KEY_VALIDITY_MS,
    };
    const signed = signJson(response, serverName, signingKey);
    if (!signed.ok) throw new Error(signed.reason);
    return signed.value;
  }

  /**
   * The notary answer for `serverName` (spec: /_matrix/key/v2/query): the server's own response,
   * fetched again when the cached one expires before `minimumValidUntilTs`, countersigned by us.
   * An unreachable server's last response is still returned; none at all gives undefined.
   */
  async notaryResponse(serverName: string, minimumValidUntilTs: number): Promise<Record<string, unknown> | undefined> {
    if (serverName === this.opts.serverName) return this.ownKeyResponse();
    let cached = await this.opts.store.keyResponse(serverName);
    if (cached === undefined || cached.validUntilTs < minimumValidUntilTs) {
      const last = this.lastFetch.get(serverName);
      if (last === undefined || this.now() - last >= REFETCH_AFTER_MS || this.fetching.has(serverName)) await this.fetch(serverName, { direct: true });
      cached = await this.opts.store.keyResponse(serverName);
    }
    if (cached === undefined) return undefined;
    const signed = signJson(JSON.parse(cached.json) as Record<string, unknown>, this.opts.serverName, this.opts.signingKey);
    return signed.ok ? signed.value : undefined;
  }

  private async load(serverName: string): Promise<Map<string, VerifyKey>> {
    const cached = this.cache.get(serverName);
    if (cached !== undefined) return cached;
    let p = this.loading.get(serverName);
    if (p === undefined) {
      p = this.opts.store.serverKeys(serverName).then((rows) => {
        const keys = this.cache.get(serverName) ?? new Map<string, VerifyKey>();
        for (const r of rows) if (!keys.has(r.keyId)) keys.set(r.keyId, toVerifyKey(r));
        this.cache.set(serverName, keys);
        return keys;
      }).finally(() => this.loading.delete(serverName));
      this.loading.set(serverName, p);
    }
    return p;
  }

  /** One fetch at a time per server: direct first, then each trusted key server. */
  private fetch(serverName: string, o: { direct?: boolean } = {}): Promise<void> {
    let p = this.fetching.get(serverName);
    if (p === undefined) {
      p = this.fetchNow(serverName, o.direct ?? false).finally(() => {
        this.fetching.delete(serverName);
        this.lastFetch.set(serverName, this.now());
      });
      this.fetching.set(serverName, p);
    }
    return p;
  }

  private async fetchNow(serverName: string, directOnly: boolean): Promise<void> {
    try {
      const json = await this.opts.client.request(serverName, 'GET', '/_matrix/key/v2/server', { unsigned: true, maxResponseBytes: RESPONSE_LIMITS.small });
      const parsed = parseKeyResponse(json, serverName, this.now());
      if (!parsed.ok) throw new Error(parsed.reason);
      await this.remember(serverName, JSON.stringify(json), parsed.value);
      return;
    } catch (err) {
      this.opts.log.info({ server: serverName, err: (err as Error).message }, 'fetching server keys directly failed');
    }
    if (directOnly) return;
    for (const notary of this.opts.trustedKeyServers) {
      if (notary.server_name === serverName) continue;
      try {
        const answer = await this.opts.client.request<{ server_keys?: unknown }>(notary.server_name, 'POST', '/_matrix/key/v2/query', {
          body: { server_keys: { [serverName]: {} } }, maxResponseBytes: RESPONSE_LIMITS.small, // one server's keys
        });
        if (!Array.isArray(answer.server_keys)) throw new Error('notary answer has no server_keys list');
        let found = false;
        for (const entry of answer.server_keys) {
          const notarised = verifyJsonSignature(entry as Record<string, unknown>, notary.server_name,
            (entity, keyId) => (entity === notary.server_name && notary.verify_keys[keyId] !== undefined ? { key: notary.verify_keys[keyId] } : undefined));
          if (!notarised.ok) throw new Error(`notary answer not signed by ${notary.server_name}: ${notarised.reason}`);
          const parsed = parseKeyResponse(entry, serverName, this.now());
          if (!parsed.ok) continue;
          // Keep only the server's own signature: the response may be served again by our notary endpoint.
          const own = { ...(entry as Record<string, unknown>) };
          own.signatures = { [serverName]: (own.signatures as Record<string, unknown>)[serverName] };
          await this.remember(serverName, JSON.stringify(own), parsed.value);
          found = true;
        }
        if (found) return;
      } catch (err) {
        this.opts.log.info({ server: serverName, notary: notary.server_name, err: (err as Error).message }, 'fetching server keys through a notary failed');
      }
    }
  }

  private async remember(serverName: string, json: string, parsed: ParsedKeyResponse): Promise<void> {
    await this.opts.store.storeKeyResponse(serverName, json, parsed.validUntilTs, parsed.keys, this.now());
    const keys = this.cache.get(serverName) ?? new Map<string, VerifyKey>();
    for (const k of parsed.keys) keys.set(k.keyId, toVerifyKey(k));
    this.cache.set(serverName, keys);
  }
}

function toVerifyKey(k: StoredServerKey): VerifyKey {
  return {
    key: k.key,
    ...(k.validUntilTs !== null ? { validUntilTs: k.validUntilTs } : {}),
    ...(k.expiredTs !== null ? { expiredTs: k.expiredTs } : {}),
  };
}

/** Whether the key may be used for a signature made at `ts` (any time when undefined). */
function isValidAt(k: VerifyKey, ts: number | undefined): boolean {
  if (ts === undefined) return true;
  if (k.expiredTs !== undefined) return ts <= k.expiredTs;
  return k.validUntilTs === undefined || ts <= k.validUntilTs;
}
