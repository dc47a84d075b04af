// spec: server-server-api "Spaces" (GET /_matrix/federation/v1/hierarchy/{roomId}): a space and
// its children as the requesting server may see them, not paginated; the requesting server
// filters for its user. A room is visible to a server when anyone may peek or join it (world
// readable, public, knock, or restricted: its allowed rooms go along for the requester to check)
// or when one of the server's users is joined.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { isValidRoomId } from '../../core/identifiers.js';
import { invalidParam, notFound } from '../../errors.js';
import { restrictedJoinRule, type RoomFacts } from '../../services/rooms/summary.js';
import { federationOrigin } from './auth.js';

const Query = Type.Object({ suggested_only: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: true });

export function federationHierarchyRoutes(app: FastifyInstance, hs: Homeserver): void {
  const visibleTo = async (server: string, f: RoomFacts): Promise<boolean> => {
    if (!(await hs.serverAcls.allows(f.summary.room_id, server))) return false;
    const s = f.summary;
    if (s.world_readable || s.join_rule === 'public') return true;
    if ((s.join_rule === 'knock' && f.version.knockingSupported) || (s.join_rule === 'knock_restricted' && f.version.knockRestrictedSupported)) return true;
    if (restrictedJoinRule(f.version, s.join_rule) && f.allowedRoomIds.length > 0) return true;
    return hs.federationEventServer.serverJoined(s.room_id, server);
  };
  const childrenState = (f: RoomFacts, suggestedOnly: boolean) => (f.summary.room_type !== 'm.space' ? [] : f.children
    .filter((c) => !suggestedOnly || c.content.suggested === true)
    .map((c) => ({ type: c.type, state_key: c.state_key as string, content: c.content, sender: c.sender, origin_server_ts: c.origin_server_ts })));

  app.get<{ Params: { roomId: string }; Querystring: { suggested_only?: 'true' | 'false' } }>('/_matrix/federation/v1/hierarchy/:roomId', {
    schema: { params: Type.Object({ roomId: Type.String() }), querystring: Query },
  }, async (req) => {
    const origin = federationOrigin(req);
    const { roomId } = req.params;
    if (!isValidRoomId(roomId)) throw invalidParam('Invalid room ID');
    const suggestedOnly = req.query.suggested_only === 'true';
    const root = await hs.summaries.get(roomId);
    if (!root || !(await visibleTo(origin, root))) throw notFound('Room not found, or not visible to your server');
    const room = { ...root.summary, children_state: childrenState(root, suggestedOnly) };
    const childIds = room.children_state.map((c) => c.state_key);
    const known = await hs.summaries.getMany(childIds);
    const children = [];
    const inaccessible: string[] = [];
    for (const id of childIds) {
      const f = known.get(id);
      if (f === undefined) continue; // spec: rooms we cannot describe are left out
      if (await visibleTo(origin, f)) children.push({ ...f.summary, children_state: childrenState(f, suggestedOnly) });
      else inaccessible.push(id);
    }
    return { room, children, inaccessible_children: inaccessible };
  });
}
