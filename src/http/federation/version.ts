// spec: server-server-api "GET /_matrix/federation/v1/version" (no request authentication).
import type { FastifyInstance } from 'fastify';
import type { Homeserver } from '../../homeserver.js';

/** Kept in step with package.json's version. */
const WEFT_VERSION = '0.1.0';

export function federationVersionRoutes(app: FastifyInstance, _hs: Homeserver): void {
  app.get('/_matrix/federation/v1/version', async () => ({ server: { name: 'Weft', version: WEFT_VERSION } }));
}
