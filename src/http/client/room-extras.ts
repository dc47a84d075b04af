// spec: client-server-api "GET /rooms/{roomId}/context/{eventId}", "GET /rooms/{roomId}/timestamp_to_event",
// modules/room_upgrades, modules/report_content
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { parseRoomEventFilter } from '../../core/filter.js';
import { isValidServerName, isValidUserId } from '../../core/identifiers.js';
import { MatrixError, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { EventFilter } from '../../services/rooms/timeline.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

const RoomParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }) });
const RoomEventParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }), eventId: Type.String({ minLength: 1, maxLength: 255 }) });

/** The `filter` of /messages and /context: a RoomEventFilter as JSON (core/filter.ts). */
export function parseFilterParam(raw: string | undefined): EventFilter | undefined {
  if (raw === undefined) return undefined;
  let filter: unknown;
  try { filter = JSON.parse(raw); } catch { throw new MatrixError('M_INVALID_PARAM', '`filter` is not JSON', 400); }
  const parsed = parseRoomEventFilter(filter);
  if (!parsed.ok) throw new MatrixError('M_INVALID_PARAM', `Invalid filter: ${parsed.reason}`, 400);
  return parsed.value;
}

export function roomExtraRoutes(app: FastifyInstance, hs: Homeserver): void {
  const auth = { auth: 'user' as const, guest: true };

  app.get<{ Params: { roomId: string; eventId: string }; Querystring: { limit?: string; filter?: string } }>('/_matrix/client/v3/rooms/:roomId/context/:eventId', {
    schema: { params: RoomEventParams, querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })), filter: Type.Optional(Type.String()) }, { additionalProperties: true }) },
    config: auth,
  }, async (req) => {
    const r = requester(req);
    return hs.timeline.context(r, checkRoomId(req.params.roomId), req.params.eventId, req.query.limit === undefined ? 10 : Number(req.query.limit), parseFilterParam(req.query.filter));
  });

  app.get<{ Params: { roomId: string }; Querystring: { ts: string; dir: 'f' | 'b' } }>('/_matrix/client/v1/rooms/:roomId/timestamp_to_event', {
    schema: { params: RoomParams, querystring: Type.Object({ ts: Type.String({ pattern: '^[0-9]{1,16}$' }), dir: Type.Union([Type.Literal('f'), Type.Literal('b')]) }, { additionalProperties: true }) },
    // Not among the endpoints modules/guest_access lets guests call.
    config: { auth: 'user' },
  }, async (req) => hs.timeline.eventAtTimestamp(requester(req), checkRoomId(req.params.roomId), Number(req.query.ts), req.query.dir));

  // spec: room_summary.yaml. Rooms anyone may see are summarised without authentication too;
  // guests are treated as users. `via` names servers to ask when this server is not in the room:
  // Weft does not ask other servers yet, so it is checked and otherwise unused.
  app.get<{ Params: { roomIdOrAlias: string }; Querystring: { via?: string | string[] } }>('/_matrix/client/v1/room_summary/:roomIdOrAlias', {
    schema: {
      params: Type.Object({ roomIdOrAlias: Type.String({ minLength: 1, maxLength: 255 }) }),
      querystring: Type.Object({ via: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 50 })])) }, { additionalProperties: true }),
    },
    config: { auth: 'optional', guest: true },
  }, async (req) => {
    const via = req.query.via === undefined ? [] : Array.isArray(req.query.via) ? req.query.via : [req.query.via];
    for (const server of via) if (!isValidServerName(server)) throw new MatrixError('M_INVALID_PARAM', `Invalid server name in \`via\`: ${JSON.stringify(server)}`, 400);
    const target = req.params.roomIdOrAlias;
    const roomId = target.startsWith('#') ? await hs.directory.resolveAlias(target) : checkRoomId(target);
    return hs.summaries.forRequester(roomId, req.requester?.userId);
  });

  app.post<{ Params: { roomId: string }; Body: { new_version: string; additional_creators?: string[] } }>('/_matrix/client/v3/rooms/:roomId/upgrade', {
    schema: { params: RoomParams, body: Type.Object({ new_version: Type.String({ minLength: 1, maxLength: 32 }), additional_creators: Type.Optional(Type.Array(Type.String(), { maxItems: 100 })) }, { additionalProperties: true }) },
    config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    for (const u of req.body.additional_creators ?? []) if (!isValidUserId(u, { historical: true })) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${u}`, 400);
    return { replacement_room: await hs.upgrader.upgrade(userId, checkRoomId(req.params.roomId), req.body.new_version, req.body.additional_creators) };
  });

  const ReportBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 10_000 })), score: Type.Optional(Type.Integer({ minimum: -100, maximum: 0 })) }, { additionalProperties: true });
  app.post<{ Params: { roomId: string; eventId: string }; Body: { reason?: string; score?: number } }>('/_matrix/client/v3/rooms/:roomId/report/:eventId', {
    schema: { params: RoomEventParams, body: ReportBody }, config: { auth: 'user' },
  }, async (req) => {
    const r = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    // spec: the caller must be joined, and the event must exist (and be visible) in that room.
    if ((await hs.storage.rooms.membership(roomId, r.userId)) !== 'join') throw notFound('The event was not found or you are not joined to the room.');
    await hs.timeline.event(r, roomId, req.params.eventId).catch(() => { throw notFound('The event was not found or you are not joined to the room.'); });
    await hs.storage.rooms.insertReport({ reporter: r.userId, roomId, eventId: req.params.eventId, reason: req.body.reason, score: req.body.score, now: Date.now() });
    req.log.warn({ reporter: r.userId, room_id: roomId, event_id: req.params.eventId }, 'event reported');
    return {};
  });

  app.post<{ Params: { roomId: string }; Body: { reason?: string } }>('/_matrix/client/v3/rooms/:roomId/report', {
    schema: { params: RoomParams, body: ReportBody }, config: { auth: 'user' },
  }, async (req) => {
    const r = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    if (!(await hs.storage.events.getRoom(roomId))) throw notFound('Room not found');
    await hs.storage.rooms.insertReport({ reporter: r.userId, roomId, reason: req.body.reason, now: Date.now() });
    req.log.warn({ reporter: r.userId, room_id: roomId }, 'room reported');
    return {};
  });

  app.post<{ Params: { userId: string }; Body: { reason?: string } }>('/_matrix/client/v3/users/:userId/report', {
    schema: { params: Type.Object({ userId: Type.String({ minLength: 1, maxLength: 255 }) }), body: ReportBody }, config: { auth: 'user' },
  }, async (req) => {
    const r = requester(req);
    if (!isValidUserId(req.params.userId, { historical: true })) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
    if (!(await hs.storage.accounts.userExists(req.params.userId))) throw notFound('User not found');
    await hs.storage.rooms.insertReport({ reporter: r.userId, userId: req.params.userId, reason: req.body.reason, now: Date.now() });
    req.log.warn({ reporter: r.userId, user_id: req.params.userId }, 'user reported');
    return {};
  });
}
