// Media routes (listener resource `media`). spec: client-server-api modules/content_repo,
// data/api/client-server/content-repo.yaml and authed-content-repo.yaml
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isValidServerName } from '../../core/identifiers.js';
import { invalidParam, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { DEFAULT_WAIT_MS, MEDIA_TYPE, type ThumbnailRequest, type UploadMeta } from '../../services/media/media.js';
import { requester } from '../server.js';
import { contentDisposition, sendMedia } from './serve.js';

// spec: content_repo "Security considerations": media IDs are [A-Za-z0-9_-] only, and server
// names follow the server-name grammar (checked in `mediaParams`), so no path can be built from them.
const MediaParams = Type.Object({
  serverName: Type.String({ minLength: 1, maxLength: 255 }),
  mediaId: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 255 }),
});
const FileNameParams = Type.Object({ ...MediaParams.properties, fileName: Type.String({ minLength: 1, maxLength: 1024 }) });
const Flag = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const Digits = Type.String({ pattern: '^[0-9]{1,9}$' });
const DownloadQuery = Type.Object({
  timeout_ms: Type.Optional(Digits), allow_remote: Type.Optional(Flag), allow_redirect: Type.Optional(Flag),
}, { additionalProperties: true });
const ThumbnailQuery = Type.Object({
  width: Digits, height: Digits,
  method: Type.Optional(Type.Union([Type.Literal('crop'), Type.Literal('scale')])),
  animated: Type.Optional(Flag),
  timeout_ms: Type.Optional(Digits), allow_remote: Type.Optional(Flag), allow_redirect: Type.Optional(Flag),
}, { additionalProperties: true });
const UploadQuery = Type.Object({ filename: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: true });
const PreviewQuery = Type.Object({ url: Type.String({ minLength: 1, maxLength: 8192 }), ts: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })) }, { additionalProperties: true });

type MediaRoute = { Params: Static<typeof MediaParams>; Querystring: Static<typeof DownloadQuery> };
type FileNameRoute = { Params: Static<typeof FileNameParams>; Querystring: Static<typeof DownloadQuery> };
type ThumbnailRoute = { Params: Static<typeof MediaParams>; Querystring: Static<typeof ThumbnailQuery> };

function serverNameOf(params: { serverName: string }): string {
  if (!isValidServerName(params.serverName)) throw invalidParam('`serverName` is not a valid server name');
  return params.serverName;
}

function uploadMeta(req: FastifyRequest<{ Querystring: Static<typeof UploadQuery> }>): UploadMeta {
  const length = req.headers['content-length'];
  return {
    contentType: req.headers['content-type'],
    filename: req.query.filename,
    contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
  };
}

/** The request body as the raw stream (see the content-type parser below); none is an empty upload. */
function uploadBody(req: FastifyRequest): Readable {
  return req.body instanceof Readable ? req.body : Readable.from([]);
}

