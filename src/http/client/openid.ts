// spec: client-server-api modules/openid (POST /user/{userId}/openid/request_token)
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { badJson, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

export function openIdRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post<{ Params: { userId: string }; Body: unknown }>('/_matrix/client/v3/user/:userId/openid/request_token', {
    schema: { params: Type.Object({ userId: Type.String() }) },
    config: { auth: 'user' },
  }, async (req) => {
    // The body is "an empty object, reserved for future expansion"; clients that send none are let through.
    if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) throw badJson('The body must be a JSON object');
    const { userId } = requester(req);
    if (userId !== req.params.userId) throw forbidden('Cannot request OpenID tokens for other users');
    return hs.openId.requestToken(userId);
  });
}
