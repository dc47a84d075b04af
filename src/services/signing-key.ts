// The server's ed25519 signing key file: generated on first start, in Synapse's format
// (core/crypto.ts parses and formats it), readable only by its owner.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { formatSigningKeyLine, generateSigningKey, parseSigningKeyFile, type SigningKey } from '../core/crypto.js';

/** `version`: the key version of a new key (a random one by default, as Synapse's `a_xxxx`). */
export function loadOrCreateSigningKey(path: string, version = `a_${randomBytes(3).toString('hex')}`): { key: SigningKey; created: boolean } {
  if (existsSync(path)) {
    const keys = parseSigningKeyFile(readFileSync(path, 'utf8'));
    if (!keys.ok) throw new Error(`signing key ${path}: ${keys.reason}`);
    return { key: keys.value[0], created: false };
  }
  const generated = generateSigningKey(version);
  if (!generated.ok) throw new Error(generated.reason);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${formatSigningKeyLine(generated.value)}\n`, { mode: 0o600 });
  return { key: generated.value, created: true };
}
