// spec: server-server-api "Publishing Keys" (GET /_matrix/key/v2/server) and "Querying Keys
// Through Another Server" (GET and POST /_matrix/key/v2/query): served on listeners with the
// `keys` resource, without request authentication (a server must be able to fetch our keys
// before it can check our signatures).
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { isValidServerName } from '../../core/identifiers.js';
import { invalidParam } from '../../errors.js';

/** At most this many servers per notary query: each may cost a request to that server. */
const MAX_SERVERS_PER_QUERY = 100;

const QueryCriteria = Type.Object({ minimum_valid_until_ts: Type.Optional(Type.Integer()) }, { additionalProperties: true });
const QueryBody = Type.Object({
  server_keys: Type.Record(Type.String(), Type.Record(Type.String(), QueryCriteria)),
}, { additionalProperties: true });

export function keyRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get('/_matrix/key/v2/server', async () => hs.keyRing.ownKeyResponse());
  // The deprecated form with a key ID in the path answers the same (spec'd until v1.x; Synapse still serves it).
  app.get('/_matrix/key/v2/server/:keyId', async () => hs.keyRing.ownKeyResponse());

  app.get<{ Params: { serverName: string }; Querystring: { minimum_valid_until_ts?: string } }>('/_matrix/key/v2/query/:serverName', {
    schema: { querystring: Type.Object({ minimum_valid_until_ts: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })) }, { additionalProperties: true }) },
  }, async (req) => {
    const { serverName } = req.params;
    if (!isValidServerName(serverName)) throw invalidParam('Invalid server name');
    const min = req.query.minimum_valid_until_ts !== undefined ? Number(req.query.minimum_valid_until_ts) : Date.now();
    const response = await hs.keyRing.notaryResponse(serverName, min);
    return { server_keys: response ? [response] : [] };
  });

  app.post<{ Body: { server_keys: Record<string, Record<string, { minimum_valid_until_ts?: number }>> } }>('/_matrix/key/v2/query', {
    schema: { body: QueryBody },
  }, async (req) => {
    const servers = Object.entries(req.body.server_keys);
    if (servers.length > MAX_SERVERS_PER_QUERY) throw invalidParam(`At most ${MAX_SERVERS_PER_QUERY} servers per query`);
    const now = Date.now();
    const answers = await Promise.all(servers.map(async ([serverName, keys]) => {
      if (!isValidServerName(serverName)) return undefined; // an unknown server: no keys (spec: "not included")
      // spec: "If not supplied, the notary server MUST use the current time."
      const mins = Object.values(keys).map((k) => k.minimum_valid_until_ts ?? now);
      return hs.keyRing.notaryResponse(serverName, mins.length > 0 ? Math.max(...mins) : now);
    }));
    return { server_keys: answers.filter((a) => a !== undefined) };
  });
}
