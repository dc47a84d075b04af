// End-to-end encryption keys: device keys, one-time and fallback keys (keys/upload, query,
// claim), cross-signing keys and signatures (keys/device_signing/upload, keys/signatures/upload).
// Every key and signature is checked before anything is stored.
// spec: client-server-api modules/end_to_end_encryption "Key Distribution", "Cross-signing"
import { domainOf, isValidUserId } from '../../core/identifiers.js';
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { MatrixError, badJson, forbidden, invalidParam, missingParam } from '../../errors.js';
import type { CrossSigningKeyRow, CrossSigningKeyType, SignatureRow, StoredKey } from '../../storage/e2e-keys.js';
import type { Storage } from '../../storage/index.js';
import { KeyedMutex } from '../keyed-mutex.js';
import type { DeviceListService } from './device-lists.js';
import {
  ED25519, canonicalKeyJson, checkSignaturesShape, invalidSignature, isBase64Key, isIdentifier, isObject, parseKeyId,
  sameSignedContent, signatureBy, stringMap, verifySignature,
} from './signed.js';

/**
 * One-time keys accepted in one upload: what a device can hold (libolm keeps at most 100; its
 * successor vodozemac fewer), so a larger upload is a bug or an abuse.
 */
export const MAX_ONE_TIME_KEYS_PER_UPLOAD = 100;

export interface Device { userId: string; deviceId: string }

/** A remote server this server cannot reach: every one of them, until federation exists. */
const NO_FEDERATION = { status: 503, message: 'Federation is not available on this server yet' };

export interface KeysQueryResult {
  device_keys: Record<string, Record<string, JsonObject>>;
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  user_signing_keys: Record<string, JsonObject>;
  failures: Record<string, JsonObject>;
}

export interface KeysClaimResult {
  one_time_keys: Record<string, Record<string, Record<string, JsonValue>>>;
  failures: Record<string, JsonObject>;
}

type Failure = { errcode: string; error: string };
const failure = (errcode: string, error: string): Failure => ({ errcode, error });

interface ParsedCrossSigningKey { type: CrossSigningKeyType; publicKey: string; object: JsonObject; json: string }

const CROSS_SIGNING_FIELDS: Array<[CrossSigningKeyType, 'master_key' | 'self_signing_key' | 'user_signing_key']> = [
  ['master', 'master_key'], ['self_signing', 'self_signing_key'], ['user_signing', 'user_signing_key'],
];

export class E2eKeyService {
  /** One upload per device at a time: duplicate one-time key checks see each other's writes. */
  private readonly uploads = new KeyedMutex();

  constructor(
    private readonly storage: Storage,
    private readonly deviceLists: DeviceListService,
    private readonly serverName: string,
  ) {}

  // ---- keys/upload ----

