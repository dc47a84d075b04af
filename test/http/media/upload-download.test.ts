// Uploads and downloads over real HTTP: round trips of each image format and a text file,
// content-addressed storage (dedup), size limit and quota, byte ranges, the safety headers,
// path traversal attempts, asynchronous uploads, the legacy endpoints and authentication.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { image, mxcPath, raw, storedFiles, tmpFiles, upload } from './helpers.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe.each(ENGINES)('media upload and download (%s)', (engine) => {
  let server: TestServer;
  let token: string;
  let otherToken: string;
  let base: string;

  beforeAll(async () => {
    server = await startTestServer(engine, {
      media: { max_upload_bytes: 200_000, user_quota_bytes: 600_000, max_pending_uploads: 2 } as never,
    });
    base = server.baseUrl;
    token = (await new Client(base).register('alice')).access_token;
    otherToken = (await new Client(base).register('bob')).access_token;
  });
  afterAll(async () => server.close());

  it.each([
    ['png', 'image/png'], ['jpeg', 'image/jpeg'], ['gif', 'image/gif'], ['webp', 'image/webp'],
  ] as const)('round-trips a %s image', async (format, type) => {
    const bytes = await image(format, 120, 80);
    const up = await upload(base, token, bytes, type, `picture.${format}`);
    expect(up.status).toBe(200);
    const mxc = up.json.content_uri as string;
    expect(mxc).toMatch(/^mxc:\/\/test\.local\/[A-Za-z0-9_-]+$/);
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(mxc)}`, { token });
    expect(down.status).toBe(200);
    expect(down.bytes.equals(bytes)).toBe(true);
    expect(down.headers.get('content-type')).toBe(type);
    expect(down.headers.get('content-length')).toBe(String(bytes.length));
    expect(down.headers.get('content-disposition')).toBe(`inline; filename="picture.${format}"`);
  });

  it('round-trips a text file, and stores identical uploads once', async () => {
    const text = `hello media ${engine}\n`;
    const a = await upload(base, token, text, 'text/plain');
    const b = await upload(base, otherToken, text, 'text/plain');
    expect(a.status).toBe(200);
    expect(a.json.content_uri).not.toBe(b.json.content_uri);
    for (const r of [a, b]) {
      const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(r.json.content_uri as string)}`, { token });
      expect(down.bytes.toString()).toBe(text);
      // No file name given: the disposition carries none.
      expect(down.headers.get('content-disposition')).toBe('inline');
    }
    expect(storedFiles(server.config.media_path).filter((f) => f === sha(text))).toHaveLength(1);
  });

  it('defaults to application/octet-stream, served as an attachment', async () => {
    const up = await raw(base, 'POST', '/_matrix/media/v3/upload', { token, body: Buffer.from([1, 2, 3]) });
    expect(up.status).toBe(200);
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`, { token });
    expect(down.headers.get('content-type')).toBe('application/octet-stream');
    expect(down.headers.get('content-disposition')).toBe('attachment');
  });

  it('stores an upload with a malformed Content-Type as application/octet-stream', async () => {
    for (const type of ['garbage', 'image/png ;;', 'text/plain; x="unterminated', '/']) {
      const up = await raw(base, 'POST', '/_matrix/media/v3/upload', { token, body: 'abc', headers: { 'content-type': type } });
      expect(up.status, type).toBe(200);
      const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`, { token });
      expect(down.bytes.toString()).toBe('abc');
    }
    const bad = await raw(base, 'POST', '/_matrix/media/v3/upload', { token, body: 'abc', headers: { 'content-type': 'garbage' } });
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(bad.json.content_uri as string)}`, { token });
    expect(down.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('accepts an empty upload', async () => {
    const up = await raw(base, 'POST', '/_matrix/media/v3/upload', { token, headers: { 'content-type': 'text/plain' }, body: '' });
    expect(up.status).toBe(200);
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`, { token });
    expect(down.status).toBe(200);
    expect(down.bytes.length).toBe(0);
  });

  it('sends the safety headers, and attachment for unsafe types with RFC 6266 file names', async () => {
    const html = await upload(base, token, '<script>alert(1)</script>', 'text/html', 'page.html');
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(html.json.content_uri as string)}`, { token });
    expect(down.headers.get('content-type')).toMatch(/^text\/html/);
    expect(down.headers.get('content-disposition')).toBe('attachment; filename="page.html"');
    expect(down.headers.get('content-security-policy')).toMatch(/^sandbox;/);
    expect(down.headers.get('x-content-type-options')).toBe('nosniff');
    expect(down.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(down.headers.get('cache-control')).toContain('immutable');

    const utf8 = await upload(base, token, 'x', 'text/plain', 'résumé "final".txt');
    const d2 = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(utf8.json.content_uri as string)}`, { token });
    expect(d2.headers.get('content-disposition')).toBe("inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%22final%22.txt");

    // The file name in the path replaces the stored one.
    const d3 = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(html.json.content_uri as string)}/other%20name.html`, { token });
    expect(d3.headers.get('content-disposition')).toBe('attachment; filename="other name.html"');
  });

  it('serves byte ranges: 206 with the right bytes, 416 past the end', async () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    const up = await upload(base, token, bytes, 'application/octet-stream');
    const path = `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`;
    const part = await raw(base, 'GET', path, { token, headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/1000');
    expect(part.bytes.equals(bytes.subarray(10, 20))).toBe(true);
    const tail = await raw(base, 'GET', path, { token, headers: { range: 'bytes=-5' } });
    expect(tail.status).toBe(206);
    expect(tail.bytes.equals(bytes.subarray(995))).toBe(true);
    const open = await raw(base, 'GET', path, { token, headers: { range: 'bytes=990-' } });
    expect(open.bytes.equals(bytes.subarray(990))).toBe(true);
    const beyond = await raw(base, 'GET', path, { token, headers: { range: 'bytes=1000-1010' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */1000');
    // A header we do not serve (several ranges) is ignored: the whole file.
    const multi = await raw(base, 'GET', path, { token, headers: { range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200);
    expect(multi.bytes.length).toBe(1000);
  });

  it('answers HEAD with the headers alone', async () => {
    const up = await upload(base, token, 'head me', 'text/plain');
    const head = await raw(base, 'HEAD', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`, { token });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('7');
    expect(head.bytes.length).toBe(0);
    // The server still answers normally afterwards.
    const get = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}`, { token });
    expect(get.bytes.toString()).toBe('head me');
  });

  it('refuses an oversized upload with 413 M_TOO_LARGE and stores nothing', async () => {
    const before = storedFiles(server.config.media_path).length;
    const big = Buffer.alloc(200_001, 7);
    const r = await upload(base, token, big, 'application/octet-stream');
    expect(r.status).toBe(413);
    expect(r.json.errcode).toBe('M_TOO_LARGE');
    // Streamed without a Content-Length: stopped while streaming.
    const streamed = await request(new URL('/_matrix/media/v3/upload', base), {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: Readable.from((function* () { for (let i = 0; i < 30; i++) yield Buffer.alloc(10_000, i); })()),
    }).then(async (res) => ({ status: res.statusCode, body: await res.body.json() as Record<string, unknown> }), (err: Error) => ({ status: 0, body: { error: err.message } }));
    // The answer may be cut by the connection closing under a client still sending; when it
    // arrives, it is the 413.
    if (streamed.status !== 0) expect(streamed).toMatchObject({ status: 413, body: { errcode: 'M_TOO_LARGE' } });
    expect(storedFiles(server.config.media_path).length).toBe(before);
    expect(tmpFiles(server.config.media_path)).toEqual([]);
    expect(storedFiles(server.config.media_path).includes(sha(big))).toBe(false);
  });

  it('enforces the per-user quota with 403 M_FORBIDDEN', async () => {
    const carol = (await new Client(base).register('carol')).access_token;
    for (let i = 0; i < 3; i++) expect((await upload(base, carol, Buffer.alloc(190_000, i + 40))).status).toBe(200);
    const over = await upload(base, carol, Buffer.alloc(40_000, 99));
    expect(over.status).toBe(403);
    expect(over.json.errcode).toBe('M_FORBIDDEN');
    expect(storedFiles(server.config.media_path).includes(sha(Buffer.alloc(40_000, 99)))).toBe(false);
    // Another user's quota is their own.
    expect((await upload(base, otherToken, Buffer.alloc(40_000, 99))).status).toBe(200);
  });

  it('rejects traversal through media IDs and server names without reading anything', async () => {
    for (const path of [
      '/_matrix/client/v1/media/download/test.local/..%2F..%2Fetc%2Fpasswd',
      '/_matrix/client/v1/media/download/test.local/..',
      '/_matrix/client/v1/media/download/..%2F..%2Fetc/passwd',
      '/_matrix/client/v1/media/download/test.local%2F..%2F../x',
      '/_matrix/client/v1/media/download/bad_server!/abc',
      '/_matrix/client/v1/media/download/test.local/abc.def',
      '/_matrix/client/v1/media/thumbnail/test.local/..%2Fx?width=32&height=32',
    ]) {
      const r = await raw(base, 'GET', path, { token });
      expect([400, 404], path).toContain(r.status);
      expect(r.json.errcode, path).toMatch(/^M_(INVALID_PARAM|NOT_FOUND|UNRECOGNIZED)$/);
    }
    const unknown = await raw(base, 'GET', '/_matrix/client/v1/media/download/test.local/doesNotExist', { token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.errcode).toBe('M_NOT_FOUND');
  });

  it('requires authentication on the v1 endpoints and on uploads', async () => {
    const up = await upload(base, token, 'secret', 'text/plain');
    const id = mxcPath(up.json.content_uri as string);
    for (const [method, path] of [
      ['GET', `/_matrix/client/v1/media/download/${id}`], ['GET', `/_matrix/client/v1/media/thumbnail/${id}?width=32&height=32`],
      ['GET', '/_matrix/client/v1/media/config'], ['POST', '/_matrix/media/v3/upload'], ['POST', '/_matrix/media/v1/create'],
    ]) {
      const r = await raw(base, method, path, { body: method === 'POST' ? 'x' : undefined });
      expect(r.status, path).toBe(401);
      expect(r.json.errcode, path).toBe('M_MISSING_TOKEN');
    }
    const cfg = await raw(base, 'GET', '/_matrix/client/v1/media/config', { token });
    expect(cfg.json).toEqual({ 'm.upload.size': 200_000 });
  });

  it('keeps the legacy unauthenticated endpoints frozen by default', async () => {
    const up = await upload(base, token, 'old', 'text/plain');
    const id = mxcPath(up.json.content_uri as string);
    const r = await raw(base, 'GET', `/_matrix/media/v3/download/${id}`);
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe('M_NOT_FOUND');
    expect((await raw(base, 'GET', `/_matrix/media/v3/thumbnail/${id}?width=32&height=32`)).status).toBe(404);
  });

  it('creates an mxc:// URI and takes its content later (PUT), with the spec errors', async () => {
    const created = await raw(base, 'POST', '/_matrix/media/v1/create', { token });
    expect(created.status).toBe(200);
    const mxc = created.json.content_uri as string;
    expect(created.json.unused_expires_at).toBeGreaterThan(Date.now());
    const path = `/_matrix/media/v3/upload/${mxcPath(mxc)}`;

    // A download before the content arrives waits, then answers 504 M_NOT_YET_UPLOADED.
    const early = await raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(mxc)}?timeout_ms=100`, { token });
    expect(early.status).toBe(504);
    expect(early.json.errcode).toBe('M_NOT_YET_UPLOADED');

    // Another user may not fill it.
    const foreign = await raw(base, 'PUT', path, { token: otherToken, body: 'x', headers: { 'content-type': 'text/plain' } });
    expect(foreign.status).toBe(403);
    expect(foreign.json.errcode).toBe('M_FORBIDDEN');

    // A download waiting while the content arrives gets it.
    const waiting = raw(base, 'GET', `/_matrix/client/v1/media/download/${mxcPath(mxc)}?timeout_ms=10000`, { token });
    await new Promise((r) => setTimeout(r, 100));
    const put = await raw(base, 'PUT', `${path}?filename=late.txt`, { token, body: 'late content', headers: { 'content-type': 'text/plain' } });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({});
    const got = await waiting;
    expect(got.status).toBe(200);
    expect(got.bytes.toString()).toBe('late content');
    expect(got.headers.get('content-disposition')).toBe('inline; filename="late.txt"');

    const again = await raw(base, 'PUT', path, { token, body: 'other', headers: { 'content-type': 'text/plain' } });
    expect(again.status).toBe(409);
    expect(again.json.errcode).toBe('M_CANNOT_OVERWRITE_MEDIA');

    const never = await raw(base, 'PUT', '/_matrix/media/v3/upload/test.local/neverCreated', { token, body: 'x' });
    expect(never.status).toBe(404);
    expect(never.json.errcode).toBe('M_NOT_FOUND');
    const elsewhere = await raw(base, 'PUT', `/_matrix/media/v3/upload/other.example/${mxc.split('/').pop()}`, { token, body: 'x' });
    expect(elsewhere.status).toBe(404);
  });

  it('limits pending created URIs per user with 429 M_LIMIT_EXCEEDED', async () => {
    const dave = (await new Client(base).register('dave')).access_token;
    expect((await raw(base, 'POST', '/_matrix/media/v1/create', { token: dave })).status).toBe(200);
    expect((await raw(base, 'POST', '/_matrix/media/v1/create', { token: dave })).status).toBe(200);
    const third = await raw(base, 'POST', '/_matrix/media/v1/create', { token: dave });
    expect(third.status).toBe(429);
    expect(third.json.errcode).toBe('M_LIMIT_EXCEEDED');
  });

  it('answers for media on another server without pretending to have it', async () => {
    const r = await raw(base, 'GET', '/_matrix/client/v1/media/download/other.example/abcdef?allow_remote=false', { token });
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe('M_NOT_FOUND');
  });
});

describe.each(ENGINES)('legacy media endpoints switched on (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(engine, { media: { legacy_unauthenticated_endpoints: true } as never });
  });
  afterAll(async () => server.close());

  it('serves downloads and thumbnails without an access token', async () => {
    const token = (await new Client(server.baseUrl).register('erin')).access_token;
    const png = await image('png', 200, 100);
    const up = await upload(server.baseUrl, token, png, 'image/png');
    const id = mxcPath(up.json.content_uri as string);
    const down = await raw(server.baseUrl, 'GET', `/_matrix/media/v3/download/${id}`);
    expect(down.status).toBe(200);
    expect(down.bytes.equals(png)).toBe(true);
    expect(down.headers.get('content-security-policy')).toMatch(/^sandbox/);
    const thumb = await raw(server.baseUrl, 'GET', `/_matrix/media/v3/thumbnail/${id}?width=32&height=32&method=crop`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/png');
  });
});
