// The Server-Server API routes, registered on listeners with the `federation` resource, and the
// key routes for the `keys` resource.
//
// Routes in AUTHENTICATED_ROUTES sit behind the X-Matrix check (auth.ts): their handlers read the
// calling server with `federationOrigin(req)`. The spec leaves /version and the OpenID userinfo
// endpoint unauthenticated; they are registered outside that scope. Add new federation route
// modules to AUTHENTICATED_ROUTES.
import type { FastifyInstance } from 'fastify';
import type { Homeserver } from '../../homeserver.js';
import type { RouteModule } from '../server.js';
import { federationAuthHook } from './auth.js';
import { federationOpenIdRoutes } from './openid.js';
import { federationVersionRoutes } from './version.js';
import { keyRoutes } from './keys.js';
import { federationTransportRoutes } from './transport.js';
import { federationQueryRoutes } from './queries.js';
import { federationHierarchyRoutes } from './hierarchy.js';
import { federationEventRoutes } from './events.js';
import { federationMembershipRoutes } from './membership.js';
import { federationMediaRoutes } from '../media/federation.js';
import { federationPolicyRoutes } from './policy.js';

const AUTHENTICATED_ROUTES: RouteModule[] = [federationTransportRoutes, federationQueryRoutes, federationHierarchyRoutes, federationEventRoutes, federationMembershipRoutes, federationMediaRoutes, federationPolicyRoutes];

export function federationRoutes(app: FastifyInstance, hs: Homeserver): void {
  federationOpenIdRoutes(app, hs);
  federationVersionRoutes(app, hs);
  // An encapsulated scope: the X-Matrix hook applies to these routes only.
  void app.register(async (scope) => {
    scope.addHook('preHandler', federationAuthHook(hs));
    for (const routes of AUTHENTICATED_ROUTES) routes(scope, hs);
  });
}

export function federationKeyRoutes(app: FastifyInstance, hs: Homeserver): void {
  keyRoutes(app, hs);
}