  /** POST /keys/upload. Returns the device's unclaimed one-time key counts. */
  async upload(device: Device, body: { device_keys?: JsonValue; one_time_keys?: JsonValue; fallback_keys?: JsonValue }): Promise<{ one_time_key_counts: Record<string, number> }> {
    const { userId, deviceId } = device;
    return this.uploads.run(`${userId}|${deviceId}`, async () => {
      // An empty device_keys object means "no new identity keys", as Synapse reads it.
      const uploaded = isObject(body.device_keys) && Object.keys(body.device_keys).length === 0 ? undefined : body.device_keys;
      let deviceKeysJson: string | undefined;
      let ed25519Key: string | undefined;
      if (uploaded !== undefined) {
        const checked = await this.checkDeviceKeys(uploaded, device);
        deviceKeysJson = checked.json;
        ed25519Key = checked.ed25519;
      } else {
        const stored = await this.storage.e2eKeys.deviceKeys(userId, deviceId);
        if (stored !== undefined) ed25519Key = (JSON.parse(stored) as { keys: Record<string, string> }).keys[`${ED25519}:${deviceId}`];
      }
      const oneTimeKeys = body.one_time_keys === undefined ? [] : checkOneTimeKeys(body.one_time_keys, 'one_time_keys', device, ed25519Key);
      if (oneTimeKeys.length > MAX_ONE_TIME_KEYS_PER_UPLOAD) {
        throw new MatrixError('M_TOO_LARGE', `At most ${MAX_ONE_TIME_KEYS_PER_UPLOAD} one-time keys may be uploaded at once`, 413);
      }
      const fallbackKeys = body.fallback_keys === undefined ? [] : checkOneTimeKeys(body.fallback_keys, 'fallback_keys', device, ed25519Key);
      // spec: keys/upload fallback_keys "There can only be at most one key per algorithm uploaded".
      if (new Set(fallbackKeys.map((k) => k.algorithm)).size !== fallbackKeys.length) throw invalidParam('At most one fallback key per algorithm may be uploaded');

      const result = await this.storage.e2eKeys.upload(userId, deviceId, { deviceKeys: deviceKeysJson, oneTimeKeys, fallbackKeys });
      if (!result.ok) throw invalidParam(`One-time key ${result.conflict} already exists with a different value`);
      if (result.deviceKeysChanged) await this.deviceLists.keysChanged(userId, [deviceId]);
      return { one_time_key_counts: await this.deviceLists.oneTimeKeyCounts(userId, deviceId) };
    });
  }

  /** spec: definitions/device_keys.yaml, "Uploading keys": signed by the device's own ed25519 key. */
  private async checkDeviceKeys(dk: JsonValue, { userId, deviceId }: Device): Promise<{ json: string; ed25519: string }> {
    if (!isObject(dk)) throw badJson('`device_keys` must be an object');
    if (typeof dk.user_id !== 'string') throw badJson('`device_keys.user_id` must be a string');
    if (typeof dk.device_id !== 'string') throw badJson('`device_keys.device_id` must be a string');
    if (dk.user_id !== userId) throw forbidden(`Device keys may only be uploaded for your own user (${userId})`);
    if (dk.device_id !== deviceId) throw forbidden(`Device keys may only be uploaded for the device you are using (${deviceId})`);
    if (!Array.isArray(dk.algorithms) || !dk.algorithms.every((a) => typeof a === 'string')) throw badJson('`device_keys.algorithms` must be an array of strings');
    const keys = stringMap(dk.keys, 'device_keys.keys');
    for (const name of Object.keys(keys)) {
      const id = parseKeyId(name);
      if (!id) throw invalidParam(`Key ID ${JSON.stringify(name)} is not of the form <algorithm>:<device_id>`);
      if (id.keyId !== deviceId) throw invalidParam(`Key ID ${JSON.stringify(name)} does not name device ${deviceId}`);
    }
    const keyId = `${ED25519}:${deviceId}`;
    const ed25519 = keys[keyId];
    if (ed25519 === undefined) throw invalidParam(`Device keys must include the device's ${keyId} key`);
    if (!isBase64Key(ed25519)) throw invalidParam(`${keyId} is not an unpadded base64 ed25519 key`);
    checkSignaturesShape(dk.signatures, 'device_keys.signatures');
    const signature = signatureBy(dk, userId, keyId);
    if (signature === undefined) throw invalidSignature(`Device keys must be signed by the device's own key ${keyId}`);
    if (!verifySignature(dk, signature, ed25519)) throw invalidSignature(`Invalid signature by ${keyId} on the device keys`);
    // Device IDs and cross-signing public keys share one namespace (spec: "Cross-signing").
    const crossSigning = await this.storage.e2eKeys.crossSigningKeysOf([userId]);
    if (crossSigning.some((k) => k.publicKey === deviceId)) throw forbidden('This device ID is a cross-signing key of yours');
    // Only the device's own signature is kept: signatures by the self-signing key come through
    // keys/signatures/upload, where they are checked.
    const json = canonicalKeyJson({ ...dk, signatures: { [userId]: { [keyId]: signature } } }, '`device_keys`');
    return { json, ed25519 };
  }

