// spec: client-server-api modules/mutual_rooms (v1.19)
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MatrixError } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

export function mutualRoomsRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get<{ Querystring: { user_id?: string; from?: string } }>('/_matrix/client/v1/mutual_rooms', {
    schema: { querystring: Type.Object({ user_id: Type.Optional(Type.String()), from: Type.Optional(Type.String()) }, { additionalProperties: true }) },
    config: { auth: 'user' },
  }, async (req) => {
    if (req.query.user_id === undefined) throw new MatrixError('M_MISSING_PARAM', 'user_id is required', 400);
    return hs.rooms.mutualRooms(requester(req).userId, req.query.user_id, req.query.from);
  });
}
