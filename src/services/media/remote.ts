// Media of other servers, fetched over federation and kept in the local cache afterwards.
// spec: server-server-api "Content Repository": try GET /_matrix/federation/v1/media/download
// first; on 404 M_UNRECOGNIZED fall back to the deprecated /_matrix/media/v3/download with
// allow_remote=false. A part with a `Location` is fetched from there (not cached as a URL).
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { MatrixError, notFound } from '../../errors.js';
import type { MediaRecord } from '../../storage/media.js';
import { FederationRequestError, type FederationClient } from '../federation/client.js';
import type { MediaService, RemoteMediaSource } from './media.js';
import { dispositionFilename, multipartBoundary, readMultipartMedia } from './multipart.js';
import { readAtMost } from '../net/read-limited.js';

const FETCH_TIMEOUT_MS = 60_000;

interface Incoming { content: Readable; contentType: string | undefined; disposition: string | undefined; length: number | undefined }

export class FederatedMedia implements RemoteMediaSource {
  private readonly inFlight = new Map<string, Promise<MediaRecord>>();

  constructor(private readonly client: FederationClient, private readonly media: MediaService, private readonly log: Logger) {}

  fetch(serverName: string, mediaId: string): Promise<MediaRecord> {
    const key = `${serverName}/${mediaId}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.download(serverName, mediaId);
      this.inFlight.set(key, pending);
      void pending.finally(() => this.inFlight.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  private async download(serverName: string, mediaId: string): Promise<MediaRecord> {
    try {
      const incoming = await this.fetchFederated(serverName, mediaId) ?? await this.fetchLegacy(serverName, mediaId);
      // spec: content_repo "Security considerations": remote media too large is 502 M_TOO_LARGE.
      if (incoming.length !== undefined && incoming.length > this.media.maxUploadBytes) {
        incoming.content.destroy();
        throw new MatrixError('M_TOO_LARGE', 'Remote content is too large', 502);
      }
      return await this.media.storeRemote(serverName, mediaId, incoming.content, {
        contentType: incoming.contentType, filename: dispositionFilename(incoming.disposition),
      });
    } catch (err) {
      if (err instanceof MatrixError) throw err;
      this.log.info({ err, serverName, mediaId }, 'remote media not fetched');
      throw new MatrixError('M_UNKNOWN', `Cannot fetch media from ${serverName}`, 502);
    }
  }

  /** The federation endpoint; undefined when the remote does not know it (404 M_UNRECOGNIZED). */
  private async fetchFederated(serverName: string, mediaId: string): Promise<Incoming | undefined> {
    const res = await this.client.requestRaw(serverName, `/_matrix/federation/v1/media/download/${mediaId}`, {
      query: { timeout_ms: '20000' }, timeoutMs: FETCH_TIMEOUT_MS,
    });
    if (res.statusCode !== 200) {
      const error = await errorOf(res);
      if (res.statusCode === 404 && error.errcode === 'M_UNRECOGNIZED') return undefined;
      throw remoteError(res.statusCode, error, serverName);
    }
    const boundary = multipartBoundary(header(res, 'content-type'));
    if (!boundary) {
      await res.body.dump();
      throw new FederationRequestError(`${serverName} answered a media download without multipart/mixed`);
    }
    const part = await readMultipartMedia(res.body, boundary);
    const location = part.headers.location;
    if (location !== undefined) {
      part.content.destroy();
      const redirected = await this.client.fetchUrl(location, FETCH_TIMEOUT_MS);
      if (redirected.statusCode !== 200) {
        await redirected.body.dump();
        throw new FederationRequestError(`${serverName}'s media location answered ${redirected.statusCode}`);
      }
      return fromResponse(redirected);
    }
    return { content: part.content, contentType: part.headers['content-type'], disposition: part.headers['content-disposition'], length: undefined };
  }

  private async fetchLegacy(serverName: string, mediaId: string): Promise<Incoming> {
    const res = await this.client.requestRaw(serverName, `/_matrix/media/v3/download/${serverName}/${mediaId}`, {
      query: { allow_remote: 'false' }, timeoutMs: FETCH_TIMEOUT_MS,
    });
    if (res.statusCode !== 200) throw remoteError(res.statusCode, await errorOf(res), serverName);
    return fromResponse(res);
  }
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function fromResponse(res: Dispatcher.ResponseData): Incoming {
  const length = header(res, 'content-length');
  return {
    content: res.body, contentType: header(res, 'content-type'), disposition: header(res, 'content-disposition'),
    length: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
  };
}

async function errorOf(res: Dispatcher.ResponseData): Promise<{ errcode?: string }> {
  try {
    const json = JSON.parse(await readAtMost(res.body, 65536)) as unknown;
    return typeof json === 'object' && json !== null ? json as { errcode?: string } : {};
  } catch {
    return {};
  }
}

/** What the client hears when the remote server refused. */
function remoteError(status: number, error: { errcode?: string }, serverName: string): MatrixError {
  if (status === 404) return notFound('Media not found');
  if (status === 504 && error.errcode === 'M_NOT_YET_UPLOADED') return new MatrixError('M_NOT_YET_UPLOADED', 'Content has not yet been uploaded', 504);
  if (error.errcode === 'M_TOO_LARGE') return new MatrixError('M_TOO_LARGE', 'Remote content is too large', 502);
  return new MatrixError('M_UNKNOWN', `Cannot fetch media from ${serverName} (HTTP ${status})`, 502);
}