  // ---- keys/query ----

  /** POST /keys/query for `requester`. `deviceKeys` maps user IDs to device IDs (empty: all). */
  async query(requester: string, deviceKeys: Record<string, unknown>): Promise<KeysQueryResult> {
    const out: KeysQueryResult = { device_keys: {}, master_keys: {}, self_signing_keys: {}, user_signing_keys: {}, failures: {} };
    const wanted = new Map<string, Set<string> | null>();
    for (const [userId, devices] of Object.entries(deviceKeys)) {
      if (!isValidUserId(userId, { historical: true })) throw invalidParam(`${JSON.stringify(userId)} is not a valid user ID`);
      if (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string')) throw badJson(`\`device_keys.${userId}\` must be an array of device IDs`);
      const server = domainOf(userId) as string;
      if (server !== this.serverName) {
        out.failures[server] = NO_FEDERATION;
        continue;
      }
      wanted.set(userId, devices.length === 0 ? null : new Set(devices as string[]));
    }
    if (wanted.size === 0) return out;
    const userIds = [...wanted.keys()];
    for (const userId of userIds) out.device_keys[userId] = {};

    const [devices, signatures, crossSigning] = await Promise.all([
      this.storage.e2eKeys.deviceKeysOf(userIds),
      this.storage.e2eKeys.signaturesOn(userIds),
      this.storage.e2eKeys.crossSigningKeysOf(userIds),
    ]);
    // spec: "Key and signature security": users see signatures by the key's owner (their devices
    // and cross-signing keys) and their own; signatures by other users' user-signing keys stay hidden.
    const visible = new Map<string, Array<{ signer: string; keyId: string; signature: string }>>();
    for (const s of signatures) {
      if (s.signerUserId !== s.targetUserId && s.signerUserId !== requester) continue;
      const key = `${s.targetUserId}|${s.targetKeyId}`;
      let list = visible.get(key);
      if (!list) visible.set(key, (list = []));
      list.push({ signer: s.signerUserId, keyId: s.signerKeyId, signature: s.signature });
    }
    const withSignatures = (userId: string, targetKeyId: string, object: JsonObject): JsonObject => {
      const extra = visible.get(`${userId}|${targetKeyId}`);
      if (!extra) return object;
      const sigs: Record<string, Record<string, JsonValue>> = {};
      for (const [signer, byKey] of Object.entries(isObject(object.signatures) ? object.signatures : {})) sigs[signer] = { ...(byKey as JsonObject) };
      for (const s of extra) (sigs[s.signer] ??= {})[s.keyId] = s.signature;
      return { ...object, signatures: sigs };
    };

    for (const d of devices) {
      const only = wanted.get(d.userId);
      if (only && !only.has(d.deviceId)) continue;
      const keys = withSignatures(d.userId, d.deviceId, JSON.parse(d.json) as JsonObject);
      // spec: keys/query "the same as uploaded via /keys/upload, with the addition of an `unsigned` property".
      out.device_keys[d.userId][d.deviceId] = d.displayName === null ? keys : { ...keys, unsigned: { device_display_name: d.displayName } };
    }
    for (const k of crossSigning) {
      const object = withSignatures(k.userId, k.publicKey, JSON.parse(k.json) as JsonObject);
      if (k.type === 'master') out.master_keys[k.userId] = object;
      else if (k.type === 'self_signing') out.self_signing_keys[k.userId] = object;
      // spec: the user-signing key is "only visible to the user that it belongs to".
      else if (k.userId === requester) out.user_signing_keys[k.userId] = object;
    }
    return out;
  }

  // ---- keys/claim ----

  /** POST /keys/claim: a one-time key per requested device and algorithm, else its fallback key. */
  async claim(oneTimeKeys: Record<string, unknown>): Promise<KeysClaimResult> {
    const out: KeysClaimResult = { one_time_keys: {}, failures: {} };
    const requests: Array<{ userId: string; deviceId: string; algorithm: string }> = [];
    for (const [userId, devices] of Object.entries(oneTimeKeys)) {
      if (!isValidUserId(userId, { historical: true })) throw invalidParam(`${JSON.stringify(userId)} is not a valid user ID`);
      if (!isObject(devices) || !Object.values(devices).every((a) => typeof a === 'string')) {
        throw badJson(`\`one_time_keys.${userId}\` must map device IDs to algorithm names`);
      }
      const server = domainOf(userId) as string;
      if (server !== this.serverName) {
        out.failures[server] = NO_FEDERATION;
        continue;
      }
      for (const [deviceId, algorithm] of Object.entries(devices as Record<string, string>)) {
        if (isIdentifier(deviceId) && isIdentifier(algorithm)) requests.push({ userId, deviceId, algorithm });
      }
    }
    for (const k of await this.storage.e2eKeys.claim(requests)) {
      ((out.one_time_keys[k.userId] ??= {})[k.deviceId] ??= {})[`${k.algorithm}:${k.keyId}`] = JSON.parse(k.json) as JsonValue;
    }
    return out;
  }

  // ---- keys/device_signing/upload ----

  /**
   * POST /keys/device_signing/upload. `authenticate` runs user-interactive authentication; it is
   * called unless the user has no master key yet, or the request repeats the stored keys exactly
   * (spec: cross_signing.yaml, "UIA ... MUST be performed ... except in these cases").
   */
  async uploadCrossSigningKeys(userId: string, body: Record<string, JsonValue | undefined>, authenticate: () => Promise<void>): Promise<void> {
    const stored = await this.crossSigningKeys(userId);
    const uploaded: ParsedCrossSigningKey[] = [];
    for (const [type, field] of CROSS_SIGNING_FIELDS) {
      const v = body[field];
      if (v !== undefined) uploaded.push(parseCrossSigningKey(v, field, type, userId));
    }
    const master = uploaded.find((k) => k.type === 'master') ?? stored.get('master');
    if (!master) throw missingParam('No master key is available: upload `master_key`');
    for (const k of uploaded) {
      if (k.type === 'master') {
        await this.checkMasterKeySignatures(k, userId);
        continue;
      }
      // spec: "Must be signed by the accompanying master signing key, or by the user's most recently uploaded" one.
      const masterKeyId = `${ED25519}:${master.publicKey}`;
      const signature = signatureBy(k.object, userId, masterKeyId);
      if (signature === undefined || !verifySignature(k.object, signature, master.publicKey)) {
        throw invalidSignature(`The ${k.type} key must be signed by the master key ${masterKeyId}`);
      }
      // Only the master key's signature is kept: nothing else may sign these keys.
      k.json = canonicalKeyJson({ ...k.object, signatures: { [userId]: { [masterKeyId]: signature } } }, `\`${k.type}_key\``);
    }
    const devices = new Set((await this.storage.devices.listDevices(userId)).map((d) => d.deviceId));
    for (const k of uploaded) if (devices.has(k.publicKey)) throw forbidden(`The public key of the ${k.type} key is one of your device IDs`);

    const storedMaster = stored.get('master');
    const repeat = storedMaster !== undefined && uploaded.some((k) => k.type === 'master')
      && uploaded.every((k) => stored.get(k.type)?.json === k.json);
    if (storedMaster !== undefined && !repeat) await authenticate();
    const changed = uploaded.filter((k) => stored.get(k.type)?.json !== k.json);
    if (changed.length === 0) return;
    await this.storage.e2eKeys.setCrossSigningKeys(userId, changed);
    // The master and self-signing keys are everyone's business; the user-signing key only the owner's.
    const public_ = changed.filter((k) => k.type !== 'user_signing');
    if (public_.length > 0) await this.deviceLists.keysChanged(userId, public_.map((k) => k.publicKey));
    if (changed.some((k) => k.type === 'user_signing')) await this.deviceLists.keysChangedFor(userId, [userId]);
  }

  /**
   * A master key may carry signatures by the user's devices; a signature by a key the server
   * knows must be valid, and ones it cannot check are not kept.
   */
  private async checkMasterKeySignatures(k: ParsedCrossSigningKey, userId: string): Promise<void> {
    const sigs = isObject(k.object.signatures) ? k.object.signatures[userId] : undefined;
    const kept: Record<string, string> = {};
    if (isObject(sigs)) {
      for (const [keyId, signature] of Object.entries(sigs as Record<string, string>)) {
        const id = parseKeyId(keyId);
        if (id?.algorithm !== ED25519) continue;
        let publicKey: string | undefined;
        if (id.keyId === k.publicKey) publicKey = k.publicKey;
        else publicKey = await this.deviceSigningKey(userId, id.keyId);
        if (publicKey === undefined) continue;
        if (!verifySignature(k.object, signature, publicKey)) throw invalidSignature(`Invalid signature by ${keyId} on the master key`);
        kept[keyId] = signature;
      }
    }
    const { signatures: _signatures, ...rest } = k.object;
    k.json = canonicalKeyJson(Object.keys(kept).length > 0 ? { ...rest, signatures: { [userId]: kept } } : rest, '`master_key`');
  }

  /** The ed25519 key of one of the user's devices, if it has uploaded keys. */
  private async deviceSigningKey(userId: string, deviceId: string): Promise<string | undefined> {
    const json = await this.storage.e2eKeys.deviceKeys(userId, deviceId);
    if (json === undefined) return undefined;
    const keys = (JSON.parse(json) as { keys?: Record<string, string> }).keys;
    return keys?.[`${ED25519}:${deviceId}`];
  }

  // ---- keys/signatures/upload ----

  /**
   * POST /keys/signatures/upload. Accepted: the user's self-signing key signing their devices,
   * their devices signing their master key, and their user-signing key signing other users'
   * master keys. Each signed object must be the stored key; each signature must verify.
   * Anything else is reported in `failures` and not stored.
   */
  async uploadSignatures(requester: string, body: Record<string, unknown>): Promise<{ failures: Record<string, Record<string, Failure>> }> {
    const failures: Record<string, Record<string, Failure>> = {};
    const accepted: SignatureRow[] = [];
    const ownTargets: string[] = [];
    const otherUsers: string[] = [];
    const mine = await this.crossSigningKeys(requester);

    for (const [targetUserId, keys] of Object.entries(body)) {
      if (!isValidUserId(targetUserId, { historical: true })) throw invalidParam(`${JSON.stringify(targetUserId)} is not a valid user ID`);
      if (!isObject(keys)) throw badJson(`\`${targetUserId}\` must map key IDs to signed keys`);
      const local = domainOf(targetUserId) === this.serverName;
      const theirs = targetUserId === requester ? mine : local ? await this.crossSigningKeys(targetUserId) : new Map<CrossSigningKeyType, CrossSigningKeyRow>();
      for (const [keyId, signed] of Object.entries(keys)) {
        const outcome = !isObject(signed) ? failure('M_BAD_JSON', 'The signed key must be an object')
          : !local ? failure('M_NOT_FOUND', 'Keys of users on other servers are not available until federation exists')
          : await this.checkSignedKey(requester, targetUserId, keyId, signed, theirs, mine);
        if ('errcode' in outcome) {
          (failures[targetUserId] ??= {})[keyId] = outcome;
          continue;
        }
        for (const s of outcome) accepted.push({ targetUserId, targetKeyId: keyId, signerUserId: requester, signerKeyId: s.keyId, signature: s.signature });
        if (targetUserId === requester) ownTargets.push(keyId);
        else otherUsers.push(targetUserId);
      }
    }
    await this.storage.e2eKeys.addSignatures(accepted);
    if (ownTargets.length > 0) await this.deviceLists.keysChanged(requester, ownTargets);
    await this.deviceLists.keysChangedFor(requester, otherUsers);
    return { failures };
  }

  /**
   * The new signatures `requester` made on `targetUserId`'s key `keyId` (a device ID or a
   * cross-signing public key), each checked; or why none may be stored.
   */
  private async checkSignedKey(
    requester: string, targetUserId: string, keyId: string, signed: JsonObject,
    theirs: Map<CrossSigningKeyType, CrossSigningKeyRow>, mine: Map<CrossSigningKeyType, CrossSigningKeyRow>,
  ): Promise<Array<{ keyId: string; signature: string }> | Failure> {
    const master = theirs.get('master');
    let stored: string;
    let signers: Array<{ keyId: string; publicKey: string }>;
    if (targetUserId === requester && master?.publicKey === keyId) {
      // The user's devices signing their own master key.
      stored = master.json;
      signers = [];
      const sigs = isObject(signed.signatures) ? signed.signatures[requester] : undefined;
      for (const signerKeyId of isObject(sigs) ? Object.keys(sigs) : []) {
        const id = parseKeyId(signerKeyId);
        if (id?.algorithm !== ED25519 || id.keyId === master.publicKey) continue;
        const publicKey = await this.deviceSigningKey(requester, id.keyId);
        if (publicKey !== undefined) signers.push({ keyId: signerKeyId, publicKey });
      }
    } else if (targetUserId === requester) {
      // The user's self-signing key signing one of their devices.
      const json = await this.storage.e2eKeys.deviceKeys(requester, keyId);
      if (json === undefined) return failure('M_NOT_FOUND', 'Unknown device or key');
      const ssk = mine.get('self_signing');
      if (!ssk) return failure('M_NOT_FOUND', 'You have no self-signing key to sign devices with');
      stored = json;
      signers = [{ keyId: `${ED25519}:${ssk.publicKey}`, publicKey: ssk.publicKey }];
    } else {
      // The user's user-signing key signing another user's master key.
      if (master?.publicKey !== keyId) return failure('M_NOT_FOUND', "Only other users' master keys can be signed");
      const usk = mine.get('user_signing');
      if (!usk) return failure('M_NOT_FOUND', 'You have no user-signing key to sign other users with');
      stored = master.json;
      signers = [{ keyId: `${ED25519}:${usk.publicKey}`, publicKey: usk.publicKey }];
    }
    // spec: "The signed JSON object must match the key previously uploaded or retrieved for the given key ID".
    if (!sameSignedContent(signed, JSON.parse(stored) as JsonObject)) return failure('M_INVALID_SIGNATURE', 'The signed object does not match the stored key');
    const found: Array<{ keyId: string; signature: string }> = [];
    for (const s of signers) {
      const signature = signatureBy(signed, requester, s.keyId);
      if (signature === undefined) continue;
      if (!verifySignature(signed, signature, s.publicKey)) return failure('M_INVALID_SIGNATURE', `Invalid signature by ${s.keyId}`);
      found.push({ keyId: s.keyId, signature });
    }
    return found.length > 0 ? found : failure('M_INVALID_SIGNATURE', 'No signature by a key of yours that may sign this');
  }

  private async crossSigningKeys(userId: string): Promise<Map<CrossSigningKeyType, CrossSigningKeyRow>> {
    return new Map((await this.storage.e2eKeys.crossSigningKeysOf([userId])).map((k) => [k.type, k]));
  }

  // ---- devices ----

  /**
   * A device's display name is part of what keys/query returns (`unsigned.device_display_name`),
   * so renaming a device with keys is a device-list change (spec: server-server-api "Device
   * Management": "changes in device information such as the device's human-readable name").
   */
  async deviceRenamed(userId: string, deviceId: string): Promise<void> {
    if ((await this.storage.e2eKeys.deviceKeys(userId, deviceId)) !== undefined) await this.deviceLists.keysChanged(userId, [deviceId]);
  }

  /** Deleted devices take their keys with them; other users' clients must learn of it. */
  async deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (await this.storage.e2eKeys.deleteDevices(userId, deviceIds)) await this.deviceLists.keysChanged(userId, deviceIds);
  }
}

