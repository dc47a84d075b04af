// spec: client-server-api "Syncing" (GET /sync)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const SyncQuery = Type.Object({
  filter: Type.Optional(Type.String({ maxLength: 65_536 })),
  since: Type.Optional(Type.String({ maxLength: 255 })),
  full_state: Type.Optional(Bool),
  set_presence: Type.Optional(Type.Union([Type.Literal('offline'), Type.Literal('online'), Type.Literal('unavailable')])),
  timeout: Type.Optional(Type.String({ pattern: '^[0-9]{1,10}$' })),
  use_state_after: Type.Optional(Bool),
}, { additionalProperties: true });

export function syncRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get<{ Querystring: Static<typeof SyncQuery> }>('/_matrix/client/v3/sync', {
    schema: { querystring: SyncQuery }, config: { auth: 'user', guest: true },
  }, async (req, reply) => {
    const r = requester(req);
    const q = req.query;
    // A long-poll whose client has gone stops waiting.
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    return hs.sync.sync({
      userId: r.userId, deviceId: r.deviceId, since: q.since, filter: q.filter,
      fullState: q.full_state === 'true', setPresence: q.set_presence ?? 'online',
      timeoutMs: q.timeout === undefined ? 0 : Number(q.timeout), useStateAfter: q.use_state_after === 'true', signal: gone.signal,
    });
  });
}
