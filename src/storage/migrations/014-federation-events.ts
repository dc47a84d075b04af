// Federation, event side: the stripped room state another server sent with an invite to a
// local user, shown by /sync while this server is not in the room.
// spec: server-server-api PUT /_matrix/federation/v2/invite (invite_room_state)
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE TABLE invite_stripped_state (
    event_id TEXT PRIMARY KEY,
    state TEXT NOT NULL
  )`.execute(db);
}
