// Profile fields beyond displayname and avatar_url (which live in `profiles`, accounts.ts):
// m.tz and custom keys, each a JSON value. spec: client-server-api "Profiles"
import type { JsonValue } from '../core/pdu.js';
import type { DB } from './database.js';

export class ProfileFieldStore {
  constructor(private readonly db: DB) {}

  /** All of the user's extra fields, by key. */
  async fields(userId: string): Promise<Map<string, JsonValue>> {
    const rows = await this.db.selectFrom('profile_fields').select(['field', 'value']).where('user_id', '=', userId).orderBy('field').execute();
    return new Map(rows.map((r) => [r.field, JSON.parse(r.value) as JsonValue]));
  }

  async set(userId: string, field: string, value: JsonValue): Promise<void> {
    const json = JSON.stringify(value);
    await this.db.insertInto('profile_fields').values({ user_id: userId, field, value: json })
      .onConflict((oc) => oc.columns(['user_id', 'field']).doUpdateSet({ value: json })).execute();
  }

  async delete(userId: string, field: string): Promise<void> {
    await this.db.deleteFrom('profile_fields').where('user_id', '=', userId).where('field', '=', field).execute();
  }

  /** Deletes all of the user's extra fields (account deactivation). */
  async deleteAll(userId: string): Promise<void> {
    await this.db.deleteFrom('profile_fields').where('user_id', '=', userId).execute();
  }
}
