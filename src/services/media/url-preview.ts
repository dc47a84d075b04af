// URL previews: GET /_matrix/client/v1/media/preview_url.
// spec: client-server-api modules/content_repo (authed-content-repo `preview_url`)
// Every connection goes through the IP policy (after DNS, and on each redirect hop, since each
// hop is a new request followed here by hand), bodies are cut at a size limit, the whole fetch
// has a deadline, and results are cached by URL in the database.
import { request, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import { MatrixError, forbidden, invalidParam } from '../../errors.js';
import type { MediaStore } from '../../storage/media.js';
import { IpDeniedError, IpPolicy } from '../net/ip-policy.js';
import { declaredCharset, parseHtmlMeta } from './html-meta.js';
import type { MediaService } from './media.js';
import { probeImage } from './thumbnails.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'Weft URL preview (Matrix homeserver)';

interface Fetched {
  url: URL;
  /** The media type alone, lower-cased; `header` is the whole Content-Type header. */
  contentType: string;
  header: string;
  body: Buffer;
  truncated: boolean;
}

export class UrlPreviewService {
  private readonly agent: Dispatcher;
  private readonly inFlight = new Map<string, Promise<Record<string, unknown>>>();

  constructor(
    private readonly store: MediaStore,
    private readonly media: MediaService,
    private readonly config: Config['url_preview'],
    private readonly log: Logger,
  ) {
    const policy = new IpPolicy({ denylist: config.ip_range_denylist, allowlist: config.ip_range_allowlist });
    this.agent = policy.agent({ connect: { timeout: config.timeout_ms }, headersTimeout: config.timeout_ms, bodyTimeout: config.timeout_ms });
  }

  get enabled(): boolean { return this.config.enabled; }

  async preview(rawUrl: string): Promise<Record<string, unknown>> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw invalidParam('`url` is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidParam('`url` must be an http or https URL');
    if (url.username || url.password) throw invalidParam('`url` must not contain credentials');
    url.hash = '';
    const key = url.href;
    const now = Date.now();
    const cached = await this.store.urlPreview(key, now);
    if (cached) return cached;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.build(url).then(async (og) => {
        await this.store.putUrlPreview(key, og, Date.now(), Date.now() + this.config.cache_lifetime_ms);
        return og;
      });
      this.inFlight.set(key, pending);
      void pending.finally(() => this.inFlight.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async build(url: URL): Promise<Record<string, unknown>> {
    const signal = AbortSignal.timeout(this.config.timeout_ms);
    const page = await this.fetch(url, signal);
    if (page.contentType.startsWith('image/')) return page.truncated ? {} : this.imageProperties(page);
    if (page.contentType !== 'text/html' && page.contentType !== 'application/xhtml+xml') return {};
    const og: Record<string, unknown> = parseHtmlMeta(decode(page.body, page.header));
    const image = typeof og['og:image'] === 'string' ? og['og:image'] : undefined;
    delete og['og:image'];
    if (image) {
      try {
        const imageUrl = new URL(image, page.url);
        if (imageUrl.protocol === 'http:' || imageUrl.protocol === 'https:') {
          const fetched = await this.fetch(imageUrl, signal);
          if (fetched.contentType.startsWith('image/') && !fetched.truncated) Object.assign(og, await this.imageProperties(fetched));
        }
      } catch (err) {
        // The page still previews without its image.
        this.log.debug({ err, url: url.href }, 'URL preview image not fetched');
      }
    }
    return og;
  }

  /** Stores an image in the media repository; its mxc:// URI and size go into the preview. */
  private async imageProperties(f: Fetched): Promise<Record<string, unknown>> {
    const mxc = await this.media.storeLocal(f.body, f.contentType, null);
    const og: Record<string, unknown> = { 'og:image': mxc.uri, 'og:image:type': f.contentType, 'matrix:image:size': f.body.length };
    const probe = await probeImage(this.media.files.path(mxc.sha256), Number.MAX_SAFE_INTEGER);
    if (probe.ok) {
      og['og:image:width'] = probe.image.width;
      og['og:image:height'] = probe.image.height;
    }
    return og;
  }

  /** GET with redirects followed by hand; the body is read up to the size limit. */
  private async fetch(start: URL, signal: AbortSignal): Promise<Fetched> {
    let url = start;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          dispatcher: this.agent, method: 'GET', signal,
          headers: { 'user-agent': USER_AGENT, accept: 'text/html, application/xhtml+xml, image/*;q=0.9, */*;q=0.5' },
        });
      } catch (err) {
        throw fetchError(err, url);
      }
      if (REDIRECTS.has(res.statusCode)) {
        await res.body.dump().catch(() => undefined);
        const location = res.headers.location;
        if (typeof location !== 'string' || hop >= this.config.max_redirects) {
          throw new MatrixError('M_UNKNOWN', 'Too many redirects, or a redirect without a location', 502);
        }
        url = new URL(location, url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MatrixError('M_UNKNOWN', 'Redirected to a URL that is not http(s)', 502);
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump().catch(() => undefined);
        throw new MatrixError('M_UNKNOWN', `The URL answered HTTP ${res.statusCode}`, 502);
      }
      const type = String(res.headers['content-type'] ?? '');
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      try {
        for await (const chunk of res.body) {
          const b = chunk as Buffer;
          if (size + b.length > this.config.max_body_bytes) {
            chunks.push(b.subarray(0, this.config.max_body_bytes - size));
            size = this.config.max_body_bytes;
            truncated = true;
            break;
          }
          chunks.push(b);
          size += b.length;
        }
      } catch (err) {
        throw fetchError(err, url);
      } finally {
        if (truncated) res.body.destroy();
      }
      return { url, contentType: type.split(';')[0].trim().toLowerCase(), header: type, body: Buffer.concat(chunks, size), truncated };
    }
  }
}

function fetchError(err: unknown, url: URL): MatrixError {
  if (err instanceof MatrixError) return err;
  const cause = (err as { cause?: unknown }).cause;
  if (err instanceof IpDeniedError || cause instanceof IpDeniedError) return forbidden(`URL preview of ${url.host} is not allowed: its address is denied`);
  const name = (err as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') return new MatrixError('M_UNKNOWN', 'Fetching the URL timed out', 504);
  return new MatrixError('M_UNKNOWN', 'Fetching the URL failed', 502);
}

/** Text of an HTML body in the charset its header or a <meta> declares (UTF-8 otherwise). */
function decode(body: Buffer, contentTypeHeader: string): string {
  const fromHeader = /charset\s*=\s*"?([A-Za-z0-9_.:-]+)/i.exec(contentTypeHeader)?.[1];
  const charset = fromHeader ?? declaredCharset(body.subarray(0, 4096).toString('latin1')) ?? 'utf-8';
  try {
    return new TextDecoder(charset).decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}
