// spec: client-server-api modules/send_to_device (to_device.yaml)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const Params = Type.Object({ eventType: Type.String({ minLength: 1 }), txnId: Type.String({ minLength: 1 }) });
const Body = Type.Object({ messages: Type.Record(Type.String(), Type.Record(Type.String(), Type.Object({}, { additionalProperties: true }))) }, { additionalProperties: true });

export function toDeviceRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.put<{ Params: Static<typeof Params>; Body: Static<typeof Body> }>('/_matrix/client/v3/sendToDevice/:eventType/:txnId', {
    schema: { params: Params, body: Body }, config: { auth: 'user', guest: true },
  }, async (req) => {
    const { userId, deviceId } = requester(req);
    await hs.toDevice.send({ userId, deviceId }, req.params.eventType, req.params.txnId, req.body.messages);
    return {};
  });
}
