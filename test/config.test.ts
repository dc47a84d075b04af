// Configuration: defaults, YAML file, WEFT_* overrides, and errors that name the option.
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ConfigError, applyEnvironment, defaultConfig, generateConfigText, loadConfig, validateConfig } from '../src/config.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'weft-config-'));

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = validateConfig({}, '/srv/weft');
    expect(c.server_name).toBe('localhost');
    expect(c.public_baseurl).toBe('http://127.0.0.1:8008/');
    expect(c.listeners).toEqual([{ port: 8008, bind_address: '127.0.0.1', tls: null, resources: defaultConfig().listeners[0].resources }]);
    expect(c.database).toEqual({ engine: 'sqlite', path: '/srv/weft/data/weft.db', url: null, pool_size: 10 });
    expect(c.registration).toEqual({ mode: 'closed', shared_secret: null, allow_guests: false });
    expect(c.rate_limits.enabled).toBe(true);
    expect(c.log_level).toBe('info');
  });

  it('reads a YAML file and lets WEFT_* variables override it', () => {
    const dir = tmp();
    const path = join(dir, 'weft.yaml');
    writeFileSync(path, YAML.stringify({ server_name: 'example.org', database: { engine: 'sqlite', path: 'db.sqlite' }, listeners: [{ port: 8448 }] }));
    const c = loadConfig(path, {
      WEFT_DATABASE__POOL_SIZE: '3',
      WEFT_RATE_LIMITS__ENABLED: 'false',
      WEFT_LISTENERS__0__PORT: '9000',
      WEFT_PUBLIC_BASEURL: 'https://matrix.example.org',
      WEFT_REGISTRATION__MODE: 'open',
    });
    expect(c.server_name).toBe('example.org');
    expect(c.database.path).toBe(join(dir, 'db.sqlite'));
    expect(c.database.pool_size).toBe(3);
    expect(c.rate_limits.enabled).toBe(false);
    expect(c.listeners[0].port).toBe(9000);
    expect(c.public_baseurl).toBe('https://matrix.example.org/');
    expect(c.registration.mode).toBe('open');
  });

  it('builds nested options from variables alone', () => {
    expect(applyEnvironment({}, { WEFT_DATABASE__ENGINE: 'postgres', WEFT_DATABASE__URL: 'postgres://x@y/z', OTHER: '1' }))
      .toEqual({ database: { engine: 'postgres', url: 'postgres://x@y/z' } });
  });

  it.each([
    [{ server_name: 'bad name!' }, 'server_name'],
    [{ listeners: [] }, 'listeners'],
    [{ listeners: [{ port: 70000 }] }, 'listeners[0].port'],
    [{ listeners: [{ port: 8008, resources: ['client', 'telnet'] }] }, 'listeners[0].resources[1]'],
    [{ listeners: [{ port: 8008, tls: { certificate_path: 'c.pem' } }] }, 'listeners[0].tls.private_key_path'],
    [{ database: { engine: 'mysql' } }, 'database.engine'],
    [{ database: { engine: 'postgres' } }, 'database.url'],
    [{ database: { pool_size: 0 } }, 'database.pool_size'],
    [{ registration: { mode: 'sometimes' } }, 'registration.mode'],
    [{ rate_limits: { client: { per_second: -1, burst: 1 } } }, 'rate_limits.client.per_second'],
    [{ log_level: 'loud' }, 'log_level'],
    [{ public_baseurl: 'ftp://x' }, 'public_baseurl'],
    [{ no_such_option: 1 }, 'no_such_option'],
    [{ database: { paht: 'x' } }, 'database.paht'],
    [{ presence: { offline_after_sync_ms: 5 } }, 'presence.offline_after_sync_ms'],
  ])('rejects %j naming `%s`', (raw, option) => {
    let err: unknown;
    try { validateConfig(raw); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).option).toBe(option);
    expect((err as Error).message).toContain(`\`${option}\``);
  });

  it('generates a config that validates, with a fresh shared secret', () => {
    const dir = tmp();
    const a = generateConfigText('example.org');
    const b = generateConfigText('example.org');
    writeFileSync(join(dir, 'weft.yaml'), a);
    const c = loadConfig(join(dir, 'weft.yaml'), {});
    expect(c.server_name).toBe('example.org');
    expect(c.registration.shared_secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(YAML.parse(a).registration.shared_secret).not.toBe(YAML.parse(b).registration.shared_secret);
    expect(readFileSync(join(dir, 'weft.yaml'), 'utf8')).toContain('docs/configuration.md');
  });
});

describe('turn configuration', () => {
  it('has no TURN server by default, and reads one', () => {
    expect(validateConfig({}).turn).toEqual({ uris: [], shared_secret: null, user_lifetime_ms: 86_400_000, allow_guests: true });
    const c = validateConfig({ turn: { uris: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349'], shared_secret: 's3cret', user_lifetime_ms: 60_000, allow_guests: false } });
    expect(c.turn).toEqual({ uris: ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349'], shared_secret: 's3cret', user_lifetime_ms: 60_000, allow_guests: false });
  });

  it.each([
    [{ turn: { uris: 'turn:x' } }, 'turn.uris'],
    [{ turn: { uris: ['stun:x'], shared_secret: 's' } }, 'turn.uris[0]'],
    [{ turn: { uris: [''], shared_secret: 's' } }, 'turn.uris[0]'],
    [{ turn: { uris: ['turn:x'] } }, 'turn.shared_secret'],
    [{ turn: { uris: ['turn:x'], shared_secret: '' } }, 'turn.shared_secret'],
    [{ turn: { user_lifetime_ms: 10 } }, 'turn.user_lifetime_ms'],
    [{ turn: { allow_guests: 'yes' } }, 'turn.allow_guests'],
    [{ turn: { secret: 'x' } }, 'turn.secret'],
  ])('rejects %j naming `%s`', (raw, option) => {
    let err: unknown;
    try { validateConfig(raw); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).option).toBe(option);
  });
});
