// Versioned migrations, applied in order at start and by `weft migrate`.
import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './database.js';
import * as m001 from './migrations/001-accounts.js';
import * as m002 from './migrations/002-rooms.js';
import * as m003 from './migrations/003-directory.js';
import * as m004 from './migrations/004-relations.js';
import * as m005 from './migrations/005-account-data.js';
import * as m006 from './migrations/006-receipts-presence.js';
import * as m007 from './migrations/007-sync.js';
import * as m008 from './migrations/008-e2ee.js';
import * as m009 from './migrations/009-push-actions.js';
import * as m013 from './migrations/013-federation-transport.js';
import * as m015 from './migrations/015-erased-users.js';
import * as m011 from './migrations/011-search.js';
import * as m010 from './migrations/010-push.js';
import * as m012 from './migrations/012-media.js';
import * as m014 from './migrations/014-federation-events.js';
import * as m016 from './migrations/016-backfill.js';
import * as m018 from './migrations/018-remote-device-keys.js';
import * as m019 from './migrations/019-remote-device-list-stream.js';

const MIGRATIONS: Record<string, Migration> = {
  '001-accounts': m001,
  '002-rooms': m002,
  '003-directory': m003,
  '004-relations': m004,
  '005-account-data': m005,
  '006-receipts-presence': m006,
  '007-sync': m007,
  '008-e2ee': m008,
  '009-push-actions': m009,
  '013-federation-transport': m013,
  '015-erased-users': m015,
  '011-search': m011,
  '010-push': m010,
  '012-media': m012,
  '014-federation-events': m014,
  '016-backfill': m016,
  '018-remote-device-keys': m018,
  '019-remote-device-list-stream': m019,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

export interface MigrationOutcome { applied: string[] }

export async function migrateToLatest(database: Database): Promise<MigrationOutcome> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const migrator = new Migrator({ db: database.db as any, provider, migrationTableName: 'weft_migrations', migrationLockTableName: 'weft_migrations_lock',
    // Migrations are independent tables; one numbered before an applied one may still run.
    allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
