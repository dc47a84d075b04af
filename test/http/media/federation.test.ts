// Remote media between two Weft servers over real HTTPS federation: a user of B downloads and
// thumbnails media uploaded on A (fetched through GET /_matrix/federation/v1/media/download,
// multipart/mixed, then served from B's cache), and A's federation media endpoints as another
// server sees them (signed requests only, the multipart framing, only A's own media).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { ENGINES } from '../../helpers/databases.js';
import { federationFetch, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import { image, mxcPath, raw, upload } from './helpers.js';

describe.each(ENGINES)('media over federation (%s)', (engine) => {
  let a: FederatedServer;
  let b: FederatedServer;
  let aToken: string;
  let bToken: string;

  beforeAll(async () => {
    [a, b] = await startFederation(engine, 2);
    aToken = (await a.user('alice')).client.token!;
    bToken = (await b.user('bob')).client.token!;
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('fetches remote media once, then serves it from the cache', async () => {
    const png = await image('png', 400, 300);
    const up = await upload(a.baseUrl, aToken, png, 'image/png', 'holiday é.png');
    const path = mxcPath(up.json.content_uri as string);
    expect(path.startsWith(`${a.serverName}/`)).toBe(true);

    const first = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/download/${path}`, { token: bToken });
    expect(first.status).toBe(200);
    expect(first.bytes.equals(png)).toBe(true);
    expect(first.headers.get('content-type')).toBe('image/png');
    expect(first.headers.get('content-disposition')).toBe("inline; filename*=utf-8''holiday%20%C3%A9.png");
    const [serverName, mediaId] = [a.serverName, path.split('/')[1]!];
    expect(await b.hs.storage.media.get(serverName, mediaId)).toMatchObject({ size: png.length, uploadName: 'holiday é.png', userId: null });

    // A stopped: B still serves it, and its thumbnails, from the cache.
    await a.stop();
    try {
      const again = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/download/${path}`, { token: bToken });
      expect(again.bytes.equals(png)).toBe(true);
      const thumb = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/thumbnail/${path}?width=96&height=96&method=crop`, { token: bToken });
      expect(thumb.status).toBe(200);
      const meta = await sharp(thumb.bytes).metadata();
      expect([meta.width, meta.height]).toEqual([96, 96]);
      // Media of A not cached yet cannot be had while A is down.
      const unknown = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/download/${a.serverName}/notCachedYet`, { token: bToken });
      expect(unknown.status).toBe(502);
    } finally {
      await a.start();
    }
  });

  it('answers 404 for media the remote does not have, and 404 with allow_remote=false', async () => {
    const r = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/download/${a.serverName}/noSuchMedia`, { token: bToken });
    expect(r.status).toBe(404);
    expect(r.json.errcode).toBe('M_NOT_FOUND');
    const up = await upload(a.baseUrl, aToken, 'text', 'text/plain');
    const local = await raw(b.baseUrl, 'GET', `/_matrix/client/v1/media/download/${mxcPath(up.json.content_uri as string)}?allow_remote=false`, { token: bToken });
    expect(local.status).toBe(404);
  });

  it('serves its own media to signed requests as multipart/mixed, thumbnails too', async () => {
    const text = 'federated bytes\n';
    const up = await upload(a.baseUrl, aToken, text, 'text/plain', 'notes.txt');
    const mediaId = (up.json.content_uri as string).split('/').pop()!;
    const unsigned = await federationFetch(a, 'GET', `/_matrix/federation/v1/media/download/${mediaId}`);
    expect(unsigned.status).toBe(401);

    const r = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/media/download/${mediaId}`);
    expect(r.status).toBe(200);
    const bodyText = (r.body as { text?: string }).text ?? '';
    expect(bodyText).toContain('Content-Type: application/json\r\n\r\n{}\r\n');
    expect(bodyText).toContain('Content-Type: text/plain\r\nContent-Disposition: inline; filename="notes.txt"\r\n\r\nfederated bytes\n\r\n--');

    const png = await image('png', 300, 200);
    const img = await upload(a.baseUrl, aToken, png, 'image/png');
    const imgId = (img.json.content_uri as string).split('/').pop()!;
    const thumb = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/media/thumbnail/${imgId}?width=32&height=32&method=crop`);
    expect(thumb.status).toBe(200);

    // Media another server's users uploaded is never served on to others: only local media.
    const missing = await signedFetch(b, a, 'GET', '/_matrix/federation/v1/media/download/unknownMedia');
    expect(missing.status).toBe(404);
  });
});
