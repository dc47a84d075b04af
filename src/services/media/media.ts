// The media repository: uploads (direct and asynchronous), downloads and thumbnails.
// spec: client-server-api modules/content_repo
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config, ThumbnailMethod, ThumbnailSize } from '../../config.js';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { MediaRecord, MediaStore } from '../../storage/media.js';
import { ContentTooLargeError, FileStore } from './file-store.js';
import { chooseThumbnailSize, isAnimated, probeImage, renderThumbnail, type ImageProbe } from './thumbnails.js';

/** How long a download of a created but not yet uploaded mxc:// URI may wait at most. */
export const MAX_WAIT_MS = 60_000;
/** spec: content_repo `timeout_ms` default. */
export const DEFAULT_WAIT_MS = 20_000;

export interface UploadMeta {
  contentType: string | undefined;
  filename: string | undefined;
  /** The Content-Length header, when the client sent one. */
  contentLength: number | undefined;
}

/** What a download or thumbnail request serves: a stored file (or bytes) and how to label it. */
export interface Served {
  /** The stored file, or `data` for a thumbnail rendered for one request. */
  sha256: string | null;
  data?: Buffer;
  size: number;
  contentType: string;
  /** The upload's file name (downloads only). */
  filename: string | null;
}

export interface ThumbnailRequest { width: number; height: number; method: ThumbnailMethod; animated: boolean | undefined }

// spec: content_repo: media IDs are [A-Za-z0-9_-]; 24 characters of base64url carry 144 random bits.
export const MEDIA_ID = /^[A-Za-z0-9_-]+$/;
const newMediaId = () => randomBytes(18).toString('base64url');

// A media type as in RFC 9110 ("type/subtype" plus parameters), printable ASCII only, so that it
// can be served back in a header as it was given.
export const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;[\x20-\x7e]*)?$/;

/** Fetches media from other servers; set once federation is available. */
export interface RemoteMediaSource {
  fetch(serverName: string, mediaId: string): Promise<MediaRecord>;
}

export class MediaService {
  readonly files: FileStore;
  private readonly uploaded = new EventEmitter();
  /** Thumbnails being rendered, by key, so concurrent requests share one rendering. */
  private readonly rendering = new Map<string, Promise<Served>>();
  /** Background work (thumbnails of new uploads) that close() waits for. */
  private readonly background = new Set<Promise<unknown>>();
  private closed = false;
  remote: RemoteMediaSource | undefined;

  constructor(
    private readonly store: MediaStore,
    private readonly config: Pick<Config, 'server_name' | 'media_path' | 'media'>,
    private readonly log: Logger,
  ) {
    this.files = new FileStore(config.media_path);
    this.uploaded.setMaxListeners(0);
  }

  get maxUploadBytes(): number { return this.config.media.max_upload_bytes; }

  /** POST /media/v3/upload: stores the content under a new mxc:// URI. */
  async upload(userId: string, body: Readable, meta: UploadMeta): Promise<string> {
    const mediaId = newMediaId();
    const stored = await this.receive(userId, body, meta);
    await this.store.insert({
      serverName: this.config.server_name, mediaId, userId, contentType: stored.contentType, uploadName: meta.filename ?? null,
      size: stored.size, sha256: stored.sha256, createdTs: Date.now(), expiresTs: null,
    });
    this.afterUpload(mediaId, stored.sha256);
    return `mxc://${this.config.server_name}/${mediaId}`;
  }

  /** Stores content the server fetched itself (URL preview images): no uploader, no quota. */
  async storeLocal(bytes: Buffer, contentType: string, filename: string | null): Promise<{ uri: string; sha256: string }> {
    const mediaId = newMediaId();
    const file = await this.files.writeBuffer(bytes);
    await this.store.insert({
      serverName: this.config.server_name, mediaId, userId: null, contentType: normaliseContentType(contentType), uploadName: filename,
      size: file.size, sha256: file.sha256, createdTs: Date.now(), expiresTs: null,
    });
    this.afterUpload(mediaId, file.sha256);
    return { uri: `mxc://${this.config.server_name}/${mediaId}`, sha256: file.sha256 };
  }

  /** Caches another server's media (fetched over federation) under its own mxc:// URI. */
  async storeRemote(serverName: string, mediaId: string, body: Readable, meta: { contentType: string | undefined; filename: string | null }): Promise<MediaRecord> {
    let file;
    try {
      file = await this.files.write(body, this.config.media.max_upload_bytes);
    } catch (err) {
      // spec: content_repo "Security considerations": 502 M_TOO_LARGE for remote media too large
      if (err instanceof ContentTooLargeError) throw new MatrixError('M_TOO_LARGE', 'Remote content is too large', 502);
      throw err;
    }
    await this.store.insertIfAbsent({
      serverName, mediaId, userId: null, contentType: normaliseContentType(meta.contentType), uploadName: meta.filename,
      size: file.size, sha256: file.sha256, createdTs: Date.now(), expiresTs: null,
    });
    return (await this.store.get(serverName, mediaId)) as MediaRecord;
  }

