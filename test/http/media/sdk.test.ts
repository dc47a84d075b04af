// matrix-js-sdk (what Element uses) against the media repository: it uploads an avatar and sets
// it, uploads an image and sends it as an m.image message, and the mxc:// URLs it reads back
// download through the authenticated endpoint the SDK builds. startClient() is never called.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, MsgType, type MatrixClient } from 'matrix-js-sdk';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import sharp from 'sharp';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { image, raw } from './helpers.js';

const noop = () => undefined;
const quietLogger: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };
(sdkGlobalLogger as unknown as { setLevel?: (level: string) => void }).setLevel?.('silent');

describe.each(ENGINES)('matrix-js-sdk media (%s)', (engine) => {
  let server: TestServer;
  let client: MatrixClient;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    const reg = await new Client(server.baseUrl).register('alice');
    token = reg.access_token;
    client = createClient({ baseUrl: server.baseUrl, accessToken: reg.access_token, userId: reg.user_id, deviceId: reg.device_id, logger: quietLogger });
  });
  afterAll(async () => server.close());

  /** What the SDK's authenticated media URL serves. */
  async function download(mxc: string): Promise<{ type: string | null; bytes: Buffer }> {
    const url = client.mxcUrlToHttp(mxc, undefined, undefined, undefined, false, true, true);
    expect(url).toContain('/_matrix/client/v1/media/download/');
    const res = await raw(server.baseUrl, 'GET', url!, { token });
    expect(res.status).toBe(200);
    return { type: res.headers.get('content-type'), bytes: res.bytes };
  }

  it('uploads and sets an avatar', async () => {
    const avatar = await image('png', 96, 96);
    const { content_uri } = await client.uploadContent(new Uint8Array(avatar), { type: 'image/png', name: 'avatar.png' });
    expect(content_uri).toMatch(/^mxc:\/\/test\.local\//);
    await client.setAvatarUrl(content_uri);
    const profile = await client.getProfileInfo(client.getUserId()!);
    expect(profile.avatar_url).toBe(content_uri);
    const got = await download(profile.avatar_url!);
    expect(got.type).toBe('image/png');
    expect(got.bytes.equals(avatar)).toBe(true);
  });

  it('sends an m.image message whose URL downloads, with a thumbnail', async () => {
    const photo = await image('jpeg', 800, 600);
    const { content_uri } = await client.uploadContent(new Uint8Array(photo), { type: 'image/jpeg', name: 'photo.jpg' });
    const { room_id } = await client.createRoom({ name: 'photos' });
    const { event_id } = await client.sendMessage(room_id, {
      msgtype: MsgType.Image, body: 'photo.jpg', url: content_uri, info: { mimetype: 'image/jpeg', size: photo.length, w: 800, h: 600 },
    });
    const event = await client.fetchRoomEvent(room_id, event_id);
    expect(event.content?.url).toBe(content_uri);
    const got = await download(event.content?.url as string);
    expect(got.bytes.equals(photo)).toBe(true);

    const thumbUrl = client.mxcUrlToHttp(content_uri, 96, 96, 'crop', false, true, true)!;
    expect(thumbUrl).toContain('/_matrix/client/v1/media/thumbnail/');
    const res = await raw(server.baseUrl, 'GET', thumbUrl, { token });
    expect(res.status).toBe(200);
    const meta = await sharp(res.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([96, 96]);
  });

  it('reads the media config', async () => {
    const cfg = await client.getMediaConfig(true);
    expect(cfg['m.upload.size']).toBe(server.config.media.max_upload_bytes);
  });
});
