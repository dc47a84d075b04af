#!/usr/bin/env node
// The `weft` command: start, generate-config, register-user, migrate, registration-token.
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { ConfigError, loadConfig, writeConfigIfMissing, type Config } from './config.js';

const DEFAULT_CONFIG = './data/weft.yaml';

const HELP: Record<string, string> = {
  main: `Usage: weft <command> [options]

Commands:
  start                 run the homeserver (creates a config and signing key on first run)
  generate-config       write a new configuration file
  register-user         create a user account
  migrate               bring the database schema up to date
  registration-token    create or list registration tokens

Run \`weft <command> --help\` for a command's options.
Every command takes --config <path> (default ${DEFAULT_CONFIG}, or $WEFT_CONFIG).`,
  start: `Usage: weft start [--config <path>]

Runs the homeserver. If the configuration file does not exist, one is generated
with the defaults (server name "localhost", SQLite under the config's folder,
listening on http://127.0.0.1:8008). WEFT_* environment variables override options.`,
  'generate-config': `Usage: weft generate-config [--config <path>] [--server-name <name>]

Writes a configuration file with the defaults and a fresh registration shared
secret. Refuses to overwrite an existing file.`,
  'register-user': `Usage: weft register-user [--config <path>] [--user <localpart>] [--password <password>] [--admin | --no-admin]

Creates a user on this server's database. Asks for the user name and the password
(twice, not echoed) when they are not given, and whether the user is an admin
unless --admin or --no-admin is given.`,
  migrate: `Usage: weft migrate [--config <path>]

Applies the database migrations that have not run yet, and lists them.`,
  'registration-token': `Usage: weft registration-token create [--config <path>] [--token <token>] [--uses <n>] [--expires-in-hours <h>]
       weft registration-token list [--config <path>]

Creates a registration token (for registration.mode: token), or lists the tokens
with their uses.`,
};

function fail(message: string): never {
  process.stderr.write(`weft: ${message}\n`);
  process.exit(1);
}

function configPath(v: unknown): string {
  return resolve(typeof v === 'string' ? v : process.env.WEFT_CONFIG ?? DEFAULT_CONFIG);
}

function readConfig(path: string): Config {
  try {
    return loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) fail(`bad configuration (${path}): ${err.message}`);
    throw err;
  }
}

// One line reader for the whole run: piped answers arrive together and must not be lost.
let lines: AsyncIterableIterator<string> | undefined;
let muted = false;

async function ask(question: string, hidden = false): Promise<string> {
  if (!lines) {
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false });
    // Hide what is typed for passwords on a terminal.
    const out = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    const write = out._writeToOutput.bind(rl);
    out._writeToOutput = (s: string) => { if (!muted) write(s); };
    lines = rl[Symbol.asyncIterator]();
  }
  process.stdout.write(question);
  muted = hidden && Boolean(process.stdin.isTTY);
  const next = await lines.next();
  if (muted) process.stdout.write('\n');
  muted = false;
  if (next.done) fail('no answer on standard input');
  return next.value;
}

async function openHomeserver(path: string) {
  const { Homeserver, createLogger } = await import('./homeserver.js');
  const config = readConfig(path);
  return Homeserver.open(config, createLogger({ log_level: 'warn' }));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP.main}\n`);
    return;
  }
  if (!(command in HELP) || command === 'main') fail(`unknown command "${command}"\n\n${HELP.main}`);

  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: rest,
        allowPositionals: command === 'registration-token',
        options: {
          help: { type: 'boolean', short: 'h' },
          config: { type: 'string', short: 'c' },
          'server-name': { type: 'string' },
          user: { type: 'string', short: 'u' },
          password: { type: 'string', short: 'p' },
          admin: { type: 'boolean', short: 'a' },
          'no-admin': { type: 'boolean' },
          token: { type: 'string' },
          uses: { type: 'string' },
          'expires-in-hours': { type: 'string' },
        },
      });
    } catch (err) {
      fail(`${(err as Error).message}\n\n${HELP[command]}`);
    }
  })();
  if (values.help) {
    process.stdout.write(`${HELP[command]}\n`);
    return;
  }
  const path = configPath(values.config);

  switch (command) {
    case 'generate-config': {
      if (!writeConfigIfMissing(path, values['server-name'])) fail(`${path} already exists; not overwriting it`);
      readConfig(path);
      process.stdout.write(`wrote ${path}\n`);
      return;
    }
    case 'start': {
      if (writeConfigIfMissing(path)) process.stderr.write(`weft: generated a new configuration at ${path}\n`);
      const { Homeserver, createLogger } = await import('./homeserver.js');
      const config = readConfig(path);
      const log = createLogger(config);
      const hs = await Homeserver.open(config, log);
      const addresses = await hs.listen();
      log.info({ server_name: config.server_name, addresses }, 'weft is listening');
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        log.info('shutting down');
        await hs.close();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      return;
    }
    case 'migrate': {
      const { openDatabase } = await import('./storage/database.js');
      const { migrateToLatest } = await import('./storage/migrate.js');
      const db = openDatabase(readConfig(path).database);
      try {
        const { applied } = await migrateToLatest(db);
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'the database is up to date\n');
      } finally {
        await db.close();
      }
      return;
    }
    case 'register-user': {
      const hs = await openHomeserver(path);
      try {
        const user = values.user ?? (await ask('User name: '));
        let password = values.password;
        if (password === undefined) {
          password = await ask('Password: ', true);
          if ((await ask('Confirm password: ', true)) !== password) fail('the passwords do not match');
        }
        if (!password) fail('the password must not be empty');
        let admin = values.admin ?? false;
        if (!values.admin && !values['no-admin']) admin = /^y(es)?$/i.test((await ask('Make admin [no]: ')).trim());
        const localpart = user.startsWith('@') ? user.slice(1, user.indexOf(':')) : user;
        const r = await hs.accounts.register({
          localpart, password, admin, deviceId: null, deviceDisplayName: null, inhibitLogin: true, refresh: false, guest: false, ip: null,
        });
        process.stdout.write(`created ${r.user_id}${admin ? ' (admin)' : ''}\n`);
        process.stdin.destroy();
      } catch (err) {
        fail((err as Error).message);
      } finally {
        await hs.close();
      }
      return;
    }
    case 'registration-token': {
      const sub = positionals[0];
      if (sub !== 'create' && sub !== 'list') fail(`expected "create" or "list"\n\n${HELP[command]}`);
      const hs = await openHomeserver(path);
      try {
        if (sub === 'list') {
          for (const t of await hs.registrationTokens.list()) {
            process.stdout.write(`${t.token}\tuses: ${t.completed}/${t.usesAllowed ?? '∞'}\texpires: ${t.expiryTs ? new Date(t.expiryTs).toISOString() : 'never'}\n`);
          }
        } else {
          const uses = values.uses === undefined ? null : Number(values.uses);
          if (uses !== null && (!Number.isInteger(uses) || uses < 1)) fail('--uses must be a positive whole number');
          const hours = values['expires-in-hours'] === undefined ? null : Number(values['expires-in-hours']);
          if (hours !== null && !(hours > 0)) fail('--expires-in-hours must be a positive number');
          const t = await hs.registrationTokens.create({ token: values.token, usesAllowed: uses, expiryTs: hours === null ? null : Date.now() + hours * 3_600_000 });
          if (!t) fail('that token already exists');
          process.stdout.write(`${t.token}\n`);
        }
      } catch (err) {
        fail((err as Error).message);
      } finally {
        await hs.close();
      }
      return;
    }
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message);
  process.stderr.write(`weft: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
