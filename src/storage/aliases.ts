// Room aliases that live on this server.
import type { DB } from './database.js';

export class AliasStore {
  constructor(private readonly db: DB) {}

  /** Returns false when the alias is taken. */
  async create(alias: string, roomId: string, creator: string): Promise<boolean> {
    const r = await this.db.insertInto('room_aliases').values({ alias, room_id: roomId, creator })
      .onConflict((oc) => oc.column('alias').doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async get(alias: string): Promise<{ roomId: string; creator: string } | undefined> {
    const r = await this.db.selectFrom('room_aliases').select(['room_id', 'creator']).where('alias', '=', alias).executeTakeFirst();
    return r && { roomId: r.room_id, creator: r.creator };
  }

  /** Removes the alias; returns the room it pointed to, or undefined if it did not exist. */
  async delete(alias: string): Promise<string | undefined> {
    const r = await this.db.deleteFrom('room_aliases').where('alias', '=', alias).returning('room_id').executeTakeFirst();
    return r?.room_id;
  }

  async forRoom(roomId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('room_aliases').select('alias').where('room_id', '=', roomId).orderBy('alias').execute();
    return rows.map((r) => r.alias);
  }

  async moveRoom(fromRoomId: string, toRoomId: string): Promise<void> {
    await this.db.updateTable('room_aliases').set({ room_id: toRoomId }).where('room_id', '=', fromRoomId).execute();
  }
}
