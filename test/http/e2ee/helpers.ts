// What the E2EE tests share: real ed25519 keys, signed device keys, one-time keys and
// cross-signing keys made the way clients make them, and small HTTP steps.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { signBytes, signedBytes, signingKeyFromSeed, type SigningKey } from '../../../src/core/crypto.js';
import { encodeBase64 } from '../../../src/core/json.js';
import { Client } from '../../helpers/client.js';
import type { TestServer } from '../../helpers/server.js';

export type Json = Record<string, unknown>;

export const enc = encodeURIComponent;

export function newKey(): SigningKey {
  const k = signingKeyFromSeed('k', randomBytes(32));
  if (!k.ok) throw new Error(k.reason);
  return k.value;
}

/** Adds signatures[userId][keyId] over the object's signed JSON (keeps other signatures). */
export function sign<T extends Json>(object: T, userId: string, keyId: string, key: SigningKey): T {
  const sig = encodeBase64(signBytes(signedBytes(object), key));
  const sigs = (object.signatures ?? {}) as Record<string, Record<string, string>>;
  return { ...object, signatures: { ...sigs, [userId]: { ...(sigs[userId] ?? {}), [keyId]: sig } } };
}

/** A user on one device with its device signing key, as a client holds them. */
export interface Device {
  client: Client;
  userId: string;
  deviceId: string;
  key: SigningKey;
  /** The device keys as uploaded (signed). */
  deviceKeys: Json;
}

let n = 0;
export const uniqueName = (prefix: string) => `${prefix}${++n}${randomBytes(3).toString('hex')}`;

export function signedDeviceKeys(userId: string, deviceId: string, key: SigningKey): Json {
  return sign({
    user_id: userId,
    device_id: deviceId,
    algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    keys: { [`curve25519:${deviceId}`]: encodeBase64(randomBytes(32)), [`ed25519:${deviceId}`]: key.publicKeyBase64 },
  }, userId, `ed25519:${deviceId}`, key);
}

/** signed_curve25519 keys named `<prefix><i>`, signed by the device (fallback ones say so). */
export function oneTimeKeys(d: Pick<Device, 'userId' | 'deviceId' | 'key'>, count: number, prefix = 'AAAA', fallback = false): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (let i = 0; i < count; i++) {
    const body: Json = { key: encodeBase64(randomBytes(32)), ...(fallback ? { fallback: true } : {}) };
    out[`signed_curve25519:${prefix}${i}`] = sign(body, d.userId, `ed25519:${d.deviceId}`, d.key);
  }
  return out;
}

/** Registers a user; optionally uploads signed device keys for its device. */
export async function newDevice(server: TestServer, name = uniqueName('u'), opts: { upload?: boolean } = {}): Promise<Device> {
  const client = new Client(server.baseUrl);
  const r = await client.register(name);
  const key = newKey();
  const deviceKeys = signedDeviceKeys(r.user_id, r.device_id, key);
  const d: Device = { client, userId: r.user_id, deviceId: r.device_id, key, deviceKeys };
  if (opts.upload !== false) await upload(d, { device_keys: deviceKeys });
  return d;
}

/** Logs the user in on another device (keys uploaded unless told otherwise). */
export async function loginAgain(server: TestServer, d: Device, opts: { upload?: boolean; deviceId?: string } = {}): Promise<Device> {
  const client = new Client(server.baseUrl);
  const r = await client.post<{ access_token: string; device_id: string }>('/_matrix/client/v3/login', {
    type: 'm.login.password', identifier: { type: 'm.id.user', user: d.userId }, password: 'correct horse battery staple',
    ...(opts.deviceId ? { device_id: opts.deviceId } : {}),
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  client.token = r.body.access_token;
  const key = newKey();
  const deviceKeys = signedDeviceKeys(d.userId, r.body.device_id, key);
  const d2: Device = { client, userId: d.userId, deviceId: r.body.device_id, key, deviceKeys };
  if (opts.upload !== false) await upload(d2, { device_keys: deviceKeys });
  return d2;
}

export async function upload(d: Device, body: Json): Promise<Json> {
  const r = await d.client.post('/_matrix/client/v3/keys/upload', body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export interface QueryResult {
  device_keys: Record<string, Record<string, Json>>;
  master_keys: Record<string, Json>;
  self_signing_keys: Record<string, Json>;
  user_signing_keys: Record<string, Json>;
  failures: Record<string, Json>;
}

export async function query(d: Device, deviceKeys: Record<string, string[]>): Promise<QueryResult> {
  const r = await d.client.post<QueryResult>('/_matrix/client/v3/keys/query', { device_keys: deviceKeys });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export async function createRoom(client: Client, body: Json = { preset: 'public_chat' }): Promise<string> {
  const r = await client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.room_id;
}

export async function join(client: Client, roomId: string): Promise<void> {
  const r = await client.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

export async function leave(client: Client, roomId: string): Promise<void> {
  const r = await client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

/** Cross-signing keys for a user: master, self-signing and user-signing, each signed as the spec wants. */
export interface CrossSigning {
  master: SigningKey;
  selfSigning: SigningKey;
  userSigning: SigningKey;
  body: { master_key: Json; self_signing_key: Json; user_signing_key: Json };
}

export function crossSigningKey(userId: string, usage: string, key: SigningKey): Json {
  return { user_id: userId, usage: [usage], keys: { [`ed25519:${key.publicKeyBase64}`]: key.publicKeyBase64 } };
}

export function newCrossSigning(userId: string): CrossSigning {
  const master = newKey();
  const selfSigning = newKey();
  const userSigning = newKey();
  const masterId = `ed25519:${master.publicKeyBase64}`;
  return {
    master, selfSigning, userSigning,
    body: {
      master_key: crossSigningKey(userId, 'master', master),
      self_signing_key: sign(crossSigningKey(userId, 'self_signing', selfSigning), userId, masterId, master),
      user_signing_key: sign(crossSigningKey(userId, 'user_signing', userSigning), userId, masterId, master),
    },
  };
}

export const PASSWORD_AUTH = (userId: string) => ({ type: 'm.login.password', identifier: { type: 'm.id.user', user: userId }, password: 'correct horse battery staple' });
