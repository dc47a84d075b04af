// spec: client-server-api "Filtering" (POST /user/{userId}/filter, GET /user/{userId}/filter/{filterId})
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

/** Filters belong to one user: nobody else may create or read them. */
function self(req: FastifyRequest, userId: string): string {
  const r = requester(req);
  if (r.userId !== userId) throw forbidden('Cannot use filters of other users');
  return r.userId;
}

export function filterRoutes(app: FastifyInstance, hs: Homeserver): void {
  const auth = { auth: 'user' as const, guest: true };

  app.post<{ Params: { userId: string }; Body: Record<string, unknown> }>('/_matrix/client/v3/user/:userId/filter', {
    schema: { params: Type.Object({ userId: Type.String() }), body: Type.Object({}, { additionalProperties: true }) }, config: auth,
  }, async (req) => ({ filter_id: await hs.sync.filters.create(self(req, req.params.userId), req.body) }));

  app.get<{ Params: { userId: string; filterId: string } }>('/_matrix/client/v3/user/:userId/filter/:filterId', {
    schema: { params: Type.Object({ userId: Type.String(), filterId: Type.String({ minLength: 1, maxLength: 255 }) }) }, config: auth,
  }, async (req) => hs.sync.filters.get(self(req, req.params.userId), req.params.filterId));
}
