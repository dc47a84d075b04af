// The media repository: what each mxc:// URI holds, its thumbnails, and cached URL previews.
// spec: client-server-api modules/content_repo
import { sql, type Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // One row per mxc://<server_name>/<media_id>. Local media has the uploader's user_id (NULL for
  // media the server stored itself, such as URL preview images). A row created by
  // POST /media/v1/create has no sha256 until its content arrives; it expires at `expires_ts`.
  // Files live on disk under their sha256, so identical uploads share one file.
  await sql`CREATE TABLE media (
    server_name TEXT NOT NULL,
    media_id TEXT NOT NULL,
    user_id TEXT,
    content_type TEXT,
    upload_name TEXT,
    size BIGINT,
    sha256 TEXT,
    created_ts BIGINT NOT NULL,
    expires_ts BIGINT,
    PRIMARY KEY (server_name, media_id)
  )`.execute(db);
  await db.schema.createIndex('media_user').on('media').columns(['user_id', 'created_ts']).execute();

  // Thumbnails, generated on upload for the configured sizes or on first request.
  // `animated` is 0/1; the file is content-addressed like the media.
  await sql`CREATE TABLE media_thumbnails (
    server_name TEXT NOT NULL,
    media_id TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    method TEXT NOT NULL,
    animated INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    actual_width INTEGER NOT NULL,
    actual_height INTEGER NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (server_name, media_id, width, height, method, animated)
  )`.execute(db);

  // URL previews by URL: the OpenGraph object served, until `expires_ts`.
  await sql`CREATE TABLE url_previews (
    url TEXT PRIMARY KEY,
    og TEXT NOT NULL,
    fetched_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
  )`.execute(db);
}
