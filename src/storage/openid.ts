// OpenID tokens (spec: client-server-api modules/openid), stored as hashes.
import type { DB } from './database.js';

export class OpenIdStore {
  constructor(private readonly db: DB) {}

  /** Stores a new token and drops the expired ones. */
  async insert(t: { tokenHash: string; userId: string; expiresTs: number; now: number }): Promise<void> {
    await this.db.deleteFrom('openid_tokens').where('expires_ts', '<=', t.now).execute();
    await this.db.insertInto('openid_tokens').values({ token_hash: t.tokenHash, user_id: t.userId, expires_ts: t.expiresTs }).execute();
  }

  /** The user a token belongs to, if it exists and has not expired. */
  async userOf(tokenHash: string, now: number): Promise<string | undefined> {
    const r = await this.db.selectFrom('openid_tokens').select('user_id')
      .where('token_hash', '=', tokenHash).where('expires_ts', '>', now).executeTakeFirst();
    return r?.user_id;
  }
}
