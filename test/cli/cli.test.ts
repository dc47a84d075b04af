// The `weft` command line, run as a real process.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// Absolute, so that the CLI can run from any working directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const CLI = resolve(__dirname, '../../src/cli.ts');
const run = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
  spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
    encoding: 'utf8', input: opts.input, env: { ...process.env, ...opts.env }, timeout: 60_000,
  });

// Each test starts several real processes; on a busy 2-core machine that takes a while.
describe('weft CLI', { timeout: 180_000 }, () => {
  it('prints help for itself and every command', () => {
    const main = run(['--help']);
    expect(main.status).toBe(0);
    for (const cmd of ['start', 'generate-config', 'register-user', 'migrate', 'registration-token']) {
      expect(main.stdout).toContain(cmd);
      const r = run([cmd, '--help']);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout).toContain(`Usage: weft ${cmd}`);
    }
    const unknown = run(['frobnicate']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('unknown command');
  });

  it('generates a config, migrates, registers users and creates tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
    const config = join(dir, 'weft.yaml');
    expect(run(['generate-config', '--config', config, '--server-name', 'cli.test']).status).toBe(0);
    expect(readFileSync(config, 'utf8')).toContain('server_name: cli.test');
    expect(run(['generate-config', '--config', config]).status).toBe(1);

    const m = run(['migrate', '--config', config]);
    expect(m.status).toBe(0);
    expect(m.stdout).toContain('applied: 001-accounts');
    expect(run(['migrate', '--config', config]).stdout).toContain('up to date');

    const admin = run(['register-user', '--config', config, '--user', 'root', '--password', 'pw', '--admin']);
    expect(admin.status, admin.stderr).toBe(0);
    expect(admin.stdout).toContain('created @root:cli.test (admin)');
    // Password and admin question answered on standard input, as a person would.
    const prompted = run(['register-user', '--config', config, '--user', 'pat'], { input: 'pw\npw\nno\n' });
    expect(prompted.status, prompted.stderr).toBe(0);
    expect(prompted.stdout).toContain('created @pat:cli.test');
    const mismatch = run(['register-user', '--config', config, '--user', 'sam', '--no-admin'], { input: 'a\nb\n' });
    expect(mismatch.status).toBe(1);
    expect(mismatch.stderr).toContain('do not match');
    const taken = run(['register-user', '--config', config, '--user', 'root', '--password', 'x', '--no-admin']);
    expect(taken.status).toBe(1);
    expect(taken.stderr).toContain('already taken');

    const tok = run(['registration-token', 'create', '--config', config, '--token', 'abc', '--uses', '2']);
    expect(tok.status).toBe(0);
    expect(tok.stdout.trim()).toBe('abc');
    expect(run(['registration-token', 'list', '--config', config]).stdout).toContain('abc\tuses: 0/2');
  });

  it('exits non-zero naming the option when the config is bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
    const config = join(dir, 'weft.yaml');
    writeFileSync(config, 'server_name: localhost\ndatabase:\n  engine: oracle\n');
    const r = run(['migrate', '--config', config]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('`database.engine`');
    expect(r.stderr).toContain('oracle');
    const env = run(['migrate', '--config', config], { env: { WEFT_DATABASE__ENGINE: 'sqlite', WEFT_LOG_LEVEL: 'chatty' } });
    expect(env.status).toBe(1);
    expect(env.stderr).toContain('`log_level`');
  });

  it('starts on first run with a generated config and signing key, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
    const child = spawn(process.execPath, ['--import', TSX, CLI, 'start'], {
      cwd: dir, env: { ...process.env, WEFT_LISTENERS__0__PORT: '0', WEFT_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const address = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no listening line: ${out}`)), 30_000);
      child.stdout.on('data', () => {
        const m = /"addresses":\["([^"]+)"\]/.exec(out);
        if (m) { clearTimeout(t); res(m[1]); }
      });
    });
    const versions = await fetch(`${address}/_matrix/client/versions`);
    expect(versions.status).toBe(200);
    expect(existsSync(join(dir, 'data/weft.yaml'))).toBe(true);
    expect(readFileSync(join(dir, 'data/localhost.signing.key'), 'utf8')).toMatch(/^ed25519 a_[0-9a-f]{6} [A-Za-z0-9+/]{43}\n$/);
    expect(existsSync(join(dir, 'data/weft.db'))).toBe(true);
    const code = await new Promise<number | null>((res) => { child.on('exit', res); child.kill('SIGTERM'); });
    expect(code).toBe(0);
  });
});