export function mediaRoutes(app: FastifyInstance, hs: Homeserver): void {
  const media = hs.media;
  const userConfig = { auth: 'user' as const };
  // spec: modules/guest_access: guests may download media and thumbnails, not upload.
  const guestConfig = { auth: 'user' as const, guest: true };

  app.register(async (scope) => {
    // Upload bodies reach the handler as the raw request stream, never buffered, and the
    // global JSON body limit does not apply: the media limit is enforced while streaming.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    // A Content-Type Fastify cannot parse would be refused before the handler; the spec makes the
    // header optional, so such an upload is stored as application/octet-stream instead.
    scope.addHook('onRequest', async (req) => {
      const type = req.headers['content-type'];
      if (type !== undefined && !MEDIA_TYPE.test(type.trim())) req.headers['content-type'] = 'application/octet-stream';
    });
    // An upload refused before its body was read (no token, too large, over quota): close the
    // connection rather than read and discard the rest of the body to keep it alive.
    scope.addHook('onSend', async (req, reply, payload) => {
      if (reply.statusCode >= 400 && !req.raw.readableEnded) reply.header('connection', 'close');
      return payload;
    });

    scope.post<{ Querystring: Static<typeof UploadQuery> }>('/_matrix/media/v3/upload', {
      schema: { querystring: UploadQuery }, config: userConfig,
    }, async (req) => ({ content_uri: await media.upload(requester(req).userId, uploadBody(req), uploadMeta(req)) }));

    scope.put<{ Params: Static<typeof MediaParams>; Querystring: Static<typeof UploadQuery> }>('/_matrix/media/v3/upload/:serverName/:mediaId', {
      schema: { params: MediaParams, querystring: UploadQuery }, config: userConfig,
    }, async (req) => {
      await media.uploadTo(requester(req).userId, serverNameOf(req.params), req.params.mediaId, uploadBody(req), uploadMeta(req));
      return {};
    });

    scope.post('/_matrix/media/v1/create', { config: userConfig }, async (req) => media.create(requester(req).userId));
  });

  const mediaConfig = async () => ({ 'm.upload.size': media.maxUploadBytes });
  app.get('/_matrix/client/v1/media/config', { config: userConfig }, mediaConfig);
  app.get('/_matrix/media/v3/config', { config: userConfig }, mediaConfig);

  const download = async (req: FastifyRequest<MediaRoute | FileNameRoute>, reply: FastifyReply, fileName?: string) => {
    const q = req.query;
    const served = await media.download(serverNameOf(req.params), req.params.mediaId,
      q.timeout_ms === undefined ? DEFAULT_WAIT_MS : Number(q.timeout_ms), q.allow_remote !== 'false');
    return sendMedia(req, reply, media, served, contentDisposition(served.contentType, fileName ?? served.filename));
  };
  const thumbnail = async (req: FastifyRequest<ThumbnailRoute>, reply: FastifyReply) => {
    const q = req.query;
    const want: ThumbnailRequest = {
      width: Number(q.width), height: Number(q.height), method: q.method ?? 'scale',
      animated: q.animated === undefined ? undefined : q.animated === 'true',
    };
    if (want.width < 1 || want.height < 1) throw invalidParam('`width` and `height` must be positive integers');
    const served = await media.thumbnail(serverNameOf(req.params), req.params.mediaId, want,
      q.timeout_ms === undefined ? DEFAULT_WAIT_MS : Number(q.timeout_ms), q.allow_remote !== 'false');
    const extension = served.contentType.split('/')[1] ?? 'bin';
    // spec: authed-content-repo thumbnail: Content-Disposition "MUST be inline".
    return sendMedia(req, reply, media, served, contentDisposition(served.contentType, `thumbnail.${extension}`, true));
  };

  // spec v1.11: the authenticated endpoints.
  app.get<MediaRoute>('/_matrix/client/v1/media/download/:serverName/:mediaId',
    { schema: { params: MediaParams, querystring: DownloadQuery }, config: guestConfig }, (req, reply) => download(req, reply));
  app.get<FileNameRoute>('/_matrix/client/v1/media/download/:serverName/:mediaId/:fileName',
    { schema: { params: FileNameParams, querystring: DownloadQuery }, config: guestConfig }, (req, reply) => download(req, reply, req.params.fileName));
  app.get<ThumbnailRoute>('/_matrix/client/v1/media/thumbnail/:serverName/:mediaId',
    { schema: { params: MediaParams, querystring: ThumbnailQuery }, config: guestConfig }, thumbnail);

  // The deprecated unauthenticated endpoints, "frozen" unless configured on (spec: content_repo
  // "Client behaviour": they MAY answer 404 M_NOT_FOUND for media after the freeze).
  const legacy = hs.config.media.legacy_unauthenticated_endpoints;
  const frozen = () => notFound('Unauthenticated media access is disabled on this server; use /_matrix/client/v1/media');
  app.get<MediaRoute>('/_matrix/media/v3/download/:serverName/:mediaId',
    { schema: { params: MediaParams, querystring: DownloadQuery } }, async (req, reply) => {
      if (!legacy) throw frozen();
      return download(req, reply);
    });
  app.get<FileNameRoute>('/_matrix/media/v3/download/:serverName/:mediaId/:fileName',
    { schema: { params: FileNameParams, querystring: DownloadQuery } }, async (req, reply) => {
      if (!legacy) throw frozen();
      return download(req, reply, req.params.fileName);
    });
  app.get<ThumbnailRoute>('/_matrix/media/v3/thumbnail/:serverName/:mediaId',
    { schema: { params: MediaParams, querystring: ThumbnailQuery } }, async (req, reply) => {
      if (!legacy) throw frozen();
      return thumbnail(req, reply);
    });

  if (hs.urlPreviews.enabled) {
    const preview = async (req: FastifyRequest<{ Querystring: Static<typeof PreviewQuery> }>) => hs.urlPreviews.preview(req.query.url);
    const opts = { schema: { querystring: PreviewQuery }, config: userConfig };
    app.get('/_matrix/client/v1/media/preview_url', opts, preview);
    app.get('/_matrix/media/v3/preview_url', opts, preview);
  }
}
