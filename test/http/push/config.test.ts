// The `push` configuration section: defaults, and errors that name the option.
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../src/config.js';

describe('push configuration', () => {
  it('has defaults and takes overrides', () => {
    expect(validateConfig({}).push).toEqual({
      include_content: true, allow_http_gateways: false, legacy_mention_rules: true,
      timeout_ms: 10_000, max_attempts: 6, retry_initial_ms: 2_000, retry_max_ms: 600_000,
      ip_range_denylist: expect.arrayContaining(['127.0.0.0/8', '10.0.0.0/8', '::1/128']), ip_range_allowlist: [],
    });
    expect(validateConfig({ push: { include_content: false, max_attempts: 1, retry_initial_ms: 10, retry_max_ms: 10 } }).push)
      .toMatchObject({ include_content: false, max_attempts: 1, retry_initial_ms: 10, retry_max_ms: 10 });
  });

  it.each([
    [{ push: 'yes' }, 'push'],
    [{ push: { include_content: 'no' } }, 'push.include_content'],
    [{ push: { allow_http_gateways: 1 } }, 'push.allow_http_gateways'],
    [{ push: { legacy_mention_rules: null } }, 'push.legacy_mention_rules'],
    [{ push: { timeout_ms: 5 } }, 'push.timeout_ms'],
    [{ push: { max_attempts: 0 } }, 'push.max_attempts'],
    [{ push: { retry_initial_ms: 1.5 } }, 'push.retry_initial_ms'],
    [{ push: { retry_initial_ms: 1000, retry_max_ms: 999 } }, 'push.retry_max_ms'],
    [{ push: { gateways: [] } }, 'push.gateways'],
    [{ push: { ip_range_denylist: '10.0.0.0/8' } }, 'push.ip_range_denylist'],
    [{ push: { ip_range_allowlist: ['10.0.0.0/33'] } }, 'push.ip_range_allowlist[0]'],
    [{ push: { ip_range_allowlist: [7] } }, 'push.ip_range_allowlist[0]'],
  ])('refuses %j naming %s', (raw, option) => {
    let err: unknown;
    try { validateConfig(raw); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`\`${option}\``);
  });
});
