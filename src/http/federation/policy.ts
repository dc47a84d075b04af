// POST /_matrix/policy/v1/sign: this server as a Policy Server (config policy_server.enabled);
// a server that is not one answers M_UNRECOGNIZED (spec: "Unsupported Endpoints").
// spec: server-server-api "Policy Servers"; data/api/server-server/room_policy.yaml
import type { FastifyInstance } from 'fastify';
import type { Homeserver } from '../../homeserver.js';
import { unrecognized } from '../../errors.js';
import { federationOrigin } from './auth.js';

export function federationPolicyRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post('/_matrix/policy/v1/sign', async (req) => {
    if (hs.policyServer === undefined) throw unrecognized('This server is not a policy server');
    return hs.policyServer.sign(federationOrigin(req), req.body);
  });
}
