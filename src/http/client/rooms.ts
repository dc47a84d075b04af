// spec: client-server-api "Rooms" (createRoom), "Room membership", "Sending events to a room",
// "Getting events for a room", "Redactions"
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { isValidRoomId, isValidServerName } from '../../core/identifiers.js';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { txnKey } from '../../services/rooms/format.js';
import { requester } from '../server.js';

const RoomParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }) });
const Content = Type.Object({}, { additionalProperties: true });
// spec: POST /join/{roomIdOrAlias}, /knock/{roomIdOrAlias}: `via` (and the deprecated `server_name`).
const ViaQuery = Type.Object({
  via: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Array(Type.String({ maxLength: 255 }), { maxItems: 50 })])),
  server_name: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Array(Type.String({ maxLength: 255 }), { maxItems: 50 })])),
}, { additionalProperties: true });
const viaServers = (q: Static<typeof ViaQuery>): string[] => {
  const list = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return [...list(q.via), ...list(q.server_name)].filter(isValidServerName);
};
const Reason = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: true });
const TargetBody = Type.Object({ user_id: Type.String(), reason: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: true });

const CreateRoomBody = Type.Object({
  visibility: Type.Optional(Type.Union([Type.Literal('public'), Type.Literal('private')])),
  room_alias_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  name: Type.Optional(Type.String()),
  topic: Type.Optional(Type.String()),
  invite: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  invite_3pid: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 0 })),
  room_version: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  creation_content: Type.Optional(Content),
  initial_state: Type.Optional(Type.Array(Type.Object({ type: Type.String(), state_key: Type.Optional(Type.String()), content: Content }, { additionalProperties: true }), { maxItems: 100 })),
  preset: Type.Optional(Type.Union([Type.Literal('private_chat'), Type.Literal('trusted_private_chat'), Type.Literal('public_chat')])),
  is_direct: Type.Optional(Type.Boolean()),
  power_level_content_override: Type.Optional(Content),
}, { additionalProperties: true });

export function checkRoomId(roomId: string): string {
  if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `Invalid room ID ${JSON.stringify(roomId)}`, 400);
  return roomId;
}

