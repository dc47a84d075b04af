// spec: rooms/v1 auth rule 5.3.1.7 (v6+: 4.3.1.7): "If any signature in `signed` matches any
// public key in the m.room.third_party_invite event, allow." The keys are content.public_key
// and each content.public_keys[].public_key.

import type { RoomEvent } from '../pdu.js';
import { contentOf, getOwn, getString, isObject } from './content.js';
import { verifyJsonSignature } from './signed-json.js';

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

/** Whether any ed25519 signature in `signed` verifies under any of the invite's public keys. */
export function isSignedByThirdPartyInvite(signed: unknown, invite: RoomEvent): boolean {
  const signatures = getOwn(signed, 'signatures');
  if (!isObject(signatures)) return false;
  const publicKeys = thirdPartyInvitePublicKeys(invite);
  for (const [server, byKey] of Object.entries(signatures)) {
    if (!isObject(byKey)) continue;
    for (const keyId of Object.keys(byKey)) {
      if (!keyId.startsWith('ed25519:')) continue;
      if (publicKeys.some((publicKey) => verifyJsonSignature(signed, server, keyId, publicKey))) return true;
    }
  }
  return false;
}
