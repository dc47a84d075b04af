// spec: server-server-api "OpenID" (GET /_matrix/federation/v1/openid/userinfo). Called by
// third-party services with the token a user gave them, not by homeservers: no request signing.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';

export function federationOpenIdRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get<{ Querystring: { access_token: string } }>('/_matrix/federation/v1/openid/userinfo', {
    schema: { querystring: Type.Object({ access_token: Type.String() }, { additionalProperties: true }) },
  }, async (req) => hs.openId.userInfo(req.query.access_token));
}
