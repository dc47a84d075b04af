// spec: client-server-api modules/search, POST /search
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { parseRoomEventFilter } from '../../core/filter.js';
import { badJson, invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const ContextLimit = Type.Integer({ minimum: 0, maximum: 2 ** 31 });
const RoomEventsCriteria = Type.Object({
  search_term: Type.String({ maxLength: 10_000 }),
  keys: Type.Optional(Type.Array(Type.Union([Type.Literal('content.body'), Type.Literal('content.name'), Type.Literal('content.topic')]), { maxItems: 3 })),
  filter: Type.Optional(Type.Unknown()),
  order_by: Type.Optional(Type.Union([Type.Literal('recent'), Type.Literal('rank')])),
  event_context: Type.Optional(Type.Object({
    before_limit: Type.Optional(ContextLimit),
    after_limit: Type.Optional(ContextLimit),
    include_profile: Type.Optional(Type.Boolean()),
  })),
  include_state: Type.Optional(Type.Boolean()),
  groupings: Type.Optional(Type.Object({
    group_by: Type.Optional(Type.Array(Type.Object({ key: Type.Union([Type.Literal('room_id'), Type.Literal('sender')]) }), { maxItems: 10 })),
  })),
});
const SearchBody = Type.Object({
  search_categories: Type.Object({ room_events: Type.Optional(RoomEventsCriteria) }, { additionalProperties: true }),
});
const SearchQuery = Type.Object({ next_batch: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: true });

/** spec: the only category so far. */
const CATEGORIES = new Set(['room_events']);

export function searchRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post<{ Body: Static<typeof SearchBody>; Querystring: Static<typeof SearchQuery> }>('/_matrix/client/v3/search', {
    schema: { body: SearchBody, querystring: SearchQuery },
    config: { auth: 'user' },
  }, async (req) => {
    const categories = req.body.search_categories;
    // spec: room_events is the only category; another one is a client's mistake, not something to ignore silently.
    for (const name of Object.keys(categories)) {
      if (!CATEGORIES.has(name)) throw invalidParam(`Unknown search category ${JSON.stringify(name.slice(0, 100))}`);
    }
    if (categories.room_events === undefined) return { search_categories: {} };
    const criteria = categories.room_events;
    let filter;
    if (criteria.filter !== undefined) {
      const parsed = parseRoomEventFilter(criteria.filter);
      if (!parsed.ok) throw badJson(`Invalid search_categories.room_events.filter: ${parsed.reason}`);
      filter = parsed.value;
    }
    const roomEvents = await hs.search.roomEvents(requester(req), { ...criteria, filter }, req.query.next_batch);
    return { search_categories: { room_events: roomEvents } };
  });
}
