// spec: client-server-api modules/account_data ("Client Config") and modules/tags ("Room Tagging")
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { JsonObject } from '../../core/pdu.js';
import { forbidden, invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const TypeParam = Type.String({ minLength: 1, maxLength: 255 });
const GlobalParams = Type.Object({ userId: Type.String(), type: TypeParam });
const RoomParams = Type.Object({ userId: Type.String(), roomId: Type.String(), type: TypeParam });
const TagsParams = Type.Object({ userId: Type.String(), roomId: Type.String() });
const TagParams = Type.Object({ userId: Type.String(), roomId: Type.String(), tag: Type.String() });
const Content = Type.Object({}, { additionalProperties: true });
/** spec: definitions/tag.yaml */
const Tag = Type.Object({ order: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })) }, { additionalProperties: true });

/** Users may only read and change their own account data. */
function self(req: FastifyRequest, userId: string): string {
  const r = requester(req);
  if (r.userId !== userId) throw forbidden('Cannot access account data of other users');
  return r.userId;
}

function checkType(type: string): string {
  // PostgreSQL text cannot hold NUL, and no event type needs one.
  if (type.includes('\u0000')) throw invalidParam('Account data types may not contain NUL');
  return type;
}

export function accountDataRoutes(app: FastifyInstance, hs: Homeserver): void {
  const config = { auth: 'user' as const };

  app.get<{ Params: Static<typeof GlobalParams> }>('/_matrix/client/v3/user/:userId/account_data/:type', { schema: { params: GlobalParams }, config },
    async (req) => hs.accountData.get(self(req, req.params.userId), null, checkType(req.params.type)));

  app.put<{ Params: Static<typeof GlobalParams>; Body: JsonObject }>('/_matrix/client/v3/user/:userId/account_data/:type', { schema: { params: GlobalParams, body: Content }, config },
    async (req) => {
      await hs.accountData.setFromClient(self(req, req.params.userId), null, checkType(req.params.type), req.body);
      return {};
    });

  app.get<{ Params: Static<typeof RoomParams> }>('/_matrix/client/v3/user/:userId/rooms/:roomId/account_data/:type', { schema: { params: RoomParams }, config },
    async (req) => hs.accountData.get(self(req, req.params.userId), checkRoomId(req.params.roomId), checkType(req.params.type)));

  app.put<{ Params: Static<typeof RoomParams>; Body: JsonObject }>('/_matrix/client/v3/user/:userId/rooms/:roomId/account_data/:type', { schema: { params: RoomParams, body: Content }, config },
    async (req) => {
      await hs.accountData.setFromClient(self(req, req.params.userId), checkRoomId(req.params.roomId), checkType(req.params.type), req.body);
      return {};
    });

  app.get<{ Params: Static<typeof TagsParams> }>('/_matrix/client/v3/user/:userId/rooms/:roomId/tags', { schema: { params: TagsParams }, config },
    async (req) => ({ tags: await hs.accountData.tags(self(req, req.params.userId), checkRoomId(req.params.roomId)) }));

  app.put<{ Params: Static<typeof TagParams>; Body: JsonObject }>('/_matrix/client/v3/user/:userId/rooms/:roomId/tags/:tag', { schema: { params: TagParams, body: Tag }, config },
    async (req) => {
      await hs.accountData.setTag(self(req, req.params.userId), checkRoomId(req.params.roomId), req.params.tag, req.body);
      return {};
    });

  app.delete<{ Params: Static<typeof TagParams> }>('/_matrix/client/v3/user/:userId/rooms/:roomId/tags/:tag', { schema: { params: TagParams }, config },
    async (req) => {
      await hs.accountData.deleteTag(self(req, req.params.userId), checkRoomId(req.params.roomId), req.params.tag);
      return {};
    });
}