export function roomRoutes(app: FastifyInstance, hs: Homeserver): void {
  const auth = { auth: 'user' as const };

  app.post<{ Body: Static<typeof CreateRoomBody> }>('/_matrix/client/v3/createRoom', { schema: { body: CreateRoomBody }, config: auth }, async (req) => {
    const { userId } = requester(req);
    const alias = req.body.room_alias_name === undefined ? undefined : `#${req.body.room_alias_name}:${hs.config.server_name}`;
    if (alias !== undefined) {
      // As Synapse: the local part of a new alias has no whitespace or colon.
      if (/[\s:]/u.test(req.body.room_alias_name as string)) throw new MatrixError('M_INVALID_PARAM', '`room_alias_name` may not contain whitespace or ":"', 400);
      hs.directory.checkAlias(alias);
      if (await hs.storage.aliases.get(alias)) throw new MatrixError('M_ROOM_IN_USE', `Room alias ${alias} already exists`, 400);
    }
    return hs.rooms.createRoom(userId, req.body);
  });

  app.get('/_matrix/client/v3/joined_rooms', { config: auth }, async (req) =>
    ({ joined_rooms: await hs.storage.rooms.roomsWithMembership(requester(req).userId, 'join') }));

  // Joining: by room ID, or by ID or alias. Guests join only rooms that allow them (RoomService.join).
  // A room this server is not in is joined over federation, through the servers named by `via`
  // / `server_name`, the alias's server, or the room ID's (services/federation/membership.ts).
  const join = async (r: { userId: string; isGuest: boolean }, roomIdOrAlias: string, reason?: string, via: string[] = []) => {
    const { room_id: roomId, servers } = roomIdOrAlias.startsWith('#') ? await hs.directory.resolveAliasWithServers(roomIdOrAlias) : { room_id: checkRoomId(roomIdOrAlias), servers: [] };
    const remote = await hs.federationMembership.remoteJoinServers(roomId, r.userId, [...via, ...servers]);
    if (remote.length > 0) {
      if (r.isGuest) throw forbidden('Guests may not join rooms on other servers');
      await hs.federationMembership.joinRemote(roomId, r.userId, remote, await hs.federationMembership.memberContent(r.userId, reason));
      return { room_id: roomId };
    }
    if (!(await hs.storage.events.getRoom(roomId))) throw notFound(`No known servers for ${roomIdOrAlias}`);
    await hs.rooms.join(roomId, r.userId, { reason, guest: r.isGuest });
    return { room_id: roomId };
  };
  app.post<{ Params: { roomId: string }; Body: { reason?: string } }>('/_matrix/client/v3/rooms/:roomId/join', {
    schema: { params: RoomParams, body: Type.Optional(Reason) }, config: { auth: 'user', guest: true },
  }, async (req) => join(requester(req), req.params.roomId, req.body?.reason));
  // Not in modules/guest_access's list, but the same action as the route above, and the one
  // matrix-js-sdk's joinRoom calls: guests may use it too (as Synapse allows).
  app.post<{ Params: { roomIdOrAlias: string }; Querystring: Static<typeof ViaQuery>; Body: { reason?: string } }>('/_matrix/client/v3/join/:roomIdOrAlias', {
    schema: { params: Type.Object({ roomIdOrAlias: Type.String({ minLength: 1, maxLength: 255 }) }), querystring: ViaQuery, body: Type.Optional(Reason) }, config: { auth: 'user', guest: true },
  }, async (req) => join(requester(req), req.params.roomIdOrAlias, req.body?.reason, viaServers(req.query)));

  app.post<{ Params: { roomIdOrAlias: string }; Querystring: Static<typeof ViaQuery>; Body: { reason?: string } }>('/_matrix/client/v3/knock/:roomIdOrAlias', {
    schema: { params: Type.Object({ roomIdOrAlias: Type.String({ minLength: 1, maxLength: 255 }) }), querystring: ViaQuery, body: Type.Optional(Reason) }, config: auth,
  }, async (req) => {
    const { userId } = requester(req);
    const target = req.params.roomIdOrAlias;
    const { room_id: roomId, servers } = target.startsWith('#') ? await hs.directory.resolveAliasWithServers(target) : { room_id: checkRoomId(target), servers: [] };
    const via = [...viaServers(req.query), ...servers];
    const remote = await hs.federationMembership.remoteJoinServers(roomId, userId, via);
    if (remote.length > 0) {
      await hs.federationMembership.knockRemote(roomId, userId, remote, req.body?.reason);
      return { room_id: roomId };
    }
    if (!(await hs.storage.events.getRoom(roomId))) throw notFound(`No known servers for ${target}`);
    await hs.rooms.setMembership(roomId, userId, userId, 'knock', { reason: req.body?.reason });
    return { room_id: roomId };
  });

  app.post<{ Params: { roomId: string }; Body: { reason?: string } }>('/_matrix/client/v3/rooms/:roomId/leave', {
    schema: { params: RoomParams, body: Type.Optional(Reason) }, config: { auth: 'user', guest: true },
  }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const current = await hs.storage.rooms.membership(roomId, userId);
    if (current === undefined || current === 'leave') throw forbidden(`You are not in ${roomId}`);
    // An invite or knock to a room this server is not in is answered over federation.
    if ((current === 'invite' || current === 'knock') && !(await hs.federationMembership.isResident(roomId))) {
      await hs.federationMembership.leaveRemote(roomId, userId, req.body?.reason);
      return {};
    }
    await hs.rooms.setMembership(roomId, userId, userId, 'leave', { reason: req.body?.reason });
    return {};
  });

  app.post<{ Params: { roomId: string } }>('/_matrix/client/v3/rooms/:roomId/forget', { schema: { params: RoomParams }, config: auth }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const m = await hs.storage.rooms.membership(roomId, userId);
    if (m === 'join' || m === 'invite' || m === 'knock') throw new MatrixError('M_UNKNOWN', 'You must leave the room before forgetting it', 400);
    if (m !== undefined) await hs.storage.rooms.forget(roomId, userId);
    return {};
  });

  const targeted = (path: string, membership: 'invite' | 'leave' | 'ban', check?: (current: string | undefined) => void) =>
    app.post<{ Params: { roomId: string }; Body: Static<typeof TargetBody> }>(`/_matrix/client/v3/rooms/:roomId/${path}`, {
      schema: { params: RoomParams, body: TargetBody }, config: auth,
    }, async (req) => {
      const { userId } = requester(req);
      const roomId = checkRoomId(req.params.roomId);
      check?.(await hs.storage.rooms.membership(roomId, req.body.user_id));
      await hs.rooms.setMembership(roomId, userId, req.body.user_id, membership, { reason: req.body.reason });
      return {};
    });
  targeted('invite', 'invite');
  targeted('kick', 'leave', (m) => { if (m !== 'join' && m !== 'invite' && m !== 'knock') throw forbidden('The user is not in the room'); });
  targeted('ban', 'ban');
  targeted('unban', 'leave', (m) => { if (m !== 'ban') throw forbidden('The user is not banned'); });

  app.put<{ Params: { roomId: string; eventType: string; txnId: string }; Body: Record<string, unknown> }>('/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId', {
    schema: { params: Type.Object({ roomId: Type.String(), eventType: Type.String({ minLength: 1, maxLength: 255 }), txnId: Type.String({ minLength: 1, maxLength: 255 }) }), body: Content },
    config: { auth: 'user', guest: true },
  }, async (req) => {
    const r = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const { eventType, txnId } = req.params;
    const stored = await hs.rooms.send(roomId, r.userId, eventType, req.body as never,
      { userId: r.userId, deviceId: r.deviceId, txnId: txnKey(`send/${roomId}/${eventType}`, txnId) });
    return { event_id: stored.event.event_id };
  });

  app.put<{ Params: { roomId: string; eventId: string; txnId: string }; Body: { reason?: string } }>('/_matrix/client/v3/rooms/:roomId/redact/:eventId/:txnId', {
    schema: { params: Type.Object({ roomId: Type.String(), eventId: Type.String({ minLength: 1, maxLength: 255 }), txnId: Type.String({ minLength: 1, maxLength: 255 }) }), body: Type.Optional(Reason) },
    config: auth,
  }, async (req) => {
    const r = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    const stored = await hs.rooms.redact(roomId, r.userId, req.params.eventId, req.body?.reason,
      { userId: r.userId, deviceId: r.deviceId, txnId: txnKey(`redact/${roomId}/${req.params.eventId}`, req.params.txnId) });
    return { event_id: stored.event.event_id };
  });
}
