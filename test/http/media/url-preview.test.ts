// URL previews over real HTTP against pages served by a node:http server on 127.0.0.1:
// OpenGraph tags, the <title>/description fallback, og:image stored in the media repository,
// the cache, size limits, and the IP policy (loopback denied unless allow-listed, also when a
// redirect leads there).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { image, mxcPath, raw } from './helpers.js';

const OG_PAGE = `<!doctype html><html><head>
<meta charset="utf-8">
<title>Ignored title</title>
<!-- <meta property="og:title" content="from a comment"> -->
<script>document.write('<meta property="og:title" content="from a script">')</script>
<meta property="og:title" content="Matrix &amp; friends">
<meta property='og:description' content='An open network for secure, decentralised communication.'>
<meta property="og:image" content="/logo.png">
<meta property="og:type" content="website">
</head><body>hello</body></html>`;

const PLAIN_PAGE = `<html><head><title>
  Just a   title </title><meta name="description" content="Described &#x263A;"></head><body></body></html>`;

describe.each(ENGINES)('URL previews (%s)', (engine) => {
  let site: Server;
  let siteUrl: string;
  let hits: Record<string, number>;
  let server: TestServer;
  let strict: TestServer;
  let token: string;
  let strictToken: string;
  let logo: Buffer;

  beforeAll(async () => {
    logo = await image('png', 64, 48);
    hits = {};
    site = createServer((req, res) => {
      hits[req.url ?? '/'] = (hits[req.url ?? '/'] ?? 0) + 1;
      const path = new URL(req.url ?? '/', 'http://site').pathname;
      if (path === '/og') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(OG_PAGE);
      else if (path === '/plain') res.writeHead(200, { 'content-type': 'text/html' }).end(PLAIN_PAGE);
      else if (path === '/logo.png') res.writeHead(200, { 'content-type': 'image/png' }).end(logo);
      else if (path === '/image') res.writeHead(200, { 'content-type': 'image/png' }).end(logo);
      else if (path === '/redirect') res.writeHead(302, { location: '/og' }).end();
      else if (path === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (path === '/to-denied') res.writeHead(302, { location: `http://127.0.0.2:${(site.address() as AddressInfo).port}/og` }).end();
      else if (path === '/big') {
        // A long page whose tags come first: read up to the limit, then cut.
        res.writeHead(200, { 'content-type': 'text/html' });
        res.write('<html><head><title>Big page</title></head><body>');
        res.end('x'.repeat(200_000));
      } else if (path === '/slow') setTimeout(() => res.writeHead(200, { 'content-type': 'text/html' }).end(PLAIN_PAGE), 3000);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    server = await startTestServer(engine, {
      url_preview: { enabled: true, ip_range_allowlist: ['127.0.0.1/32'], max_body_bytes: 65_536, timeout_ms: 1000, max_redirects: 3 } as never,
    });
    token = (await new Client(server.baseUrl).register('alice')).access_token;
    strict = await startTestServer(engine, { url_preview: { enabled: true } as never });
    strictToken = (await new Client(strict.baseUrl).register('bob')).access_token;
  });
  afterAll(async () => {
    await server.close();
    await strict.close();
    await new Promise<void>((r) => site.close(() => r()));
  });

  const preview = (url: string, t = token, base = server.baseUrl) =>
    raw(base, 'GET', `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(url)}`, { token: t });

  it('reads OpenGraph tags, ignoring comments and scripts, and stores og:image in the media repository', async () => {
    const r = await preview(`${siteUrl}/og`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      'og:title': 'Matrix & friends',
      'og:description': 'An open network for secure, decentralised communication.',
      'og:type': 'website',
      'og:image:type': 'image/png',
      'og:image:width': 64,
      'og:image:height': 48,
      'matrix:image:size': logo.length,
    });
    const mxc = r.json['og:image'] as string;
    expect(mxc).toMatch(/^mxc:\/\/test\.local\//);
    const down = await raw(server.baseUrl, 'GET', `/_matrix/client/v1/media/download/${mxcPath(mxc)}`, { token });
    expect(down.bytes.equals(logo)).toBe(true);
  });

  it('falls back to <title> and <meta name="description">', async () => {
    const r = await preview(`${siteUrl}/plain`);
    expect(r.json).toEqual({ 'og:title': 'Just a title', 'og:description': 'Described \u263a' });
  });

  it('previews an image URL as an image', async () => {
    const r = await preview(`${siteUrl}/image`);
    expect(r.json).toMatchObject({ 'og:image:type': 'image/png', 'matrix:image:size': logo.length, 'og:image:width': 64 });
  });

  it('follows redirects, up to the limit', async () => {
    const r = await preview(`${siteUrl}/redirect`);
    expect(r.json['og:title']).toBe('Matrix & friends');
    const loop = await preview(`${siteUrl}/loop`);
    expect(loop.status).toBe(502);
    expect(hits['/loop']).toBe(4); // the first request and three redirects
  });

  it('caches previews by URL', async () => {
    const before = hits['/plain'] ?? 0;
    const first = await preview(`${siteUrl}/plain?cached=1`);
    const second = await preview(`${siteUrl}/plain?cached=1`);
    expect(first.status).toBe(200);
    expect(second.json).toEqual(first.json);
    expect(hits['/plain?cached=1']).toBe(1);
    expect(hits['/plain'] ?? 0).toBe(before);
  });

  it('reads no more than the size limit', async () => {
    const r = await preview(`${siteUrl}/big`);
    expect(r.status).toBe(200);
    expect(r.json['og:title']).toBe('Big page');
  });

  it('gives up after the timeout', async () => {
    const r = await preview(`${siteUrl}/slow`);
    expect(r.status).toBe(504);
  });

  it('refuses loopback without an allow-list entry, and a redirect to a denied address', async () => {
    const denied = await preview(`${siteUrl}/og`, strictToken, strict.baseUrl);
    expect(denied.status).toBe(403);
    expect(denied.json.errcode).toBe('M_FORBIDDEN');
    const byName = await preview(`http://localhost:${(site.address() as AddressInfo).port}/og`, strictToken, strict.baseUrl);
    expect(byName.status).toBe(403);
    // 127.0.0.1 is allowed, 127.0.0.2 is not: the hop there is refused.
    const before = hits['/og'] ?? 0;
    const hop = await preview(`${siteUrl}/to-denied`);
    expect(hop.status).toBe(403);
    expect(hop.json.errcode).toBe('M_FORBIDDEN');
    expect(hits['/og'] ?? 0).toBe(before);
  });

  it('rejects URLs that are not http(s), and requires authentication', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.org/', 'not a url', 'http://user:pw@127.0.0.1/']) {
      const r = await preview(url);
      expect(r.status, url).toBe(400);
      expect(r.json.errcode, url).toBe('M_INVALID_PARAM');
    }
    const missing = await raw(server.baseUrl, 'GET', '/_matrix/client/v1/media/preview_url', { token });
    expect(missing.status).toBe(400);
    expect(missing.json.errcode).toBe('M_MISSING_PARAM');
    const anonymous = await raw(server.baseUrl, 'GET', `/_matrix/client/v1/media/preview_url?url=${encodeURIComponent(`${siteUrl}/og`)}`);
    expect(anonymous.status).toBe(401);
  });
});

describe.each(ENGINES)('URL previews switched off (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(async () => server.close());

  it('answers 404 M_UNRECOGNIZED', async () => {
    const token = (await new Client(server.baseUrl).register('carol')).access_token;
    const r = await raw(server.baseUrl, 'GET', '/_matrix/client/v1/media/preview_url?url=http%3A%2F%2Fexample.org', { token });
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe('M_UNRECOGNIZED');
  });
});
