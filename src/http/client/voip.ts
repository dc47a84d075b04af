// spec: client-server-api modules/voip_events (GET /voip/turnServer)
import type { FastifyInstance } from 'fastify';
import { forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { turnCredentials } from '../../services/voip.js';
import { requester } from '../server.js';

export function voipRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get('/_matrix/client/v3/voip/turnServer', { config: { auth: 'user', guest: true } }, async (req) => {
    const r = requester(req);
    if (r.isGuest && !hs.config.turn.allow_guests) throw forbidden('Guests may not use the TURN server');
    // The spec defines no answer for a server without TURN; an empty object is what Synapse
    // sends and what clients (matrix-js-sdk) take as "no TURN server".
    return turnCredentials(hs.config.turn, r.userId, Date.now()) ?? {};
  });
}
