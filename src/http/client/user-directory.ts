// spec: client-server-api "User Directory" (POST /user_directory/search)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const SearchBody = Type.Object({
  search_term: Type.String(),
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: true });

export function userDirectoryRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post<{ Body: Static<typeof SearchBody> }>('/_matrix/client/v3/user_directory/search', {
    schema: { body: SearchBody }, config: { auth: 'user' },
  }, async (req) => hs.userDirectory.search(requester(req).userId, req.body.search_term, req.body.limit ?? 10));
}
