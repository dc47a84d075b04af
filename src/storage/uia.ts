// User-interactive authentication sessions.
import type { DB } from './database.js';

export interface UiaSessionRow {
  sessionId: string;
  userId: string | null;
  method: string;
  path: string;
  completed: string[];
  data: Record<string, unknown>;
  createdTs: number;
}

export class UiaStore {
  constructor(private readonly db: DB) {}

  async create(s: Omit<UiaSessionRow, 'completed' | 'data'>): Promise<void> {
    await this.db.insertInto('uia_sessions').values({
      session_id: s.sessionId, user_id: s.userId, method: s.method, path: s.path,
      completed: '[]', data: '{}', created_ts: s.createdTs,
    }).execute();
  }

  async get(sessionId: string): Promise<UiaSessionRow | undefined> {
    const r = await this.db.selectFrom('uia_sessions').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
    return r && {
      sessionId: r.session_id, userId: r.user_id, method: r.method, path: r.path,
      completed: JSON.parse(r.completed) as string[], data: JSON.parse(r.data) as Record<string, unknown>, createdTs: r.created_ts,
    };
  }

  async update(sessionId: string, completed: string[], data: Record<string, unknown>): Promise<void> {
    await this.db.updateTable('uia_sessions').set({ completed: JSON.stringify(completed), data: JSON.stringify(data) })
      .where('session_id', '=', sessionId).execute();
  }

  async delete(sessionId: string): Promise<void> {
    await this.db.deleteFrom('uia_sessions').where('session_id', '=', sessionId).execute();
  }

  async deleteOlderThan(ts: number): Promise<void> {
    await this.db.deleteFrom('uia_sessions').where('created_ts', '<', ts).execute();
  }
}
