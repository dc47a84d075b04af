// The multipart/mixed answers of the federation media endpoints: a JSON part (metadata, `{}`
// today) and a part with the media's bytes or a `Location` to fetch them from.
// spec: server-server-api "Content Repository" (content_repository.yaml, RFC 2046 section 5.1)
// Both directions stream: the bytes are never held whole in memory.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

const CRLF = '\r\n';
/** How much of the answer may come before the media bytes (both parts' headers and the JSON). */
const MAX_HEAD_BYTES = 64 * 1024;

export interface MultipartMedia {
  /** The parts' framing around the media bytes, and the Content-Type of the whole answer. */
  contentType: string;
  head: Buffer;
  tail: Buffer;
}

/** The framing of an answer carrying `contentType` bytes with this disposition. */
export function multipartMedia(contentType: string, disposition: string): MultipartMedia {
  const boundary = randomBytes(16).toString('hex');
  const head = Buffer.from(
    `--${boundary}${CRLF}Content-Type: application/json${CRLF}${CRLF}{}${CRLF}` +
    `--${boundary}${CRLF}Content-Type: ${contentType}${CRLF}Content-Disposition: ${disposition}${CRLF}${CRLF}`,
  );
  return { contentType: `multipart/mixed; boundary=${boundary}`, head, tail: Buffer.from(`${CRLF}--${boundary}--${CRLF}`) };
}

/** The boundary of a multipart/mixed Content-Type header, if it is one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/mixed\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

export interface MediaPart {
  /** The second part's headers, names lower-cased. */
  headers: Record<string, string>;
  /** The media bytes (empty when the part is a `Location`). */
  content: Readable;
}

/** Reads the two parts of a federation media answer; the second part's bytes stream on. */
export async function readMultipartMedia(body: AsyncIterable<Buffer>, boundary: string): Promise<MediaPart> {
  const it = body[Symbol.asyncIterator]();
  const delimiter = Buffer.from(`--${boundary}`);
  let buf = Buffer.alloc(0);
  const more = async () => {
    const next = await it.next();
    if (next.done) throw new Error('multipart answer ended early');
    buf = Buffer.concat([buf, next.value]);
    if (buf.length > MAX_HEAD_BYTES * 2) throw new Error('multipart answer has too long a head');
  };
  /** Waits until `needle` is in the buffer after `from`; its index. */
  const find = async (needle: Buffer | string, from: number) => {
    for (;;) {
      const i = buf.indexOf(needle, from);
      if (i >= 0) return i;
      if (buf.length > MAX_HEAD_BYTES) throw new Error('multipart answer has too long a head');
      await more();
    }
  };
  // The first part: headers, then the JSON metadata (not used yet), up to the next delimiter.
  const first = await find(delimiter, 0);
  const firstBody = await find(CRLF + CRLF, first) + 4;
  const second = await find(Buffer.concat([Buffer.from(CRLF), delimiter]), firstBody);
  const secondHeadersStart = second + 2 + delimiter.length + 2; // CRLF, delimiter, CRLF
  const headersEnd = await find(CRLF + CRLF, secondHeadersStart - 2);
  const headers: Record<string, string> = {};
  for (const line of buf.subarray(secondHeadersStart, headersEnd).toString('latin1').split(CRLF)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buf.subarray(headersEnd + 4);
  const closing = Buffer.concat([Buffer.from(CRLF), delimiter]);
  return { headers, content: Readable.from(untilDelimiter(rest, it, closing)) };
}

/** The bytes before `delimiter`, holding back only as much as could be its start. */
async function* untilDelimiter(first: Buffer, rest: AsyncIterator<Buffer>, delimiter: Buffer): AsyncGenerator<Buffer> {
  let pending = first;
  try {
    for (;;) {
      const i = pending.indexOf(delimiter);
      if (i >= 0) {
        if (i > 0) yield pending.subarray(0, i);
        return;
      }
      const safe = pending.length - (delimiter.length - 1);
      if (safe > 0) {
        yield pending.subarray(0, safe);
        pending = pending.subarray(safe);
      }
      const next = await rest.next();
      if (next.done) throw new Error('multipart answer ended without its closing delimiter');
      pending = Buffer.concat([pending, next.value]);
    }
  } finally {
    await rest.return?.();
  }
}

/** The file name of a Content-Disposition header (RFC 6266: `filename*` over `filename`). */
export function dispositionFilename(header: string | undefined): string | null {
  if (!header) return null;
  const star = /filename\*\s*=\s*utf-8''([^;\s]+)/i.exec(header);
  if (star) {
    try { return decodeURIComponent(star[1]); } catch { /* fall through */ }
  }
  const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  if (!plain) return null;
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2];
}
