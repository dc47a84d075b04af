// The checks every event from another server passes before anything else looks at it: the
// event format of the room version, the signatures it needs, and its content hash (a mismatch
// leaves the redacted event). Events are checked in batches so that the keys of all their
// signatures are fetched together (KeyRing.prepareLookup) and each signature is verified once.
// spec: server-server-api "Checks performed on receipt of a PDU" steps 1–3, "Validating hashes
// and signatures on received events"
import type { KeyLookup } from '../../core/crypto.js';
import { parsePdu, requiredSignatureServers, verifyEventHashes, verifyEventSignatures } from '../../core/events.js';
import type { RoomEvent } from '../../core/pdu.js';
import { POLICY_SERVER_KEY_ID } from '../../core/policy-server.js';
import type { RoomVersion } from '../../core/room-versions.js';

/** What the checks need of the key ring (services/federation/keyring.ts). */
export interface KeySource {
  prepareLookup(needs: Iterable<{ serverName: string; keyId: string; validAt?: number }>): Promise<KeyLookup>;
}

/** What the event side needs of the federation client (services/federation/client.ts). */
export interface FederationRequester {
  request<T = unknown>(destination: string, method: 'GET' | 'PUT' | 'POST', path: string,
    opts?: { query?: Record<string, string | string[]>; body?: unknown; timeoutMs?: number }): Promise<T>;
}

export type CheckedPdu =
  | { ok: true; event: RoomEvent; redacted: boolean }
  | { ok: false; eventId?: string; error: string };

/**
 * Format, signatures and hashes of a batch of PDUs of one room version, in input order.
 * A PDU with a bad format or signature is refused (it is never stored); one whose content hash
 * does not match is accepted in its redacted form (spec: step 3).
 */
export async function checkPdus(keys: KeySource, version: RoomVersion, pdus: readonly unknown[]): Promise<CheckedPdu[]> {
  const parsed = pdus.map((raw) => parsePdu(raw, version));
  const needs: Array<{ serverName: string; keyId: string; validAt?: number }> = [];
  for (const p of parsed) {
    if (!p.ok) continue;
    const servers = requiredSignatureServers(p.value, version);
    if (!servers.ok) continue;
    for (const serverName of servers.value) {
      for (const keyId of Object.keys(p.value.signatures[serverName] ?? {})) {
        // A Policy Server's key is in the room's state, not published: not fetched (spec:
        // "the policy server key is not expected to be published and therefore should be skipped").
        if (keyId.startsWith('ed25519:') && keyId !== POLICY_SERVER_KEY_ID) needs.push({ serverName, keyId, ...(version.enforceKeyValidity ? { validAt: p.value.origin_server_ts } : {}) });
      }
    }
  }
  let lookup: KeyLookup = () => undefined;
  try {
    if (needs.length > 0) lookup = await keys.prepareLookup(dedupeNeeds(needs));
  } catch {
    // No keys could be had: every signature then counts as unverifiable and its PDU is refused.
  }
  return parsed.map((p, i): CheckedPdu => {
    if (!p.ok) return { ok: false, eventId: legacyId(pdus[i]), error: `${p.code}: ${p.reason}` };
    const signed = verifyEventSignatures(p.value, version, lookup);
    if (!signed.ok) return { ok: false, eventId: p.value.event_id, error: `${signed.code}: ${signed.reason}` };
    const hashed = verifyEventHashes(p.value, version);
    return { ok: true, event: hashed.event, redacted: hashed.redact };
  });
}

function dedupeNeeds(needs: Array<{ serverName: string; keyId: string; validAt?: number }>): Array<{ serverName: string; keyId: string; validAt?: number }> {
  // One need per key, at the latest time it must be valid (valid then, valid before).
  const byKey = new Map<string, { serverName: string; keyId: string; validAt?: number }>();
  for (const n of needs) {
    const k = `${n.serverName}\u0000${n.keyId}`;
    const seen = byKey.get(k);
    if (!seen) byKey.set(k, n);
    else if (n.validAt !== undefined && seen.validAt !== undefined && n.validAt > seen.validAt) byKey.set(k, n);
  }
  return [...byKey.values()];
}

function legacyId(raw: unknown): string | undefined {
  const id = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).event_id : undefined;
  return typeof id === 'string' ? id : undefined;
}
