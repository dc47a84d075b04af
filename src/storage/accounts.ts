// Users and their profiles.
import type { DB } from './database.js';
import { streamHighWater } from './stream-position.js';

export interface UserRow {
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  deactivated: boolean;
  createdTs: number;
}

export class AccountStore {
  private erased: Map<string, number> | undefined;

  constructor(private readonly db: DB) {}

  /** Creates the user and profile; returns false if the user ID is taken. */
  async createUser(u: { userId: string; passwordHash: string | null; isAdmin: boolean; isGuest: boolean; displayname: string | null; now: number }): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const inserted = await tx.insertInto('users').values({
        user_id: u.userId, password_hash: u.passwordHash, is_admin: u.isAdmin ? 1 : 0,
        is_guest: u.isGuest ? 1 : 0, deactivated: 0, created_ts: u.now,
      }).onConflict((oc) => oc.column('user_id').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return false;
      await tx.insertInto('profiles').values({ user_id: u.userId, displayname: u.displayname, avatar_url: null })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ displayname: u.displayname, avatar_url: null })).execute();
      return true;
    });
  }

  async getUser(userId: string): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return r && {
      userId: r.user_id, passwordHash: r.password_hash, isAdmin: r.is_admin === 1,
      isGuest: r.is_guest === 1, deactivated: r.deactivated === 1, createdTs: r.created_ts,
    };
  }

  async userExists(userId: string): Promise<boolean> {
    const r = await this.db.selectFrom('users').select('user_id').where('user_id', '=', userId).executeTakeFirst();
    return r !== undefined;
  }

  async setPasswordHash(userId: string, hash: string | null): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: hash }).where('user_id', '=', userId).execute();
  }

  async deactivate(userId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.updateTable('users').set({ deactivated: 1, password_hash: null }).where('user_id', '=', userId).execute();
      await tx.updateTable('profiles').set({ displayname: null, avatar_url: null }).where('user_id', '=', userId).execute();
    });
  }

  /** Records an erasure (idempotent): events up to now stay readable to those who could see them. */
  async markErased(userId: string): Promise<void> {
    const at = await streamHighWater(this.db, 'events', 'nid');
    await this.db.insertInto('erased_users').values({ user_id: userId, erased_at_nid: at }).onConflict((oc) => oc.column('user_id').doNothing()).execute();
    this.erased = undefined;
  }

  /**
   * Every erased user with the event position of their erasure. Read on every visibility check,
   * so kept in memory (erasures are rare; one process writes them).
   */
  async erasedUsers(): Promise<ReadonlyMap<string, number>> {
    if (!this.erased) {
      const rows = await this.db.selectFrom('erased_users').select(['user_id', 'erased_at_nid']).execute();
      this.erased = new Map(rows.map((r) => [r.user_id, Number(r.erased_at_nid)]));
    }
    return this.erased;
  }

  async getProfile(userId: string): Promise<{ displayname: string | null; avatar_url: string | null } | undefined> {
    return this.db.selectFrom('profiles').select(['displayname', 'avatar_url']).where('user_id', '=', userId).executeTakeFirst();
  }

  async setProfileField(userId: string, field: 'displayname' | 'avatar_url', value: string | null): Promise<void> {
    await this.db.updateTable('profiles').set({ [field]: value }).where('user_id', '=', userId).execute();
  }
}
