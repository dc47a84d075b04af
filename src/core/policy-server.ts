// Policy Servers: the room's m.room.policy configuration and the Policy Server's signature on
// an event. The signature is an ordinary event signature (over the redacted event, like the
// origin's), by the key given in the room's state and always named ed25519:policy_server.
// spec: server-server-api "Policy Servers" ("Determining if a Policy Server is enabled in a
// room", "Validating Policy Server signatures"); client-server-api m.room.policy
import { signBytes, verifyBytes, type SigningKey } from './crypto.js';
import { decodeBase64, decodeBase64Url, encodeBase64 } from './json.js';
import { eventSigningBytes } from './events.js';
import type { JsonObject, RoomEvent } from './pdu.js';
import type { RoomVersion } from './room-versions.js';

export const POLICY_EVENT_TYPE = 'm.room.policy';
/** spec: "The Key ID for the ed25519 key in m.room.policy is always ed25519:policy_server". */
export const POLICY_SERVER_KEY_ID = 'ed25519:policy_server';
/** The version part of that key ID (the key file of our own Policy Server role uses it). */
export const POLICY_SERVER_KEY_VERSION = 'policy_server';

/** A valid m.room.policy content: the Policy Server's name and its ed25519 public key. */
export interface PolicyServerConfig {
  via: string;
  ed25519: string;
}

/**
 * The configuration in an m.room.policy content, or undefined when it is not valid (spec: at
 * least a string `via` and an object `public_keys` with a string `ed25519`). A key that is not
 * 32 bytes of base64 can verify nothing: such a content still counts as valid, and every event
 * then lacks a valid signature (the room named a Policy Server whose signatures cannot be checked).
 */
export function parsePolicyContent(content: JsonObject | undefined): PolicyServerConfig | undefined {
  if (content === undefined) return undefined;
  const { via, public_keys: keys } = content;
  if (typeof via !== 'string' || typeof keys !== 'object' || keys === null || Array.isArray(keys)) return undefined;
  const ed25519 = (keys as JsonObject).ed25519;
  return typeof ed25519 === 'string' ? { via, ed25519 } : undefined;
}

/** The m.room.policy state event with an empty state key: the one event a Policy Server never signs. */
export function isPolicyStateEvent(event: { type: unknown; state_key?: unknown }): boolean {
  return event.type === POLICY_EVENT_TYPE && event.state_key === '';
}

/** Whether the event carries a valid signature of the room's Policy Server. */
export function hasValidPolicySignature(event: RoomEvent, version: RoomVersion, policy: PolicyServerConfig): boolean {
  const signature = event.signatures[policy.via]?.[POLICY_SERVER_KEY_ID];
  if (typeof signature !== 'string') return false;
  const key = decodePolicyKey(policy.ed25519);
  return key !== undefined && verifyBytes(eventSigningBytes(event, version), signature, key);
}

/** The 32 bytes of an ed25519 key in m.room.policy: unpadded base64 per the spec, whose own /.well-known example is URL-safe. */
export function decodePolicyKey(key: string): Buffer | undefined {
  const bytes = decodeBase64(key) ?? decodeBase64Url(key);
  return bytes?.length === 32 ? bytes : undefined;
}

/** Our Policy Server's signature of an event (unpadded base64). */
export function policySignature(event: RoomEvent, version: RoomVersion, key: SigningKey): string {
  return encodeBase64(signBytes(eventSigningBytes(event, version), key));
}

/** The event with the Policy Server's signature added beside its other signatures. */
export function withPolicySignature(event: RoomEvent, via: string, signature: string): RoomEvent {
  return { ...event, signatures: { ...event.signatures, [via]: { ...event.signatures[via], [POLICY_SERVER_KEY_ID]: signature } } };
}
