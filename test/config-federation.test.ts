// The `federation` configuration section: defaults, and every bad value named by its option.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config.js';
import { DEFAULT_IP_DENYLIST } from '../src/services/net/ip-policy.js';

const KEY = 'l8Hft5qXKn1vfHrg3p4+W8gELQVo8N13JkluMfmn2sQ';

describe('federation configuration', () => {
  it('has safe defaults: private ranges denied, no extra CA, no key servers', () => {
    const c = validateConfig({});
    expect(c.federation).toEqual({
      trusted_ca_path: null, ip_range_denylist: [...DEFAULT_IP_DENYLIST], ip_range_allowlist: [], trusted_key_servers: [], old_verify_keys: {},
      request_timeout_ms: 30_000, backoff_base_ms: 5_000, backoff_max_ms: 3_600_000,
    });
  });

  it('takes a CA file relative to the config folder, allow lists, key servers and old keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-cfg-'));
    writeFileSync(join(dir, 'ca.pem'), 'x');
    const c = validateConfig({ federation: {
      trusted_ca_path: 'ca.pem', ip_range_allowlist: ['127.0.0.1/32', '::1'],
      trusted_key_servers: [{ server_name: 'matrix.org', verify_keys: { 'ed25519:auto': KEY } }],
      old_verify_keys: { 'ed25519:old': { key: KEY, expired_ts: 1 } },
    } }, dir);
    expect(c.federation.trusted_ca_path).toBe(join(dir, 'ca.pem'));
    expect(c.federation.ip_range_allowlist).toEqual(['127.0.0.1/32', '::1']);
    expect(c.federation.trusted_key_servers).toEqual([{ server_name: 'matrix.org', verify_keys: { 'ed25519:auto': KEY } }]);
    expect(c.federation.old_verify_keys).toEqual({ 'ed25519:old': { key: KEY, expired_ts: 1 } });
  });

  it.each([
    [{ trusted_ca_path: '/nonexistent/ca.pem' }, 'federation.trusted_ca_path'],
    [{ ip_range_denylist: ['10.0.0.0/33'] }, 'federation.ip_range_denylist[0]'],
    [{ ip_range_allowlist: 'all' }, 'federation.ip_range_allowlist'],
    [{ trusted_key_servers: [{ server_name: 'bad name', verify_keys: { 'ed25519:a': KEY } }] }, 'federation.trusted_key_servers[0].server_name'],
    [{ trusted_key_servers: [{ server_name: 'matrix.org', verify_keys: {} }] }, 'federation.trusted_key_servers[0].verify_keys'],
    [{ trusted_key_servers: [{ server_name: 'matrix.org', verify_keys: { 'rsa:a': KEY } }] }, 'federation.trusted_key_servers[0].verify_keys.rsa:a'],
    [{ trusted_key_servers: [{ server_name: 'matrix.org', verify_keys: { 'ed25519:a': 'short' } }] }, 'federation.trusted_key_servers[0].verify_keys.ed25519:a'],
    [{ old_verify_keys: { 'ed25519:a': { key: KEY } } }, 'federation.old_verify_keys.ed25519:a.expired_ts'],
    [{ request_timeout_ms: 0 }, 'federation.request_timeout_ms'],
    [{ backoff_base_ms: 1000, backoff_max_ms: 10 }, 'federation.backoff_max_ms'],
    [{ skip_tls_verification: true }, 'federation.skip_tls_verification'],
  ])('rejects %j naming %s', (federation, option) => {
    expect(() => validateConfig({ federation })).toThrow(`config option \`${option}\``);
  });
});
