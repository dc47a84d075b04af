// Media metadata, thumbnails and URL preview cache (the files themselves are on disk, see
// services/media/file-store.ts). spec: client-server-api modules/content_repo
import { sql } from 'kysely';
import type { DB } from './database.js';

export interface MediaRecord {
  serverName: string;
  mediaId: string;
  userId: string | null;
  contentType: string | null;
  uploadName: string | null;
  /** null while a created mxc:// URI waits for its content. */
  size: number | null;
  sha256: string | null;
  createdTs: number;
  expiresTs: number | null;
}

export interface ThumbnailRecord {
  width: number;
  height: number;
  method: string;
  animated: boolean;
  contentType: string;
  actualWidth: number;
  actualHeight: number;
  size: number;
  sha256: string;
}

type MediaRow = {
  server_name: string; media_id: string; user_id: string | null; content_type: string | null; upload_name: string | null;
  size: number | null; sha256: string | null; created_ts: number; expires_ts: number | null;
};

const toRecord = (r: MediaRow): MediaRecord => ({
  serverName: r.server_name, mediaId: r.media_id, userId: r.user_id, contentType: r.content_type, uploadName: r.upload_name,
  size: r.size === null ? null : Number(r.size), sha256: r.sha256, createdTs: Number(r.created_ts),
  expiresTs: r.expires_ts === null ? null : Number(r.expires_ts),
});

export class MediaStore {
  constructor(private readonly db: DB) {}

  async get(serverName: string, mediaId: string): Promise<MediaRecord | undefined> {
    const r = await this.db.selectFrom('media').selectAll()
      .where('server_name', '=', serverName).where('media_id', '=', mediaId).executeTakeFirst();
    return r && toRecord(r);
  }

  /** Stores uploaded (or fetched) content under a new mxc:// URI. */
  async insert(m: MediaRecord): Promise<void> {
    await this.db.insertInto('media').values({
      server_name: m.serverName, media_id: m.mediaId, user_id: m.userId, content_type: m.contentType, upload_name: m.uploadName,
      size: m.size, sha256: m.sha256, created_ts: m.createdTs, expires_ts: m.expiresTs,
    }).execute();
  }

  /** Stores a remote server's media in the cache, unless a concurrent fetch already did. */
  async insertIfAbsent(m: MediaRecord): Promise<void> {
    await this.db.insertInto('media').values({
      server_name: m.serverName, media_id: m.mediaId, user_id: m.userId, content_type: m.contentType, upload_name: m.uploadName,
      size: m.size, sha256: m.sha256, created_ts: m.createdTs, expires_ts: m.expiresTs,
    }).onConflict((oc) => oc.columns(['server_name', 'media_id']).doNothing()).execute();
  }

  /** Fills a created mxc:// URI with its content; false if it already had some (or is gone). */
  async complete(serverName: string, mediaId: string, c: { contentType: string; uploadName: string | null; size: number; sha256: string }): Promise<boolean> {
    const r = await this.db.updateTable('media')
      .set({ content_type: c.contentType, upload_name: c.uploadName, size: c.size, sha256: c.sha256, expires_ts: null })
      .where('server_name', '=', serverName).where('media_id', '=', mediaId).where('sha256', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Bytes of content a user has uploaded, for the quota. */
  async usedBytes(userId: string): Promise<number> {
    const r = await this.db.selectFrom('media').select(sql<string | number | null>`SUM(size)`.as('total'))
      .where('user_id', '=', userId).executeTakeFirst();
    return Number(r?.total ?? 0);
  }

  /** Created mxc:// URIs of a user still waiting for their content. */
  async pendingCount(userId: string, now: number): Promise<number> {
    const r = await this.db.selectFrom('media').select(sql<string | number>`COUNT(*)`.as('n'))
      .where('user_id', '=', userId).where('sha256', 'is', null).where('expires_ts', '>', now).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Drops created mxc:// URIs whose time to upload has passed. */
  async deleteExpiredPending(now: number): Promise<void> {
    await this.db.deleteFrom('media').where('sha256', 'is', null).where('expires_ts', '<=', now).execute();
  }

  async thumbnails(serverName: string, mediaId: string): Promise<ThumbnailRecord[]> {
    const rows = await this.db.selectFrom('media_thumbnails').selectAll()
      .where('server_name', '=', serverName).where('media_id', '=', mediaId).execute();
    return rows.map((r) => ({
      width: r.width, height: r.height, method: r.method, animated: r.animated === 1, contentType: r.content_type,
      actualWidth: r.actual_width, actualHeight: r.actual_height, size: Number(r.size), sha256: r.sha256,
    }));
  }

  async insertThumbnail(serverName: string, mediaId: string, t: ThumbnailRecord): Promise<void> {
    await this.db.insertInto('media_thumbnails').values({
      server_name: serverName, media_id: mediaId, width: t.width, height: t.height, method: t.method, animated: t.animated ? 1 : 0,
      content_type: t.contentType, actual_width: t.actualWidth, actual_height: t.actualHeight, size: t.size, sha256: t.sha256,
    }).onConflict((oc) => oc.columns(['server_name', 'media_id', 'width', 'height', 'method', 'animated']).doNothing()).execute();
  }

  async urlPreview(url: string, now: number): Promise<Record<string, unknown> | undefined> {
    const r = await this.db.selectFrom('url_previews').select('og').where('url', '=', url).where('expires_ts', '>', now).executeTakeFirst();
    return r ? JSON.parse(r.og) as Record<string, unknown> : undefined;
  }

  async putUrlPreview(url: string, og: Record<string, unknown>, now: number, expiresTs: number): Promise<void> {
    const json = JSON.stringify(og);
    await this.db.insertInto('url_previews').values({ url, og: json, fetched_ts: now, expires_ts: expiresTs })
      .onConflict((oc) => oc.column('url').doUpdateSet({ og: json, fetched_ts: now, expires_ts: expiresTs })).execute();
    await this.db.deleteFrom('url_previews').where('expires_ts', '<=', now).execute();
  }
}
