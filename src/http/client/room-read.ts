// spec: client-server-api "Getting events for a room": state, members, single events, /messages
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { splitStateKey, stateKey } from '../../core/pdu.js';
import { forbidden, missingParam, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { StoredEvent } from '../../storage/events.js';
import type { NidStateMap } from '../../storage/state.js';
import { parseTimelineToken } from '../../services/rooms/timeline.js';
import { DEFAULT_INITIAL_SYNC_LIMIT } from '../../services/rooms/previews.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';
import { parseFilterParam } from './room-extras.js';

const RoomParams = Type.Object({ roomId: Type.String({ minLength: 1, maxLength: 255 }) });
/** GET /events waits this long for an event when the client names no timeout (as Synapse). */
const DEFAULT_EVENTS_TIMEOUT_MS = 30_000;
const StateParams = Type.Object({ roomId: Type.String(), eventType: Type.String({ minLength: 1, maxLength: 255 }), stateKey: Type.Optional(Type.String({ maxLength: 255 })) });

export function roomReadRoutes(app: FastifyInstance, hs: Homeserver): void {
  // spec: modules/guest_access "Client behaviour" lists the endpoints guests may call.
  const auth = { auth: 'user' as const, guest: true };
  const notGuests = { auth: 'user' as const };

  /** The state a user may read (RoomPreviews.readableState). */
  async function readableState(userId: string, roomId: string): Promise<NidStateMap> {
    return hs.previews.readableState(userId, checkRoomId(roomId));
  }

  async function stateEvents(state: NidStateMap, keys?: Iterable<string>): Promise<StoredEvent[]> {
    const nids = keys ? [...keys].map((k) => state.get(k)).filter((n): n is number => n !== undefined) : [...state.values()];
    const loaded = await hs.storage.events.getEventsByNid(nids);
    return nids.map((n) => loaded.get(n)).filter((e): e is StoredEvent => e !== undefined);
  }

  app.get<{ Params: { roomId: string } }>('/_matrix/client/v3/rooms/:roomId/state', { schema: { params: RoomParams }, config: auth }, async (req) => {
    const r = requester(req);
    const state = await readableState(r.userId, req.params.roomId);
    return hs.formatter.format(await stateEvents(state), r);
  });

  const oneState = async (req: { params: { roomId: string; eventType: string; stateKey?: string }; query: unknown }, userId: string) => {
    const state = await readableState(userId, req.params.roomId);
    const key = stateKey(req.params.eventType, req.params.stateKey ?? '');
    const [ev] = await stateEvents(state, [key]);
    if (!ev) throw notFound('Event not found');
    const [formatted] = await hs.formatter.format([ev], { userId });
    const format = (req.query as { format?: string }).format;
    return format === 'event' ? formatted : formatted.content;
  };
  for (const path of ['/_matrix/client/v3/rooms/:roomId/state/:eventType', '/_matrix/client/v3/rooms/:roomId/state/:eventType/:stateKey']) {
    app.get<{ Params: { roomId: string; eventType: string; stateKey?: string } }>(path, { schema: { params: StateParams }, config: auth },
      async (req) => oneState(req, requester(req).userId));
    app.put<{ Params: { roomId: string; eventType: string; stateKey?: string }; Body: Record<string, unknown> }>(path, {
      schema: { params: StateParams, body: Type.Object({}, { additionalProperties: true }) }, config: auth,
    }, async (req) => {
      const { userId } = requester(req);
      const roomId = checkRoomId(req.params.roomId);
      const stored = await hs.rooms.setState(roomId, userId, req.params.eventType, req.params.stateKey ?? '', req.body as never);
      return { event_id: stored.event.event_id };
    });
  }

  app.get<{ Params: { roomId: string }; Querystring: { at?: string; membership?: string; not_membership?: string } }>('/_matrix/client/v3/rooms/:roomId/members', {
    schema: {
      params: RoomParams,
      querystring: Type.Object({
        at: Type.Optional(Type.String()),
        membership: Type.Optional(Type.Union(['join', 'invite', 'knock', 'leave', 'ban'].map((m) => Type.Literal(m)))),
        not_membership: Type.Optional(Type.Union(['join', 'invite', 'knock', 'leave', 'ban'].map((m) => Type.Literal(m)))),
      }, { additionalProperties: true }),
    },
    config: auth,
  }, async (req) => {
    const r = requester(req);
    let state = await readableState(r.userId, req.params.roomId);
    if (req.query.at !== undefined) state = await stateAtToken(hs, req.params.roomId, req.query.at, state);
    const memberKeys = [...state.keys()].filter((k) => splitStateKey(k)[0] === 'm.room.member');
    const members = (await stateEvents(state, memberKeys)).filter((e) => {
      const m = e.event.content.membership;
      return (!req.query.membership || m === req.query.membership) && (!req.query.not_membership || m !== req.query.not_membership);
    });
    return { chunk: await hs.formatter.format(members, r) };
  });

  app.get<{ Params: { roomId: string } }>('/_matrix/client/v3/rooms/:roomId/joined_members', { schema: { params: RoomParams }, config: notGuests }, async (req) => {
    const { userId } = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    if ((await hs.storage.rooms.membership(roomId, userId)) !== 'join') throw forbidden(`You are not joined to ${roomId}`);
    const members = (await hs.storage.events.getEventsByNid(await hs.storage.rooms.memberEventNids(roomId, { membership: 'join' }))).values();
    const joined: Record<string, { display_name?: string; avatar_url?: string }> = {};
    for (const m of members) {
      const c = m.event.content;
      joined[m.event.state_key as string] = {
        ...(typeof c.displayname === 'string' ? { display_name: c.displayname } : {}),
        ...(typeof c.avatar_url === 'string' ? { avatar_url: c.avatar_url } : {}),
      };
    }
    return { joined };
  });

  app.get<{ Params: { roomId: string; eventId: string } }>('/_matrix/client/v3/rooms/:roomId/event/:eventId', {
    schema: { params: Type.Object({ roomId: Type.String(), eventId: Type.String({ minLength: 1, maxLength: 255 }) }) }, config: auth,
  }, async (req) => {
    const r = requester(req);
    return hs.timeline.event(r, checkRoomId(req.params.roomId), req.params.eventId);
  });

  app.get<{ Params: { roomId: string }; Querystring: { from?: string; to?: string; dir?: 'b' | 'f'; limit?: string; filter?: string } }>('/_matrix/client/v3/rooms/:roomId/messages', {
    schema: {
      params: RoomParams,
      querystring: Type.Object({
        from: Type.Optional(Type.String()), to: Type.Optional(Type.String()),
        dir: Type.Optional(Type.Union([Type.Literal('b'), Type.Literal('f')])),
        limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
        filter: Type.Optional(Type.String()),
      }, { additionalProperties: true }),
    },
    config: auth,
  }, async (req) => {
    const r = requester(req);
    const roomId = checkRoomId(req.params.roomId);
    await readableState(r.userId, roomId);
    const filter = parseFilterParam(req.query.filter);
    return hs.timeline.messages(r, roomId, {
      from: req.query.from, to: req.query.to, dir: req.query.dir ?? 'b', limit: req.query.limit === undefined ? 10 : Number(req.query.limit), filter,
    });
  });

  // spec: room_initial_sync.yaml: now only for peeking into rooms the user may read.
  app.get<{ Params: { roomId: string }; Querystring: { limit?: string } }>('/_matrix/client/v3/rooms/:roomId/initialSync', {
    schema: { params: RoomParams, querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })) }, { additionalProperties: true }) },
    config: auth,
  }, async (req) => {
    const r = requester(req);
    const limit = req.query.limit === undefined ? DEFAULT_INITIAL_SYNC_LIMIT : Math.min(Number(req.query.limit), 1000);
    return hs.previews.initialSync(r, checkRoomId(req.params.roomId), limit);
  });

  // spec: peeking_events.yaml: GET /events with room_id, the event stream of one room. (The
  // deprecated GET /events without room_id, old_sync.yaml, is not served.)
  app.get<{ Querystring: { room_id?: string; from?: string; timeout?: string } }>('/_matrix/client/v3/events', {
    schema: {
      querystring: Type.Object({
        room_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
        from: Type.Optional(Type.String({ maxLength: 64 })),
        timeout: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
      }, { additionalProperties: true }),
    },
    config: auth,
  }, async (req, reply) => {
    const r = requester(req);
    if (req.query.room_id === undefined) throw missingParam('Missing parameter `room_id`');
    const roomId = checkRoomId(req.query.room_id);
    // A client that goes away stops the wait.
    const gone = new AbortController();
    reply.raw.on('close', () => gone.abort());
    const timeout = req.query.timeout === undefined ? DEFAULT_EVENTS_TIMEOUT_MS : Number(req.query.timeout);
    return hs.previews.events(r, roomId, req.query.from, timeout, gone.signal);
  });
}

/** The state at a stream token (spec: `at` of GET /members): the state after the last event before it. */
async function stateAtToken(hs: Homeserver, roomId: string, token: string, fallback: NidStateMap): Promise<NidStateMap> {
  const position = parseTimelineToken(token);
  const [nid] = await hs.storage.rooms.timeline({ roomId, from: position + 1, dir: 'b', limit: 1 }); // at or before the position
  if (nid === undefined) return fallback;
  const ev = (await hs.storage.events.getEventsByNid([nid])).get(nid);
  return ev?.stateGroup != null ? hs.storage.state.loadGroup(ev.stateGroup) : fallback;
}