  /** POST /media/v1/create: an mxc:// URI whose content comes later. */
  async create(userId: string): Promise<{ content_uri: string; unused_expires_at: number }> {
    const now = Date.now();
    await this.store.deleteExpiredPending(now);
    // spec: content_repo POST /create: limit concurrent pending uploads with 429 M_LIMIT_EXCEEDED
    if (await this.store.pendingCount(userId, now) >= this.config.media.max_pending_uploads) {
      throw new MatrixError('M_LIMIT_EXCEEDED', 'Too many pending media uploads; upload their content first', 429);
    }
    const mediaId = newMediaId();
    const expiresTs = now + this.config.media.pending_upload_lifetime_ms;
    await this.store.insert({
      serverName: this.config.server_name, mediaId, userId, contentType: null, uploadName: null,
      size: null, sha256: null, createdTs: now, expiresTs,
    });
    return { content_uri: `mxc://${this.config.server_name}/${mediaId}`, unused_expires_at: expiresTs };
  }

  /** PUT /media/v3/upload/{serverName}/{mediaId}: the content of a created mxc:// URI. */
  async uploadTo(userId: string, serverName: string, mediaId: string, body: Readable, meta: UploadMeta): Promise<void> {
    const record = serverName === this.config.server_name ? await this.store.get(serverName, mediaId) : undefined;
    if (!record || (record.sha256 === null && (record.expiresTs ?? 0) <= Date.now())) throw notFound('Unknown media ID');
    if (record.userId !== userId) throw forbidden('This media ID was created by another user');
    if (record.sha256 !== null) throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media already uploaded', 409);
    const stored = await this.receive(userId, body, meta);
    const done = await this.store.complete(serverName, mediaId, {
      contentType: stored.contentType, uploadName: meta.filename ?? null, size: stored.size, sha256: stored.sha256,
    });
    // Two uploads raced for the same ID: the first one won.
    if (!done) throw new MatrixError('M_CANNOT_OVERWRITE_MEDIA', 'Media already uploaded', 409);
    this.uploaded.emit(mediaId);
    this.afterUpload(mediaId, stored.sha256);
  }

  /** The content of an mxc:// URI, waiting up to `timeoutMs` for content not yet uploaded. */
  async download(serverName: string, mediaId: string, timeoutMs = DEFAULT_WAIT_MS, allowRemote = true): Promise<Served> {
    const record = await this.content(serverName, mediaId, timeoutMs, allowRemote);
    return { sha256: record.sha256 as string, size: record.size ?? 0, contentType: record.contentType ?? 'application/octet-stream', filename: record.uploadName };
  }

