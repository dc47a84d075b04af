// Media served to other servers: GET /_matrix/federation/v1/media/download/{mediaId} and
// /thumbnail/{mediaId}, behind the X-Matrix check. Only this server's own media is served
// (never media cached from elsewhere), as multipart/mixed: `{}` metadata, then the bytes.
// spec: server-server-api "Content Repository"
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { DEFAULT_WAIT_MS, type MediaService, type Served } from '../../services/media/media.js';
import { multipartMedia } from '../../services/media/multipart.js';
import { contentDisposition } from './serve.js';

const Params = Type.Object({ mediaId: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 255 }) });
const Digits = Type.String({ pattern: '^[0-9]{1,9}$' });
const DownloadQuery = Type.Object({ timeout_ms: Type.Optional(Digits) }, { additionalProperties: true });
const ThumbnailQuery = Type.Object({
  width: Digits, height: Digits,
  method: Type.Optional(Type.Union([Type.Literal('crop'), Type.Literal('scale')])),
  animated: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  timeout_ms: Type.Optional(Digits),
}, { additionalProperties: true });

function sendMultipart(reply: FastifyReply, media: MediaService, served: Served, disposition: string): FastifyReply {
  const framing = multipartMedia(served.contentType, disposition);
  const bytes = served.data ? Readable.from([served.data]) : media.files.read(served.sha256 as string);
  async function* body() {
    yield framing.head;
    for await (const chunk of bytes) yield chunk as Buffer;
    yield framing.tail;
  }
  return reply.type(framing.contentType)
    .header('content-length', framing.head.length + served.size + framing.tail.length)
    .send(Readable.from(body()));
}

export function federationMediaRoutes(app: FastifyInstance, hs: Homeserver): void {
  const media = hs.media;
  const serverName = hs.config.server_name;
  const wait = (q: { timeout_ms?: string }) => (q.timeout_ms === undefined ? DEFAULT_WAIT_MS : Number(q.timeout_ms));

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof DownloadQuery> }>('/_matrix/federation/v1/media/download/:mediaId', {
    schema: { params: Params, querystring: DownloadQuery },
  }, async (req, reply) => {
    const served = await media.download(serverName, req.params.mediaId, wait(req.query), false);
    return sendMultipart(reply, media, served, contentDisposition(served.contentType, served.filename));
  });

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof ThumbnailQuery> }>('/_matrix/federation/v1/media/thumbnail/:mediaId', {
    schema: { params: Params, querystring: ThumbnailQuery },
  }, async (req, reply) => {
    const q = req.query;
    const width = Number(q.width);
    const height = Number(q.height);
    if (width < 1 || height < 1) throw invalidParam('`width` and `height` must be positive integers');
    const served = await media.thumbnail(serverName, req.params.mediaId, {
      width, height, method: q.method ?? 'scale', animated: q.animated === undefined ? undefined : q.animated === 'true',
    }, wait(q), false);
    return sendMultipart(reply, media, served, contentDisposition(served.contentType, `thumbnail.${served.contentType.split('/')[1] ?? 'bin'}`, true));
  });
}
