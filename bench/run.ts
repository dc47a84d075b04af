// `npm run bench`: the foundation benchmarks in sequence (start-up, whoami throughput,
// registrations and logins), on SQLite and, when reachable, PostgreSQL.
// Needs a build (`npm run build`): every server runs as `node dist/cli.js start`.
//
//   npm run bench [-- sqlite|postgres]
import { loadavg } from 'node:os';
import { enginesFromArgv, fmt, machine, requireBuild } from './lib/server.js';
import { benchStartup, printStartup } from './startup.js';
import { benchWhoami, printWhoami } from './whoami.js';
import { benchRegisterLogin, printRegisterLogin } from './register-login.js';

async function main(): Promise<void> {
  requireBuild();
  const engines = await enginesFromArgv();
  process.stdout.write(`Weft foundation benchmarks — ${machine()}; load average ${loadavg().map((x) => fmt(x, 2)).join(' ')}\n`);
  for (const engine of engines) printStartup(await benchStartup(engine));
  for (const engine of engines) printWhoami(await benchWhoami(engine));
  for (const engine of engines) printRegisterLogin(await benchRegisterLogin(engine));
  process.stdout.write(`load average at the end ${loadavg().map((x) => fmt(x, 2)).join(' ')}\n`);
}

main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
