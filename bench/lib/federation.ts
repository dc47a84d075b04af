// Shared by the federation benchmarks: a throwaway CA with one certificate for 127.0.0.1, and a
// fresh database per homeserver.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { PG_ADMIN_URL } from './server.js';

export interface Certificates { ca: string; cert: string; key: string }

/** A CA and a leaf certificate for 127.0.0.1, written into `dir` with the openssl command. */
export function certificates(dir: string): Certificates {
  const p = (f: string) => join(dir, f);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=bench CA',
    '-keyout', p('ca.key'), '-out', p('ca.pem'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('leaf.key'), '-out', p('leaf.csr'));
  writeFileSync(p('leaf.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', p('leaf.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', p('leaf.ext'), '-out', p('leaf.pem'));
  return { ca: p('ca.pem'), cert: p('leaf.pem'), key: p('leaf.key') };
}

/** A database config for one homeserver: a file in `dir`, or a new PostgreSQL database named after `prefix`. */
export async function benchDatabase(engine: 'sqlite' | 'postgres', dir: string, prefix: string): Promise<{ config: Record<string, unknown>; drop: () => Promise<void> }> {
  if (engine === 'sqlite') return { config: { engine, path: join(dir, 'weft.db') }, drop: async () => {} };
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (q: string) => { const c = new pg.Client({ connectionString: PG_ADMIN_URL }); await c.connect(); try { await c.query(q); } finally { await c.end(); } };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { config: { engine, url: url.toString(), pool_size: 10 }, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
