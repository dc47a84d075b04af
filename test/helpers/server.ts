// Starts a real Weft homeserver on a free port with a fresh database, for HTTP tests.
import { join } from 'node:path';
import pino from 'pino';
import { validateConfig, type Config } from '../../src/config.js';
import { Homeserver } from '../../src/homeserver.js';
import { createTestDatabase, type TestDatabase, type TestEngine } from './databases.js';

export interface TestServer {
  hs: Homeserver;
  baseUrl: string;
  config: Config;
  close(): Promise<void>;
  /** Stops this server and starts a new one on the same database (and signing key); use the new one. */
  restart(): Promise<TestServer>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export async function startTestServer(
  engine: TestEngine,
  overrides: DeepPartial<Config> & Record<string, unknown> = {},
  logger: pino.Logger = pino({ level: process.env.WEFT_TEST_LOG ?? 'silent' }),
): Promise<TestServer> {
  const db = await createTestDatabase(engine);
  const raw = {
    server_name: 'test.local',
    listeners: [{ port: 0, bind_address: '127.0.0.1', resources: ['client', 'federation', 'keys', 'media', 'admin', 'health', 'metrics'] }],
    database: db.config,
    registration: { mode: 'open', shared_secret: 'test-shared-secret', allow_guests: true },
    rate_limits: { enabled: false },
    log_level: 'silent',
    media_path: join(db.dir, 'media'),
    signing_key_path: join(db.dir, 'signing.key'),
    ...overrides,
  };
  const config = validateConfig(raw, db.dir);
  return serve(config, db, logger);
}

async function serve(config: Config, db: TestDatabase, logger: pino.Logger): Promise<TestServer> {
  const hs = await Homeserver.open(config, logger);
  const [address] = await hs.listen();
  return {
    hs,
    baseUrl: address,
    config,
    close: async () => {
      await hs.close();
      await db.drop();
    },
    restart: async () => {
      await hs.close();
      return serve(config, db, logger);
    },
  };
}
