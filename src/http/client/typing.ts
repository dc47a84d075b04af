// spec: client-server-api modules/typing_notifications ("PUT /rooms/{roomId}/typing/{userId}")
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const TypingParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }), userId: Type.String({ minLength: 1, maxLength: 255 }) });
const TypingBody = Type.Object({
  typing: Type.Boolean(),
  // Capped at MAX_TYPING_TIMEOUT_MS by the service; 30 s when omitted (as Synapse does).
  timeout: Type.Optional(Type.Integer({ minimum: 0 })),
}, { additionalProperties: true });

export function typingRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.put<{ Params: Static<typeof TypingParams>; Body: Static<typeof TypingBody> }>('/_matrix/client/v3/rooms/:roomId/typing/:userId', {
    schema: { params: TypingParams, body: TypingBody }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    if (req.params.userId !== userId) throw forbidden('You may only set your own typing state');
    if ((await hs.storage.rooms.membership(roomId, userId)) !== 'join') throw forbidden(`You are not joined to ${roomId}`);
    hs.typing.setTyping(roomId, userId, req.body.typing, req.body.timeout);
    await hs.presence.bumpActive(userId);
    return {};
  });
}
