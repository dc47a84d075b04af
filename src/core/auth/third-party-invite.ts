// spec: rooms/v1 auth rule 5.3.1.7 (v6+: 4.3.1.7): "If any signature in `signed` matches any
// public key in the m.room.third_party_invite event, allow." The keys are content.public_key
// and each content.public_keys[].public_key.

import { verifyBytes } from '../crypto.js';
import { canonicalJsonBytes, decodeBase64, decodeBase64Url } from '../json.js';
import type { RoomEvent } from '../pdu.js';
import { contentOf, getOwn, getString, isObject } from './content.js';

export function thirdPartyInvitePublicKeys(invite: RoomEvent): string[] {
  const content = contentOf(invite);
  const keys: string[] = [];
  const single = getString(content, 'public_key');
  if (single !== undefined) keys.push(single);
  const list = getOwn(content, 'public_keys');
  if (Array.isArray(list)) {
    for (const entry of list) {
      const key = getString(entry, 'public_key');
      if (key !== undefined) keys.push(key);
    }
  }
  return keys;
}

/**
 * Whether any ed25519 signature in `signed` verifies under any of the invite's public keys.
 * The signed bytes are canonical JSON of `signed` without `signatures` and `unsigned`
 * (spec: appendices "Signing JSON").
 */
export function isSignedByThirdPartyInvite(signed: unknown, invite: RoomEvent): boolean {
  if (!isObject(signed)) return false;
  const { signatures, unsigned: _unsigned, ...body } = signed;
  if (!isObject(signatures)) return false;
  const message = canonicalJsonBytes(body);
  if (!message.ok) return false;
  const publicKeys = thirdPartyInvitePublicKeys(invite).map(decodeUnpaddedBase64)
    .filter((key): key is Buffer => key !== undefined && key.length === 32);
  for (const byKey of Object.values(signatures)) {
    if (!isObject(byKey)) continue;
    for (const [keyId, signature] of Object.entries(byKey)) {
      if (!keyId.startsWith('ed25519:') || typeof signature !== 'string') continue;
      const signatureBytes = decodeUnpaddedBase64(signature);
      if (signatureBytes === undefined) continue;
      if (publicKeys.some((key) => verifyBytes(message.value, signatureBytes, key))) return true;
    }
  }
  return false;
}

/** Identity servers publish keys in unpadded base64; accept the URL-safe alphabet too, as Synapse does. */
function decodeUnpaddedBase64(text: string): Buffer | undefined {
  return decodeBase64(text) ?? decodeBase64Url(text);
}
