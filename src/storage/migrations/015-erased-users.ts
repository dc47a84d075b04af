// Users who deactivated with `erase`: later viewers get redacted copies of their events.
// spec: client-server-api POST /account/deactivate, `erase`
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createTable('erased_users')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    // The newest event position when the erasure was asked for: who joined after it sees redacted copies.
    .addColumn('erased_at_nid', 'bigint', (c) => c.notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('erased_users').execute();
}
