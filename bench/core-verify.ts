// Benchmark: ed25519 event signature verifications per second on one core.
// Run: node --import tsx bench/core-verify.ts [seconds-per-measurement]
//
// The headline figure is verifyEventSignatures on a realistic room version 12 message PDU:
// redaction for signing + canonical JSON + ed25519 verify with a cached KeyObject. The other
// lines split that cost up and show the full receipt path (parse + hashes + signatures).

import { createPrivateKey, sign, verify } from 'node:crypto';
import { buildEvent, eventSigningBytes, parsePdu, toFederationPdu, verifyEventHashes, verifyEventSignatures } from '../src/core/events.js';
import { ed25519PublicKey, signingKeyFromSeed, type KeyLookup } from '../src/core/crypto.js';
import { encodeCanonicalJson } from '../src/core/json.js';
import { getRoomVersion } from '../src/core/room-versions.js';
import type { RoomEvent } from '../src/core/pdu.js';

const seconds = Number(process.argv[2] ?? 2);
const rv = getRoomVersion('12')!;

const keyResult = signingKeyFromSeed('a_bench', new Uint8Array(32).map((_, i) => i * 7 + 1));
if (!keyResult.ok) throw new Error(keyResult.reason);
const key = keyResult.value;
const lookup: KeyLookup = (server, keyId) => (server === 'example.org' && keyId === key.keyId ? { key: key.publicKeyBase64, validUntilTs: 2_000_000_000_000 } : undefined);

const hashId = (n: number) => `$${Buffer.alloc(32, n).toString('base64url')}`;
const built = buildEvent({
  type: 'm.room.message',
  sender: '@alice:example.org',
  room_id: '!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ',
  content: {
    msgtype: 'm.text',
    body: '> <@bob:example.com> Did the deploy go out?\n\nYes, about ten minutes ago. Rollback plan is in the runbook if the error rate climbs above the usual baseline.',
    format: 'org.matrix.custom.html',
    formatted_body: '<mx-reply><blockquote>Did the deploy go out?</blockquote></mx-reply>Yes, about ten minutes ago. Rollback plan is in the <a href="https://example.org/runbook">runbook</a>.',
    'm.relates_to': { 'm.in_reply_to': { event_id: hashId(9) } },
    'm.mentions': { user_ids: ['@bob:example.com'] },
  },
  prev_events: [hashId(1), hashId(2)],
  auth_events: [hashId(3), hashId(4), hashId(5)],
  depth: 48_213,
  origin_server_ts: 1_700_000_123_456,
  unsigned: { age_ts: 1_700_000_123_456 },
}, rv, { serverName: 'example.org', key });
if (!built.ok) throw new Error(built.reason);
const wireText = encodeCanonicalJson(toFederationPdu(built.value, rv));
const parsed = parsePdu(wireText, rv);
if (!parsed.ok) throw new Error(parsed.reason);
const event: RoomEvent = parsed.value;

function measure(name: string, fn: () => unknown): number {
  for (let i = 0; i < 2_000; i++) fn(); // warm up the JIT
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = performance.now();
  }
  const rate = n / ((now - start) / 1000);
  console.log(`${name.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} /s`);
  return rate;
}

const signingBytes = eventSigningBytes(event, rv);
const signature = Buffer.from(event.signatures['example.org']![key.keyId]!, 'base64');
const keyObject = ed25519PublicKey(key.publicKey)!;
console.log(`PDU: ${Buffer.byteLength(wireText)} bytes canonical; ${signingBytes.length} bytes signed (redacted form)`);
console.log(`node ${process.version}, OpenSSL ${process.versions.openssl}, one thread\n`);

const headline = measure('verifyEventSignatures (redact + canonical JSON + ed25519)', () => {
  const v = verifyEventSignatures(event, rv, lookup);
  if (!v.ok) throw new Error(v.reason);
});
measure('  of which: ed25519 verify alone (cached KeyObject)', () => verify(null, signingBytes, keyObject, signature));
measure('  of which: redaction + canonical JSON alone', () => eventSigningBytes(event, rv));
measure('full receipt: parsePdu(text) + hashes + signatures', () => {
  const p = parsePdu(wireText, rv);
  if (!p.ok) throw new Error(p.reason);
  verifyEventHashes(p.value, rv);
  verifyEventSignatures(p.value, rv, lookup);
});
const signer = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(key.seed)]), format: 'der', type: 'pkcs8' });
measure('(for comparison) ed25519 sign alone', () => sign(null, signingBytes, signer));

console.log(`\nevent signature verifications per second (one core): ${Math.round(headline)}`);