/**
 * `one_time_keys` or `fallback_keys`: `<algorithm>:<key_id>` → key. A key object must be signed
 * by the device (spec: signed_curve25519 "signed so that it can be authenticated"); signed_*
 * algorithms must be objects; a plain string key is the legacy unsigned form.
 */
function checkOneTimeKeys(v: JsonValue, field: string, { userId, deviceId }: Device, ed25519Key: string | undefined): StoredKey[] {
  if (!isObject(v)) throw badJson(`\`${field}\` must be an object`);
  const out: StoredKey[] = [];
  const signerKeyId = `${ED25519}:${deviceId}`;
  for (const [name, key] of Object.entries(v)) {
    const id = parseKeyId(name);
    if (!id) throw invalidParam(`Key ID ${JSON.stringify(name)} in \`${field}\` is not of the form <algorithm>:<key_id>`);
    if (typeof key === 'string') {
      if (id.algorithm.startsWith('signed_')) throw badJson(`${name} must be a signed key object`);
      out.push({ ...id, json: JSON.stringify(key) });
      continue;
    }
    if (!isObject(key) || typeof key.key !== 'string') throw badJson(`${name} in \`${field}\` must be a string or an object with a \`key\``);
    checkSignaturesShape(key.signatures, `${field}.${name}.signatures`);
    const signature = signatureBy(key, userId, signerKeyId);
    if (signature === undefined) throw invalidSignature(`${name} must be signed by the device's key ${signerKeyId}`);
    if (ed25519Key === undefined) throw invalidSignature(`${name} cannot be checked: upload the device keys first`);
    if (!verifySignature(key, signature, ed25519Key)) throw invalidSignature(`Invalid signature by ${signerKeyId} on ${name}`);
    out.push({ ...id, json: canonicalKeyJson(key, name) });
  }
  return out;
}

