// Inbound request authentication for the Server-Server API.
// spec: server-server-api "Request Authentication"
//
// Every route registered through `authenticatedFederationRoutes` (src/http/federation/index.ts)
// passes this check before its handler runs: the `X-Matrix` Authorization header must name a
// valid origin, our server name as destination (when given), a current verify key of the origin,
// and a valid signature of that key over the method, the request target (path and query as sent),
// both server names and the JSON body. Anything else is 401 M_UNAUTHORIZED and reaches no handler.
//
// Handlers read the authenticated origin server name with `federationOrigin(req)`.
import type { FastifyRequest } from 'fastify';
import { parseXMatrix, verifyRequest } from '../../core/federation-auth.js';
import { MatrixError } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The server that signed this federation request (set by the X-Matrix check). */
    federationOrigin?: string;
  }
}

const unauthorized = (msg: string) => new MatrixError('M_UNAUTHORIZED', msg, 401);

/** The authenticated origin of a federation request; only on routes behind the X-Matrix check. */
export function federationOrigin(req: FastifyRequest): string {
  if (req.federationOrigin === undefined) throw unauthorized('Missing X-Matrix authorization');
  return req.federationOrigin;
}

/** Whether the request carried a body (the signed JSON then has `content`). */
function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The preHandler hook that authenticates a federation request. */
export function federationAuthHook(hs: Homeserver): (req: FastifyRequest) => Promise<void> {
  const serverName = hs.config.server_name;
  return async (req) => {
    const header = req.headers.authorization;
    if (header === undefined) throw unauthorized('Missing X-Matrix Authorization header');
    const parsed = parseXMatrix(header);
    if (!parsed.ok) throw unauthorized(parsed.reason);
    const auth = parsed.value;
    // spec: "If this property is included, but the value does not match the receiving server's
    // name, the receiving server must deny the request with an HTTP status code 401".
    if (auth.destination !== undefined && auth.destination !== serverName) throw unauthorized(`Request is for ${auth.destination}, not ${serverName}`);
    if (auth.origin === serverName) throw unauthorized('Request claims to come from this server');
    let key;
    try {
      key = await hs.keyRing.getVerifyKey(auth.origin, auth.key, Date.now());
    } catch {
      key = undefined;
    }
    // Requests are signed with current keys only: old_verify_keys are "only valid for signing events".
    if (key === undefined || key.expiredTs !== undefined) throw unauthorized(`Unknown or expired key ${auth.key} of ${auth.origin}`);
    const verdict = verifyRequest({
      method: req.method, uri: req.url, origin: auth.origin, destination: serverName,
      ...(hasBody(req) ? { content: req.body } : {}),
    }, auth, (entity, keyId) => (entity === auth.origin && keyId === auth.key ? key : undefined));
    if (!verdict.ok) throw unauthorized(`Invalid X-Matrix signature: ${verdict.reason}`);
    req.federationOrigin = auth.origin;
    // A server that talks to us is up again: stop backing off from it.
    hs.federationSender.onRemoteContact(auth.origin);
  };
}
