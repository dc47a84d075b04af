// spec: client-server-api "Well-known URIs" and server-server-api "Server discovery"
import type { FastifyInstance } from 'fastify';
import type { Homeserver } from '../homeserver.js';
import { notFound } from '../errors.js';

export function wellKnownRoutes(app: FastifyInstance, hs: Homeserver): void {
  const { config } = hs;
  app.get('/.well-known/matrix/client', async () => ({
    'm.homeserver': { base_url: config.well_known.client_base_url ?? config.public_baseurl.replace(/\/$/, '') },
  }));
  app.get('/.well-known/matrix/server', async () => ({ 'm.server': config.well_known.server ?? federationAuthority(hs) }));
  // spec: client-server-api GET /.well-known/matrix/policy_server (404 when there is none to give)
  app.get('/.well-known/matrix/policy_server', async () => {
    if (hs.policyServer === undefined) throw notFound('This server is not a policy server');
    return hs.policyServer.wellKnown();
  });
}

/** Where other servers reach us: the public base URL's host and the port of a federation listener. */
function federationAuthority(hs: Homeserver): string {
  const host = new URL(hs.config.public_baseurl).hostname;
  const fed = hs.config.listeners.find((l) => l.resources.includes('federation'));
  const port = fed ? fed.port : 8448;
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}