/** spec: definitions/cross_signing_key.yaml: the user's, of the right usage, one ed25519 key named by itself. */
function parseCrossSigningKey(v: JsonValue, field: string, type: CrossSigningKeyType, userId: string): ParsedCrossSigningKey {
  if (!isObject(v)) throw badJson(`\`${field}\` must be an object`);
  if (typeof v.user_id !== 'string') throw badJson(`\`${field}.user_id\` must be a string`);
  if (v.user_id !== userId) throw forbidden(`Cross-signing keys may only be uploaded for your own user (${userId})`);
  if (!Array.isArray(v.usage) || !v.usage.every((u) => typeof u === 'string')) throw badJson(`\`${field}.usage\` must be an array of strings`);
  if (!v.usage.includes(type)) throw invalidParam(`\`${field}.usage\` must include "${type}"`);
  const keys = stringMap(v.keys, `${field}.keys`);
  const names = Object.keys(keys);
  if (names.length !== 1) throw invalidParam(`\`${field}.keys\` must hold exactly one key`);
  const id = parseKeyId(names[0]);
  if (!id || id.algorithm !== ED25519) throw invalidParam(`Key ID ${JSON.stringify(names[0])} is not of the form ed25519:<public key>`);
  if (keys[names[0]] !== id.keyId || !isBase64Key(id.keyId)) throw invalidParam(`The key ${names[0]} must be its own unpadded base64 ed25519 public key`);
  checkSignaturesShape(v.signatures, `${field}.signatures`);
  return { type, publicKey: id.keyId, object: v, json: canonicalKeyJson(v, `\`${field}\``) };
}
