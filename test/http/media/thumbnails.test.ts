// Thumbnails over real HTTP: each method and several sizes (dimensions read back with sharp),
// the original when it is smaller than asked, animated thumbnails, corrupt and disguised images,
// the pixel limit, and the configured sizes generated on upload.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { animatedGif, image, mxcPath, raw, upload } from './helpers.js';

describe.each(ENGINES)('media thumbnails (%s)', (engine) => {
  let server: TestServer;
  let token: string;
  let base: string;
  let jpeg: string; // 1000×750
  let png: string; // 600×300

  const thumb = (id: string, q: string) => raw(base, 'GET', `/_matrix/client/v1/media/thumbnail/${id}?${q}`, { token });

  beforeAll(async () => {
    server = await startTestServer(engine, { media: { max_image_pixels: 2_000_000 } as never });
    base = server.baseUrl;
    token = (await new Client(base).register('alice')).access_token;
    jpeg = mxcPath((await upload(base, token, await image('jpeg', 1000, 750), 'image/jpeg')).json.content_uri as string);
    png = mxcPath((await upload(base, token, await image('png', 600, 300), 'image/png')).json.content_uri as string);
  });
  afterAll(async () => server.close());

  it.each([
    // [width, height, method, expected width, expected height]
    [32, 32, 'crop', 32, 32],
    [96, 96, 'crop', 96, 96],
    [50, 50, 'crop', 96, 96], // the smallest configured size at least as large
    [320, 240, 'scale', 320, 240],
    [300, 200, 'scale', 320, 240],
    [640, 480, 'scale', 640, 480],
    [800, 600, 'scale', 800, 600],
    [900, 700, 'scale', 900, 675], // beyond every configured size: rendered for the request
  ] as const)('JPEG %ix%i %s → %ix%i', async (w, h, method, ew, eh) => {
    const r = await thumb(jpeg, `width=${w}&height=${h}&method=${method}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('image/jpeg');
    expect(r.headers.get('content-disposition')).toBe('inline; filename="thumbnail.jpeg"');
    expect(r.headers.get('content-security-policy')).toMatch(/^sandbox/);
    const meta = await sharp(r.bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', ew, eh]);
  });

  it('scales keeping the aspect ratio and crops to the requested one (PNG)', async () => {
    const scaled = await thumb(png, 'width=320&height=240&method=scale');
    expect(scaled.headers.get('content-type')).toBe('image/png');
    const sm = await sharp(scaled.bytes).metadata();
    expect([sm.width, sm.height]).toEqual([320, 160]);
    const cropped = await thumb(png, 'width=96&height=96&method=crop');
    const cm = await sharp(cropped.bytes).metadata();
    expect([cm.width, cm.height]).toEqual([96, 96]);
    // method defaults to scale
    const dflt = await sharp((await thumb(png, 'width=320&height=240')).bytes).metadata();
    expect([dflt.width, dflt.height]).toEqual([320, 160]);
  });

  it('returns the original when it is smaller than asked, never upscaled', async () => {
    const small = await image('png', 40, 30);
    const id = mxcPath((await upload(base, token, small, 'image/png')).json.content_uri as string);
    const r = await thumb(id, 'width=320&height=240&method=scale');
    expect(r.status).toBe(200);
    expect(r.bytes.equals(small)).toBe(true);
    const crop = await sharp((await thumb(id, 'width=32&height=32&method=crop')).bytes).metadata();
    expect([crop.width, crop.height]).toEqual([32, 30]);
  });

  it('serves the configured sizes generated on upload from the database', async () => {
    const id = mxcPath((await upload(base, token, await image('webp', 900, 900), 'image/webp')).json.content_uri as string);
    const [serverName, mediaId] = id.split('/');
    // Generation runs after the upload answers; wait for it (bounded).
    let rows: Awaited<ReturnType<typeof server.hs.storage.media.thumbnails>> = [];
    for (let i = 0; i < 100 && rows.length < 5; i++) {
      rows = await server.hs.storage.media.thumbnails(serverName, mediaId);
      if (rows.length < 5) await new Promise((r) => setTimeout(r, 50));
    }
    expect(rows.map((t) => `${t.width}x${t.height}:${t.method}`).sort()).toEqual(['320x240:scale', '32x32:crop', '640x480:scale', '800x600:scale', '96x96:crop']);
    const stored = rows.find((t) => t.width === 96)!;
    expect([stored.actualWidth, stored.actualHeight, stored.contentType]).toEqual([96, 96, 'image/png']);
    const r = await thumb(id, 'width=96&height=96&method=crop');
    expect(r.bytes.length).toBe(stored.size);
  });

  it('makes animated thumbnails only when asked (WebP), still ones otherwise', async () => {
    const gif = await animatedGif(200, 200, 3);
    const id = mxcPath((await upload(base, token, gif, 'image/gif')).json.content_uri as string);
    const animated = await thumb(id, 'width=96&height=96&method=crop&animated=true');
    expect(animated.status).toBe(200);
    expect(animated.headers.get('content-type')).toBe('image/webp');
    const am = await sharp(animated.bytes, { animated: true }).metadata();
    expect(am.pages).toBe(3);
    expect([am.width, am.pageHeight ?? am.height / 3]).toEqual([96, 96]);

    for (const q of ['width=96&height=96&method=crop', 'width=96&height=96&method=crop&animated=false']) {
      const still = await thumb(id, q);
      expect(still.headers.get('content-type')).toBe('image/png');
      expect((await sharp(still.bytes).metadata()).pages ?? 1).toBe(1);
    }
    // A still image asked for animated is thumbnailed as usual.
    const jpegAnimated = await thumb(jpeg, 'width=96&height=96&method=crop&animated=true');
    expect(jpegAnimated.headers.get('content-type')).toBe('image/jpeg');
  });

  it('cannot thumbnail a corrupt image, which still downloads', async () => {
    const corrupt = Buffer.concat([(await image('png', 100, 100)).subarray(0, 60), Buffer.alloc(100, 0xab)]);
    const id = mxcPath((await upload(base, token, corrupt, 'image/png')).json.content_uri as string);
    const down = await raw(base, 'GET', `/_matrix/client/v1/media/download/${id}`, { token });
    expect(down.status).toBe(200);
    expect(down.bytes.equals(corrupt)).toBe(true);
    const t = await thumb(id, 'width=32&height=32&method=crop');
    expect(t.status).toBe(400);
    expect(t.json.errcode).toBe('M_UNKNOWN');

    // Text is not an image, whatever its claimed type; nor is an SVG dressed as a PNG.
    const text = mxcPath((await upload(base, token, 'not an image', 'image/png')).json.content_uri as string);
    expect((await thumb(text, 'width=32&height=32')).status).toBe(400);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="500" height="500"><rect width="500" height="500"/></svg>';
    const svgId = mxcPath((await upload(base, token, svg, 'image/png')).json.content_uri as string);
    const s = await thumb(svgId, 'width=32&height=32');
    expect(s.status).toBe(400);
    expect(s.json.errcode).toBe('M_UNKNOWN');
  });

  it('refuses to decode images over the pixel limit with 413 M_TOO_LARGE', async () => {
    const huge = await image('png', 2000, 1001); // 2,002,000 pixels > 2,000,000
    const id = mxcPath((await upload(base, token, huge, 'image/png')).json.content_uri as string);
    const t = await thumb(id, 'width=32&height=32&method=crop');
    expect(t.status).toBe(413);
    expect(t.json.errcode).toBe('M_TOO_LARGE');
  });

  it('rejects bad parameters', async () => {
    for (const q of ['width=0&height=32', 'width=32', 'width=-1&height=32', 'width=a&height=32', 'width=32&height=32&method=stretch', 'width=32&height=32&animated=yes']) {
      const r = await thumb(jpeg, q);
      expect(r.status, q).toBe(400);
      expect(['M_INVALID_PARAM', 'M_MISSING_PARAM'], q).toContain(r.json.errcode);
    }
    const missing = await thumb('test.local/nothingHere', 'width=32&height=32');
    expect(missing.status).toBe(404);
  });
});
