// spec: client-server-api "Room aliases", "Published room directory", modules/spaces (GET /hierarchy)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MatrixError } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const AliasParams = Type.Object({ roomAlias: Type.String({ minLength: 1, maxLength: 255 }) });
const RoomParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }) });
const SetAliasBody = Type.Object({ room_id: Type.String({ maxLength: 255 }) }, { additionalProperties: true });
const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);
const SetVisibilityBody = Type.Object({ visibility: Type.Optional(Visibility) }, { additionalProperties: true });
const ServerQuery = { server: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) };
const PublicRoomsQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  since: Type.Optional(Type.String({ maxLength: 1000 })),
  ...ServerQuery,
}, { additionalProperties: true });
const PublicRoomsBody = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
  since: Type.Optional(Type.String({ maxLength: 1000 })),
  filter: Type.Optional(Type.Object({
    generic_search_term: Type.Optional(Type.String({ maxLength: 1000 })),
    room_types: Type.Optional(Type.Array(Type.Union([Type.String({ maxLength: 255 }), Type.Null()]), { maxItems: 100 })),
  }, { additionalProperties: true })),
  include_all_networks: Type.Optional(Type.Boolean()),
  third_party_instance_id: Type.Optional(Type.String({ maxLength: 255 })),
}, { additionalProperties: true });
const HierarchyQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  max_depth: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  suggested_only: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  from: Type.Optional(Type.String({ maxLength: 1000 })),
}, { additionalProperties: true });

export function directoryRoutes(app: FastifyInstance, hs: Homeserver): void {
  const alias = '/_matrix/client/v3/directory/room/:roomAlias';

  app.put<{ Params: Static<typeof AliasParams>; Body: Static<typeof SetAliasBody> }>(alias, {
    schema: { params: AliasParams, body: SetAliasBody }, config: { auth: 'user' },
  }, async (req) => {
    await hs.directory.setAlias(requester(req).userId, req.params.roomAlias, req.body.room_id);
    return {};
  });

  app.get<{ Params: Static<typeof AliasParams> }>(alias, { schema: { params: AliasParams }, config: { auth: 'none' } },
    async (req) => hs.directory.lookupAlias(req.params.roomAlias));

  app.delete<{ Params: Static<typeof AliasParams> }>(alias, { schema: { params: AliasParams }, config: { auth: 'user' } }, async (req) => {
    await hs.directory.deleteAlias(requester(req).userId, req.params.roomAlias);
    return {};
  });

  app.get<{ Params: Static<typeof RoomParams> }>('/_matrix/client/v3/rooms/:roomId/aliases', {
    schema: { params: RoomParams }, config: { auth: 'user' },
  }, async (req) => ({ aliases: await hs.directory.localAliases(requester(req).userId, req.params.roomId) }));

  const list = '/_matrix/client/v3/directory/list/room/:roomId';
  app.get<{ Params: Static<typeof RoomParams> }>(list, { schema: { params: RoomParams }, config: { auth: 'none' } },
    async (req) => ({ visibility: await hs.directory.visibility(req.params.roomId) }));

  app.put<{ Params: Static<typeof RoomParams>; Body: Static<typeof SetVisibilityBody> }>(list, {
    schema: { params: RoomParams, body: SetVisibilityBody }, config: { auth: 'user' },
  }, async (req) => {
    // spec: `visibility` defaults to public.
    await hs.directory.setVisibility(requester(req).userId, req.params.roomId, req.body.visibility ?? 'public');
    return {};
  });

  // spec: GET /publicRooms needs no access token; POST does. Guests may read the directory.
  app.get<{ Querystring: Static<typeof PublicRoomsQuery> }>('/_matrix/client/v3/publicRooms', {
    schema: { querystring: PublicRoomsQuery }, config: { auth: 'optional', guest: true },
  }, async (req) => hs.federationQueries.publicRooms({
    limit: req.query.limit === undefined ? undefined : Number(req.query.limit), since: req.query.since, server: req.query.server,
  }, false));

  app.post<{ Querystring: { server?: string }; Body: Static<typeof PublicRoomsBody> }>('/_matrix/client/v3/publicRooms', {
    schema: { querystring: Type.Object(ServerQuery, { additionalProperties: true }), body: PublicRoomsBody }, config: { auth: 'user', guest: true },
  }, async (req) => hs.federationQueries.publicRooms({ ...req.body, server: req.query.server }, true));

  app.get<{ Params: Static<typeof RoomParams>; Querystring: Static<typeof HierarchyQuery> }>('/_matrix/client/v1/rooms/:roomId/hierarchy', {
    schema: { params: RoomParams, querystring: HierarchyQuery }, config: { auth: 'user', guest: true },
  }, async (req) => {
    const q = req.query;
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    // spec: limit "Must be an integer greater than zero".
    if (limit === 0) throw new MatrixError('M_INVALID_PARAM', '`limit` must be greater than zero', 400);
    return hs.hierarchy.walk(requester(req).userId, checkRoomId(req.params.roomId), {
      limit, maxDepth: q.max_depth === undefined ? undefined : Number(q.max_depth), suggestedOnly: q.suggested_only === 'true', from: q.from,
    });
  });
}
