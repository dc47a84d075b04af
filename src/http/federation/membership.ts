// spec: server-server-api "Joining Rooms" (GET /make_join, PUT /v2/send_join), "Knocking upon a
// room" (GET /make_knock, PUT /send_knock), "Inviting to a room" (PUT /v2/invite), "Leaving Rooms
// (Rejecting Invites)" (GET /make_leave, PUT /v2/send_leave). The v1 send_join / send_leave /
// invite are deprecated and not served (404 M_UNRECOGNIZED). Behind the X-Matrix check.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { federationOrigin } from './auth.js';

const UserParams = Type.Object({ roomId: Type.String(), userId: Type.String() });
const EventParams = Type.Object({ roomId: Type.String(), eventId: Type.String() });
const VerQuery = Type.Object({ ver: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])) }, { additionalProperties: true });
const Pdu = Type.Object({}, { additionalProperties: true });
const versions = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

export function federationMembershipRoutes(app: FastifyInstance, hs: Homeserver): void {
  const m = hs.federationMembership;

  app.get<{ Params: { roomId: string; userId: string }; Querystring: { ver?: string | string[] } }>('/_matrix/federation/v1/make_join/:roomId/:userId', {
    schema: { params: UserParams, querystring: VerQuery },
  }, async (req) => m.makeMembership(federationOrigin(req), req.params.roomId, req.params.userId, 'join', versions(req.query.ver)));

  app.get<{ Params: { roomId: string; userId: string }; Querystring: { ver?: string | string[] } }>('/_matrix/federation/v1/make_knock/:roomId/:userId', {
    schema: { params: UserParams, querystring: VerQuery },
  }, async (req) => m.makeMembership(federationOrigin(req), req.params.roomId, req.params.userId, 'knock', versions(req.query.ver)));

  app.get<{ Params: { roomId: string; userId: string } }>('/_matrix/federation/v1/make_leave/:roomId/:userId', {
    schema: { params: UserParams },
  }, async (req) => m.makeMembership(federationOrigin(req), req.params.roomId, req.params.userId, 'leave'));

  app.put<{ Params: { roomId: string; eventId: string }; Querystring: { omit_members?: string }; Body: Record<string, unknown> }>('/_matrix/federation/v2/send_join/:roomId/:eventId', {
    schema: { params: EventParams, body: Pdu, querystring: Type.Object({ omit_members: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: true }) },
  }, async (req) => m.sendJoin(federationOrigin(req), req.params.roomId, req.params.eventId, req.body, req.query.omit_members === 'true'));

  app.put<{ Params: { roomId: string; eventId: string }; Body: Record<string, unknown> }>('/_matrix/federation/v2/send_leave/:roomId/:eventId', {
    schema: { params: EventParams, body: Pdu },
  }, async (req) => {
    await m.sendMembership(federationOrigin(req), req.params.roomId, req.params.eventId, req.body, 'leave');
    return {};
  });

  app.put<{ Params: { roomId: string; eventId: string }; Body: Record<string, unknown> }>('/_matrix/federation/v1/send_knock/:roomId/:eventId', {
    schema: { params: EventParams, body: Pdu },
  }, async (req) => m.sendKnock(federationOrigin(req), req.params.roomId, req.params.eventId, req.body));

  app.put<{ Params: { roomId: string; eventId: string }; Body: { room_version: string; event: Record<string, unknown>; invite_room_state?: unknown[] } }>('/_matrix/federation/v2/invite/:roomId/:eventId', {
    schema: {
      params: EventParams,
      body: Type.Object({
        room_version: Type.String(),
        event: Pdu,
        invite_room_state: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100 })),
      }, { additionalProperties: true }),
    },
  }, async (req) => m.receiveInvite(federationOrigin(req), req.params.roomId, req.params.eventId, req.body));
}
