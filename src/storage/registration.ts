// Registration tokens (m.login.registration_token) and shared-secret registration nonces.
import { sql } from 'kysely';
import type { DB } from './database.js';

export interface RegistrationTokenRow {
  token: string;
  usesAllowed: number | null;
  pending: number;
  completed: number;
  expiryTs: number | null;
}

export class RegistrationStore {
  constructor(private readonly db: DB) {}

  async createToken(t: { token: string; usesAllowed: number | null; expiryTs: number | null }): Promise<boolean> {
    const r = await this.db.insertInto('registration_tokens')
      .values({ token: t.token, uses_allowed: t.usesAllowed, pending: 0, completed: 0, expiry_ts: t.expiryTs })
      .onConflict((oc) => oc.column('token').doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async listTokens(): Promise<RegistrationTokenRow[]> {
    const rows = await this.db.selectFrom('registration_tokens').selectAll().orderBy('token').execute();
    return rows.map((r) => ({ token: r.token, usesAllowed: r.uses_allowed, pending: r.pending, completed: r.completed, expiryTs: r.expiry_ts }));
  }

  async getToken(token: string): Promise<RegistrationTokenRow | undefined> {
    const r = await this.db.selectFrom('registration_tokens').selectAll().where('token', '=', token).executeTakeFirst();
    return r && { token: r.token, usesAllowed: r.uses_allowed, pending: r.pending, completed: r.completed, expiryTs: r.expiry_ts };
  }

  /** Reserves one use of the token if it is still valid; returns whether it did (atomic). */
  async reserveToken(token: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable('registration_tokens')
      .set({ pending: sql`pending + 1` })
      .where('token', '=', token)
      .where((eb) => eb.or([eb('expiry_ts', 'is', null), eb('expiry_ts', '>', now)]))
      .where((eb) => eb.or([eb('uses_allowed', 'is', null), eb(sql`pending + completed`, '<', eb.ref('uses_allowed'))]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Turns a reserved use into a completed one once the account exists. */
  async completeToken(token: string): Promise<void> {
    await this.db.updateTable('registration_tokens')
      .set({ pending: sql`pending - 1`, completed: sql`completed + 1` })
      .where('token', '=', token).where('pending', '>', 0).execute();
  }

  async releaseToken(token: string): Promise<void> {
    await this.db.updateTable('registration_tokens').set({ pending: sql`pending - 1` })
      .where('token', '=', token).where('pending', '>', 0).execute();
  }

  async insertNonce(nonce: string, now: number): Promise<void> {
    await this.db.insertInto('registration_nonces').values({ nonce, created_ts: now }).execute();
  }

  /** Single use: returns whether the nonce existed and was younger than `notBefore`. */
  async consumeNonce(nonce: string, notBefore: number): Promise<boolean> {
    const r = await this.db.deleteFrom('registration_nonces').where('nonce', '=', nonce).where('created_ts', '>=', notBefore).executeTakeFirst();
    await this.db.deleteFrom('registration_nonces').where('created_ts', '<', notBefore).execute();
    return Number(r.numDeletedRows) > 0;
  }
}