  /** A thumbnail of an mxc:// URI (spec: content_repo "Thumbnails"). */
  async thumbnail(serverName: string, mediaId: string, req: ThumbnailRequest, timeoutMs = DEFAULT_WAIT_MS, allowRemote = true): Promise<Served> {
    const record = await this.content(serverName, mediaId, timeoutMs, allowRemote);
    const sha256 = record.sha256 as string;
    const probe = await probeImage(this.files.path(sha256), this.config.media.max_image_pixels);
    if (!probe.ok && probe.reason === 'too_large') throw new MatrixError('M_TOO_LARGE', 'Content is too large to thumbnail', 413);
    if (!probe.ok) throw new MatrixError('M_UNKNOWN', 'Cannot generate thumbnails for the requested content', 400);
    const image = probe.image;
    const animated = req.animated === true && isAnimated(image, this.config.media.max_image_pixels);
    // spec: "When the content is smaller than the requested dimensions, servers should return the
    // original content" (unless it moves and a still image was asked for).
    if (image.width <= req.width && image.height <= req.height && (animated || image.pages === 1)) {
      return { sha256, size: record.size ?? 0, contentType: image.contentType, filename: null };
    }
    const size = chooseThumbnailSize(this.config.media.thumbnail_sizes, req.width, req.height, req.method);
    if (size) return this.cachedThumbnail(record, image, size, animated);
    // Larger than every configured size: rendered for this request only, so that arbitrary sizes
    // cannot fill the disk.
    const rendered = await renderThumbnail(this.files.path(sha256), image, { width: req.width, height: req.height, method: req.method }, animated, this.config.media.max_image_pixels);
    return { sha256: null, data: rendered.data, size: rendered.data.length, contentType: rendered.contentType, filename: null };
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.background]);
  }

  /** A record with content; waits for a created URI's content; 404/504 as the spec says. */
  private async content(serverName: string, mediaId: string, timeoutMs: number, allowRemote: boolean): Promise<MediaRecord> {
    let record = await this.store.get(serverName, mediaId);
    if (!record && serverName !== this.config.server_name) {
      if (!allowRemote) throw notFound('Media not found (remote media not fetched: allow_remote is false)');
      if (!this.remote) throw new MatrixError('M_UNKNOWN', 'This server cannot fetch media from other servers yet', 502);
      record = await this.remote.fetch(serverName, mediaId);
    }
    if (!record || (record.sha256 === null && (record.expiresTs ?? 0) <= Date.now())) throw notFound('Media not found');
    if (record.sha256 !== null) return record;
    const deadline = Date.now() + Math.min(Math.max(timeoutMs, 0), MAX_WAIT_MS);
    while (Date.now() < deadline) {
      await this.waitForUpload(mediaId, deadline - Date.now());
      record = await this.store.get(serverName, mediaId);
      if (!record) throw notFound('Media not found');
      if (record.sha256 !== null) return record;
    }
    throw new MatrixError('M_NOT_YET_UPLOADED', 'Content has not yet been uploaded', 504);
  }

  private waitForUpload(mediaId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.uploaded.off(mediaId, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.uploaded.on(mediaId, done);
    });
  }

  /** Streams an upload to disk within the size limit and the user's quota. */
  private async receive(userId: string, body: Readable, meta: UploadMeta): Promise<{ sha256: string; size: number; contentType: string }> {
    const max = this.config.media.max_upload_bytes;
    const tooLarge = () => new MatrixError('M_TOO_LARGE', `Cannot upload files larger than ${max} bytes`, 413);
    if (meta.contentLength !== undefined && meta.contentLength > max) throw tooLarge();
    let limit = max;
    const quota = this.config.media.user_quota_bytes;
    let remaining = Infinity;
    if (quota !== null) {
      remaining = quota - await this.store.usedBytes(userId);
      // spec: content_repo "Security considerations": a user over their quota gets 403 M_FORBIDDEN
      if (remaining <= 0 || (meta.contentLength !== undefined && meta.contentLength > remaining)) throw forbidden('Media upload quota exceeded');
      limit = Math.min(max, remaining);
    }
    try {
      const stored = await this.files.write(body, limit);
      return { ...stored, contentType: normaliseContentType(meta.contentType) };
    } catch (err) {
      if (err instanceof ContentTooLargeError) throw limit === max ? tooLarge() : forbidden('Media upload quota exceeded');
      throw err;
    }
  }

  /** Renders the configured thumbnails of a new image in the background. */
  private afterUpload(mediaId: string, sha256: string): void {
    const task = (async () => {
      const probe = await probeImage(this.files.path(sha256), this.config.media.max_image_pixels);
      if (!probe.ok) return;
      const record = await this.store.get(this.config.server_name, mediaId);
      if (!record) return;
      for (const size of this.config.media.thumbnail_sizes) {
        if (this.closed) return;
        if (probe.image.width <= size.width && probe.image.height <= size.height) continue;
        await this.cachedThumbnail(record, probe.image, size, false);
      }
    })().catch((err: unknown) => this.log.warn({ err, mediaId }, 'thumbnail generation failed'));
    this.background.add(task);
    void task.finally(() => this.background.delete(task));
  }

  /** A configured thumbnail size, rendered once and kept. */
  private cachedThumbnail(record: MediaRecord, image: ImageProbe, size: ThumbnailSize, animated: boolean): Promise<Served> {
    const key = `${record.serverName}/${record.mediaId}/${size.width}x${size.height}/${size.method}/${animated ? 1 : 0}`;
    let pending = this.rendering.get(key);
    if (!pending) {
      pending = (async (): Promise<Served> => {
        const existing = (await this.store.thumbnails(record.serverName, record.mediaId))
          .find((t) => t.width === size.width && t.height === size.height && t.method === size.method && t.animated === animated);
        if (existing) return { sha256: existing.sha256, size: existing.size, contentType: existing.contentType, filename: null };
        const rendered = await renderThumbnail(this.files.path(record.sha256 as string), image, size, animated, this.config.media.max_image_pixels);
        const file = await this.files.writeBuffer(rendered.data);
        await this.store.insertThumbnail(record.serverName, record.mediaId, {
          width: size.width, height: size.height, method: size.method, animated, contentType: rendered.contentType,
          actualWidth: rendered.width, actualHeight: rendered.height, size: file.size, sha256: file.sha256,
        });
        return { sha256: file.sha256, size: file.size, contentType: rendered.contentType, filename: null };
      })();
      this.rendering.set(key, pending);
      void pending.finally(() => this.rendering.delete(key)).catch(() => undefined);
    }
    return pending;
  }
}

/** spec: content_repo upload `Content-Type`: defaults to application/octet-stream. */
function normaliseContentType(value: string | undefined): string {
  const v = value?.trim();
  return v && v.length <= 255 && MEDIA_TYPE.test(v) ? v : 'application/octet-stream';
}
