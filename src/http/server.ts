// Builds one Fastify app per listener: the spec's error format everywhere, CORS,
// body limits, access-token auth, rate limits, request logs without secrets.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyError } from 'fastify';
import FindMyWay from 'find-my-way';
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyValidationResult } from 'fastify/types/schema.js';
import type { Logger } from 'pino';
import type { Resource } from '../config.js';
import { MatrixError, unrecognized } from '../errors.js';
import type { Homeserver } from '../homeserver.js';
import type { Requester } from '../services/sessions.js';
import { clientRoutes } from './client/index.js';
import { adminRoutes } from './admin/index.js';
import { federationRoutes, federationKeyRoutes } from './federation/index.js';
import { wellKnownRoutes } from './well-known.js';
import { mediaRoutes } from './media/index.js';
import { observabilityRoutes, recordRequest } from './observability.js';

export type AuthMode = 'user' | 'optional' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Whether the route needs an access token; default 'none'. */
    auth?: AuthMode;
    /** Whether guests may call it (spec: modules/guest_access). */
    guest?: boolean;
    /** Skip the general per-user/per-IP limiter (the route applies its own). */
    rateLimited?: false;
  }
  interface FastifyRequest {
    requester?: Requester;
  }
}

export type RouteModule = (app: FastifyInstance, hs: Homeserver) => void;

const CORS_HEADERS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
};

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] as const;
const INFO_OR_LOWER = new Set(['info', 'debug', 'trace']);

/** The requester of an authenticated route; routes with auth 'user' always have one. */
export function requester(req: FastifyRequest): Requester {
  if (!req.requester) throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401);
  return req.requester;
}

function accessToken(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new MatrixError('M_MISSING_TOKEN', 'Malformed Authorization header', 401);
    return m[1];
  }
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' ? q : undefined;
}

/** Strips secrets from URLs before they reach a log line. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:access_token|token|login_token)=)[^&]*/g, '$1<redacted>');
}

export function buildApp(hs: Homeserver, resources: readonly Resource[], logger: Logger, https?: { cert: Buffer; key: Buffer }): FastifyInstance {
  const app = Fastify({
    ...(https ? { https } : {}),
    loggerInstance: logger,
    // One log line per request, written by our onResponse hook without secrets.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: hs.config.max_request_body_bytes,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
  }) as unknown as FastifyInstance;

  // Request schemas are compiled on first use, not at start-up: compiling all of them up front
  // took a third of the time from `weft start` to listening.
  app.setValidatorCompiler(({ schema }) => lazyValidator(schema));

  // Our own index of paths, to tell "wrong method" (405) from "no such endpoint" (404).
  const paths = FindMyWay();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const m of methods) {
      if (m === 'OPTIONS' || m === 'HEAD') continue;
      try { paths.on(m as 'GET', route.url, () => undefined); } catch { /* already there */ }
    }
  });

  // Every body is parsed as JSON whatever its content type; a body that is not JSON is M_NOT_JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new MatrixError('M_NOT_JSON', 'Content not JSON.', 400), undefined);
    }
  });

  // A POST or PUT without a body is an empty object: several endpoints take only optional fields,
  // and clients omit the body for them.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && (req.method === 'POST' || req.method === 'PUT')) req.body = {};
  });

  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(CORS_HEADERS);
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const ms = reply.elapsedTime;
    recordRequest(req.routeOptions.url ?? 'unknown', req.method, reply.statusCode, ms);
    if (!INFO_OR_LOWER.has(req.log.level)) return;
    req.log.info({
      method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(ms * 10) / 10,
      ip: req.ip, user: req.requester?.userId,
    }, 'request');
  });

  app.addHook('preHandler', async (req) => {
    const cfg = req.routeOptions.config;
    const mode = cfg.auth ?? 'none';
    if (mode !== 'none') {
      const token = accessToken(req);
      if (token === undefined) {
        if (mode === 'user') throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401);
      } else {
        req.requester = await hs.sessions.resolve(token);
        if (req.requester.isGuest && !cfg.guest) {
          throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access is not allowed here', 403);
        }
      }
    }
    if (cfg.rateLimited !== false) hs.rateLimits.client.take(req.requester?.userId ?? req.ip);
  });

  app.setErrorHandler((err: FastifyError | MatrixError, req, reply) => sendError(err, req, reply));

  app.setNotFoundHandler((req, reply) => {
    if (req.method === 'OPTIONS') return reply.code(204).send();
    const path = req.url.split('?')[0];
    const other = METHODS.some((m) => m !== req.method && paths.find(m, path) !== null);
    const err = other ? unrecognized('Unrecognized request: wrong method', 405) : unrecognized('Unrecognized request');
    return sendError(err, req, reply);
  });

  app.options('*', { config: { rateLimited: false } }, async (_req, reply) => reply.code(204).send());

  const modules: Array<[Resource, RouteModule]> = [
    ['client', clientRoutes],
    ['client', wellKnownRoutes],
    ['admin', adminRoutes],
    ['media', mediaRoutes],
    ['federation', federationRoutes],
    ['keys', federationKeyRoutes],
  ];
  for (const [resource, register] of modules) if (resources.includes(resource)) register(app, hs);
  observabilityRoutes(app, hs, resources);
  return app;
}

const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: true, strict: false });

function lazyValidator(schema: object): FastifyValidationResult {
  let compiled: ValidateFunction | undefined;
  const validate: FastifyValidationResult = (data: unknown) => {
    compiled ??= ajv.compile(schema);
    const ok = compiled(data) as boolean;
    validate.errors = compiled.errors as FastifyValidationResult['errors'];
    return ok;
  };
  return validate;
}

function sendError(err: FastifyError | MatrixError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const m = toMatrixError(err);
  if (m.status >= 500) req.log.error({ err }, 'internal error');
  if (m.status === 429) reply.header('retry-after', Math.ceil(Number(m.extra.retry_after_ms ?? 1000) / 1000));
  return reply.code(m.status).type('application/json').send(m.toJSON());
}

function toMatrixError(err: FastifyError | MatrixError | Error): MatrixError {
  if (err instanceof MatrixError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    const v = fe.validation[0];
    const where = fe.validationContext ?? 'body';
    const field = v?.instancePath ? v.instancePath.slice(1).replace(/\//g, '.') : '';
    if (v?.keyword === 'required') {
      const missing = (v.params as { missingProperty?: string }).missingProperty ?? '';
      return new MatrixError('M_MISSING_PARAM', `Missing ${where === 'body' ? 'field' : 'parameter'} \`${field ? `${field}.` : ''}${missing}\``, 400);
    }
    const msg = `${field ? `\`${field}\`` : where} ${v?.message ?? 'is invalid'}`;
    return where === 'body' ? new MatrixError('M_BAD_JSON', msg, 400) : new MatrixError('M_INVALID_PARAM', msg, 400);
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return new MatrixError('M_TOO_LARGE', 'Request body too large', 413);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new MatrixError('M_UNKNOWN', fe.message, fe.statusCode);
  }
  return new MatrixError('M_UNKNOWN', 'Internal server error', 500);
}
