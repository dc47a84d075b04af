// spec: client-server-api modules/presence ("GET/PUT /presence/{userId}/status")
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isValidUserId } from '../../core/identifiers.js';
import { MatrixError, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { PRESENCE_VALUES } from '../../services/presence.js';
import { requester } from '../server.js';

const UserParams = Type.Object({ userId: Type.String({ minLength: 1, maxLength: 255 }) });
const PresenceBody = Type.Object({
  presence: Type.Union(PRESENCE_VALUES.map((p) => Type.Literal(p))),
  status_msg: Type.Optional(Type.String()),
}, { additionalProperties: true });

function checkUserId(userId: string): string {
  if (!isValidUserId(userId, { historical: true })) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${JSON.stringify(userId)}`, 400);
  return userId;
}

export function presenceRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get<{ Params: Static<typeof UserParams> }>('/_matrix/client/v3/presence/:userId/status', {
    schema: { params: UserParams }, config: { auth: 'user' },
  }, async (req) => {
    const viewer = requester(req).userId;
    const userId = checkUserId(req.params.userId);
    // With presence disabled everyone is offline, as in Synapse (`presence.enabled: false`).
    if (!hs.presence.enabled) return { presence: 'offline' };
    // Synapse's rule: only users who share a room may see each other's presence.
    if (!(await hs.presence.canSee(viewer, userId))) throw forbidden('You are not allowed to see their presence');
    return hs.presence.format(await hs.presence.get(userId));
  });

  app.put<{ Params: Static<typeof UserParams>; Body: Static<typeof PresenceBody> }>('/_matrix/client/v3/presence/:userId/status', {
    schema: { params: UserParams, body: PresenceBody }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    if (checkUserId(req.params.userId) !== userId) throw forbidden('You may only set your own presence');
    await hs.presence.setPresence(userId, req.body.presence, req.body.status_msg);
    return {};
  });
}
