// spec: server-server-api "Retrieving events" (GET /event, /state, /state_ids), "Backfilling and
// retrieving missing events" (GET /backfill, POST /get_missing_events), GET /event_auth.
// Behind the X-Matrix check; the calling server is `federationOrigin(req)`.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { federationOrigin } from './auth.js';

const RoomParams = Type.Object({ roomId: Type.String() });
const EventQuery = Type.Object({ event_id: Type.String() }, { additionalProperties: true });
const OneOrMany = Type.Union([Type.String(), Type.Array(Type.String())]);
const many = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

export function federationEventRoutes(app: FastifyInstance, hs: Homeserver): void {
  const serve = hs.federationEventServer;

  app.get<{ Params: { eventId: string } }>('/_matrix/federation/v1/event/:eventId', {
    schema: { params: Type.Object({ eventId: Type.String() }) },
  }, async (req) => serve.getEvent(federationOrigin(req), req.params.eventId));

  app.get<{ Params: { roomId: string }; Querystring: { event_id: string } }>('/_matrix/federation/v1/state/:roomId', {
    schema: { params: RoomParams, querystring: EventQuery },
  }, async (req) => serve.state(federationOrigin(req), req.params.roomId, req.query.event_id));

  app.get<{ Params: { roomId: string }; Querystring: { event_id: string } }>('/_matrix/federation/v1/state_ids/:roomId', {
    schema: { params: RoomParams, querystring: EventQuery },
  }, async (req) => serve.stateIds(federationOrigin(req), req.params.roomId, req.query.event_id));

  app.get<{ Params: { roomId: string; eventId: string } }>('/_matrix/federation/v1/event_auth/:roomId/:eventId', {
    schema: { params: Type.Object({ roomId: Type.String(), eventId: Type.String() }) },
  }, async (req) => serve.eventAuth(federationOrigin(req), req.params.roomId, req.params.eventId));

  app.get<{ Params: { roomId: string }; Querystring: { v: string | string[]; limit: string } }>('/_matrix/federation/v1/backfill/:roomId', {
    schema: {
      params: RoomParams,
      querystring: Type.Object({ v: OneOrMany, limit: Type.String({ pattern: '^[0-9]{1,6}$' }) }, { additionalProperties: true }),
    },
  }, async (req) => serve.backfill(federationOrigin(req), req.params.roomId, many(req.query.v), Number(req.query.limit)));

  app.post<{ Params: { roomId: string }; Body: { earliest_events: string[]; latest_events: string[]; limit?: number; min_depth?: number } }>(
    '/_matrix/federation/v1/get_missing_events/:roomId', {
      schema: {
        params: RoomParams,
        body: Type.Object({
          earliest_events: Type.Array(Type.String(), { maxItems: 1000 }),
          latest_events: Type.Array(Type.String(), { maxItems: 1000 }),
          limit: Type.Optional(Type.Integer({ minimum: 0 })),
          min_depth: Type.Optional(Type.Integer({ minimum: 0 })),
        }, { additionalProperties: true }),
      },
    }, async (req) => serve.missingEvents(federationOrigin(req), req.params.roomId, {
      earliest: req.body.earliest_events, latest: req.body.latest_events, limit: req.body.limit ?? 10, minDepth: req.body.min_depth ?? 0,
    }));
}
