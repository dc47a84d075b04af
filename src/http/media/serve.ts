// Sending media: the safety headers every download carries, Content-Disposition as RFC 6266
// wants it, and single byte ranges (RFC 9110 "Range Requests").
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { MediaService, Served } from '../../services/media/media.js';

// spec: content_repo "Serving inline content": the types that may be served inline.
const INLINE_TYPES = new Set([
  'text/css', 'text/plain', 'text/csv', 'application/json', 'application/ld+json',
  'image/jpeg', 'image/gif', 'image/png', 'image/apng', 'image/webp', 'image/avif',
  'video/mp4', 'video/webm', 'video/ogg', 'video/quicktime',
  'audio/mp4', 'audio/webm', 'audio/aac', 'audio/mpeg', 'audio/ogg', 'audio/wave', 'audio/wav', 'audio/x-wav',
  'audio/x-pn-wav', 'audio/flac', 'audio/x-flac',
]);

// spec: content_repo: the recommended Content-Security-Policy for served content.
const CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

/** `inline` for the spec's safe types, `attachment` otherwise, with the file name when there is one. */
export function contentDisposition(contentType: string, filename: string | null, forceInline = false): string {
  const base = contentType.split(';')[0].trim().toLowerCase();
  const disposition = forceInline || INLINE_TYPES.has(base) ? 'inline' : 'attachment';
  if (filename === null || filename === '') return disposition;
  // RFC 6266 section 4.3: plain ASCII in a quoted string; anything else as RFC 8187 `filename*`.
  if (/^[\x20-\x7e]*$/.test(filename) && !/["\\]/.test(filename)) return `${disposition}; filename="${filename}"`;
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename*=utf-8''${encoded}`;
}

/** A single `bytes=` range within `size`; undefined to send everything; 'unsatisfiable' for 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges, or another unit: RFC 9110 lets a server ignore the header and send it all.
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** Sends stored media (or a thumbnail) with the security headers, honouring a Range header. */
export function sendMedia(req: FastifyRequest, reply: FastifyReply, media: MediaService, served: Served, disposition: string): FastifyReply {
  reply.headers({
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'cross-origin-resource-policy': 'cross-origin',
    // Content behind an mxc:// URI never changes.
    'cache-control': 'private, max-age=31536000, immutable',
    'content-disposition': disposition,
    'accept-ranges': 'bytes',
  });
  reply.type(served.contentType);
  const range = parseRange(req.headers.range, served.size);
  if (range === 'unsatisfiable') {
    reply.header('content-range', `bytes */${served.size}`);
    throw new MatrixError('M_UNKNOWN', 'Requested range not satisfiable', 416);
  }
  if (range) {
    reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${served.size}`).header('content-length', range.end - range.start + 1);
    return served.data
      ? reply.send(served.data.subarray(range.start, range.end + 1))
      : reply.send(media.files.read(served.sha256 as string, range));
  }
  reply.header('content-length', served.size);
  return reply.send(served.data ?? media.files.read(served.sha256 as string));
}
