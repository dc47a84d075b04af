// Filters uploaded by clients: immutable once stored, so cached freely.
// spec: client-server-api "Filtering" (POST/GET /user/{userId}/filter)
import { createHash } from 'node:crypto';
import type { DB } from './database.js';

export class FilterStore {
  constructor(private readonly db: DB) {}

  /** Stores a filter's JSON for a user; the same JSON uploaded again gets the same ID. */
  async create(userId: string, json: string): Promise<string> {
    const hash = createHash('sha256').update(json).digest('base64');
    await this.db.insertInto('filters').values({ user_id: userId, filter_hash: hash, filter_json: json })
      .onConflict((oc) => oc.columns(['user_id', 'filter_hash']).doNothing()).execute();
    const row = await this.db.selectFrom('filters').select('filter_id')
      .where('user_id', '=', userId).where('filter_hash', '=', hash).executeTakeFirstOrThrow();
    return String(row.filter_id);
  }

  /** A user's filter JSON; undefined for an unknown ID or another user's filter. */
  async get(userId: string, filterId: string): Promise<string | undefined> {
    if (!/^[0-9]{1,15}$/.test(filterId)) return undefined;
    const row = await this.db.selectFrom('filters').select('filter_json')
      .where('filter_id', '=', Number(filterId)).where('user_id', '=', userId).executeTakeFirst();
    return row?.filter_json;
  }
}
