// The server's ed25519 signing key: generated on first start, kept in the Synapse
// file format (`ed25519 <version> <unpadded base64 seed>`), readable only by its owner.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface SigningKey {
  /** `ed25519:<version>` */
  keyId: string;
  seed: Buffer;
}

export function parseSigningKeyFile(text: string): SigningKey {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0 && !l.startsWith('#'));
  const m = line && /^ed25519 ([A-Za-z0-9_]+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
  if (!m) throw new Error('expected a line `ed25519 <version> <base64 seed>`');
  const seed = Buffer.from(m[2], 'base64');
  if (seed.length !== 32) throw new Error('the ed25519 seed must be 32 bytes');
  return { keyId: `ed25519:${m[1]}`, seed };
}

export function formatSigningKeyFile(key: SigningKey): string {
  return `${key.keyId.replace(':', ' ')} ${key.seed.toString('base64').replace(/=+$/, '')}\n`;
}

export function loadOrCreateSigningKey(path: string): { key: SigningKey; created: boolean } {
  if (existsSync(path)) {
    try {
      return { key: parseSigningKeyFile(readFileSync(path, 'utf8')), created: false };
    } catch (err) {
      throw new Error(`signing key ${path}: ${(err as Error).message}`);
    }
  }
  const key: SigningKey = { keyId: `ed25519:a_${randomBytes(3).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`, seed: randomBytes(32) };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatSigningKeyFile(key), { mode: 0o600 });
  return { key, created: true };
}
