// spec: client-server-api "Relationships API" (GET /rooms/{roomId}/relations/...) and
// modules/threading "Querying threads in a room" (GET /rooms/{roomId}/threads)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const Id = Type.String({ minLength: 1, maxLength: 255 });
const RelationsParams = Type.Object({ roomId: Id, eventId: Id, relType: Type.Optional(Id), eventType: Type.Optional(Id) });
const Limit = Type.String({ pattern: '^[0-9]{1,9}$' });
const RelationsQuery = Type.Object({
  from: Type.Optional(Type.String()),
  to: Type.Optional(Type.String()),
  limit: Type.Optional(Limit),
  dir: Type.Optional(Type.Union([Type.Literal('b'), Type.Literal('f')])),
  recurse: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
}, { additionalProperties: true });
const ThreadsQuery = Type.Object({
  include: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('participated')])),
  from: Type.Optional(Type.String()),
  limit: Type.Optional(Limit),
}, { additionalProperties: true });

const RELATIONS_DEFAULT_LIMIT = 50;
const THREADS_DEFAULT_LIMIT = 10;

/** `limit` must be a positive integer (spec: threads_list "greater than zero"). */
function parseLimit(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (n < 1) throw invalidParam('`limit` must be greater than zero');
  return n;
}

export function relationRoutes(app: FastifyInstance, hs: Homeserver): void {
  const auth = { auth: 'user' as const };

  const paths = [
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId',
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType',
    '/_matrix/client/v1/rooms/:roomId/relations/:eventId/:relType/:eventType',
  ];
  for (const path of paths) {
    app.get<{ Params: Static<typeof RelationsParams>; Querystring: Static<typeof RelationsQuery> }>(path, {
      schema: { params: RelationsParams, querystring: RelationsQuery }, config: auth,
    }, async (req) => {
      const roomId = checkRoomId(req.params.roomId);
      if (!req.params.eventId.startsWith('$')) throw invalidParam(`Invalid event ID ${JSON.stringify(req.params.eventId)}`);
      const q = req.query;
      return hs.relations.children(requester(req), roomId, req.params.eventId, {
        relType: req.params.relType, eventType: req.params.eventType,
        from: q.from, to: q.to, dir: q.dir ?? 'b', limit: parseLimit(q.limit, RELATIONS_DEFAULT_LIMIT),
        recurse: q.recurse === undefined ? undefined : q.recurse === 'true',
      });
    });
  }

  app.get<{ Params: { roomId: string }; Querystring: Static<typeof ThreadsQuery> }>('/_matrix/client/v1/rooms/:roomId/threads', {
    schema: { params: Type.Object({ roomId: Id }), querystring: ThreadsQuery }, config: auth,
  }, async (req) => {
    const roomId = checkRoomId(req.params.roomId);
    return hs.relations.threads(requester(req), roomId, {
      include: req.query.include ?? 'all', from: req.query.from, limit: parseLimit(req.query.limit, THREADS_DEFAULT_LIMIT),
    });
  });
}
