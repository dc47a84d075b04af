// Start-up time: from spawning `node dist/cli.js start` on an existing data directory
// (config, signing key and a migrated database already there) to its port accepting
// TCP connections. One untimed first run creates the directory; then the median of 5.
// Target: < 1 s.
//
//   node --import tsx bench/startup.ts [sqlite|postgres] [--runs 5]
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createDataDir, enginesFromArgv, fmt, machine, median, registerUser, requireBuild, startServer, type Engine } from './lib/server.js';

export const STARTUP_TARGET_MS = 1000;

export interface StartupResult { engine: Engine; firstMs: number; runsMs: number[]; medianMs: number }

export async function benchStartup(engine: Engine, runs = 5): Promise<StartupResult> {
  const data = await createDataDir(engine);
  try {
    // First run: creates the signing key and the schema; a user makes the database non-empty.
    const first = await startServer(data);
    await registerUser(first.baseUrl, 'startup');
    await first.stop();
    const runsMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = await startServer(data);
      runsMs.push(s.startMs);
      await s.stop();
    }
    return { engine, firstMs: first.startMs, runsMs, medianMs: median(runsMs) };
  } finally {
    await data.destroy();
  }
}

export function printStartup(r: StartupResult): void {
  const verdict = r.medianMs < STARTUP_TARGET_MS ? 'meets' : 'ABOVE';
  process.stdout.write(
    `  startup [${r.engine}]: median ${fmt(r.medianMs, 0)} ms to accept connections (${verdict} the ${STARTUP_TARGET_MS} ms target); ` +
    `runs ${r.runsMs.map((x) => fmt(x, 0)).join(', ')} ms; first run on an empty directory ${fmt(r.firstMs, 0)} ms\n`,
  );
}

async function main(): Promise<void> {
  requireBuild();
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: 'string' } } });
  process.stdout.write(`start-up time — ${machine()}\n`);
  for (const engine of await enginesFromArgv(positionals)) printStartup(await benchStartup(engine, Number(values.runs ?? 5)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => { process.stderr.write(`${(err as Error).stack ?? err}\n`); process.exit(1); });
}
