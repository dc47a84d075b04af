// The multipart/mixed framing of federation media answers, written and read back: bytes split at
// every possible place (so the closing delimiter arrives in pieces), a Location part, file names
// from Content-Disposition, and broken answers.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dispositionFilename, multipartBoundary, multipartMedia, readMultipartMedia } from '../../../src/services/media/multipart.js';

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function chunked(whole: Buffer, size: number): AsyncIterable<Buffer> {
  return (async function* () { for (let i = 0; i < whole.length; i += size) yield whole.subarray(i, i + size); })();
}

describe('federation media multipart', () => {
  const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 31) % 256));
  const framing = multipartMedia('image/png', 'inline; filename="a.png"');
  const whole = Buffer.concat([framing.head, payload, framing.tail]);
  const boundary = multipartBoundary(framing.contentType)!;

  it('reads back what it writes, whatever the chunking', async () => {
    expect(boundary).toMatch(/^[0-9a-f]{32}$/);
    for (const size of [1, 2, 3, 7, 37, 64, 1000, whole.length]) {
      const part = await readMultipartMedia(chunked(whole, size), boundary);
      expect(part.headers['content-type'], `chunks of ${size}`).toBe('image/png');
      expect(part.headers['content-disposition']).toBe('inline; filename="a.png"');
      expect((await collect(part.content)).equals(payload), `chunks of ${size}`).toBe(true);
    }
  });

  it('reads a part that points elsewhere with Location', async () => {
    const b = 'xyz';
    const text = `--${b}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${b}\r\nLocation: https://cdn.example/m\r\n\r\n\r\n--${b}--\r\n`;
    const part = await readMultipartMedia(chunked(Buffer.from(text), 5), b);
    expect(part.headers.location).toBe('https://cdn.example/m');
    expect((await collect(part.content)).length).toBe(0);
  });

  it('fails on an answer cut short or with an endless head', async () => {
    const cut = whole.subarray(0, whole.length - framing.tail.length + 3);
    const part = await readMultipartMedia(chunked(cut, 100), boundary);
    await expect(collect(part.content)).rejects.toThrow(/closing delimiter/);
    await expect(readMultipartMedia(chunked(Buffer.alloc(300_000, 0x61), 1000), boundary)).rejects.toThrow(/too long a head/);
    await expect(readMultipartMedia(chunked(framing.head.subarray(0, 20), 5), boundary)).rejects.toThrow(/ended early/);
  });

  it('parses boundaries and file names', () => {
    expect(multipartBoundary('multipart/mixed; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('multipart/mixed;boundary=abc')).toBe('abc');
    expect(multipartBoundary('application/json')).toBeUndefined();
    expect(dispositionFilename("inline; filename*=utf-8''r%C3%A9sum%C3%A9.txt")).toBe('résumé.txt');
    expect(dispositionFilename('attachment; filename="a \\"b\\".txt"')).toBe('a "b".txt');
    expect(dispositionFilename('attachment; filename=plain.txt')).toBe('plain.txt');
    expect(dispositionFilename('inline')).toBeNull();
    expect(dispositionFilename(undefined)).toBeNull();
  });
});
