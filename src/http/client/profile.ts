// spec: client-server-api "Profiles": the whole profile, and one field by key (displayname,
// avatar_url, m.tz or a custom key)
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { JsonObject } from '../../core/pdu.js';
import { MatrixError, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const UserParams = Type.Object({ userId: Type.String({ minLength: 1 }) });
const FieldParams = Type.Object({ userId: Type.String({ minLength: 1 }), keyName: Type.String() });
type FieldRequest = { Params: { userId: string; keyName: string } };

/** Only the user may change their profile; guests only their displayname (spec: modules/guest_access). */
function owner(req: FastifyRequest<FieldRequest>): string {
  const r = requester(req);
  if (r.userId !== req.params.userId) throw forbidden('You may only change your own profile');
  if (r.isGuest && req.params.keyName !== 'displayname') throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guests may only change their displayname', 403);
  return r.userId;
}

export function profileRoutes(app: FastifyInstance, hs: Homeserver): void {
  const path = '/_matrix/client/v3/profile/:userId/:keyName';
  const changeConfig = { auth: 'user' as const, guest: true };

  // No token needed for local users; remote ones need one (FederationQueries.profile says why).
  const lookupConfig = { auth: 'optional' as const, guest: true };

  app.get<{ Params: { userId: string } }>('/_matrix/client/v3/profile/:userId', { schema: { params: UserParams }, config: lookupConfig },
    async (req) => hs.federationQueries.profile(req.params.userId, req.requester?.userId));

  app.get<FieldRequest>(path, { schema: { params: FieldParams }, config: lookupConfig },
    async (req) => ({ [req.params.keyName]: await hs.federationQueries.profileField(req.params.userId, req.params.keyName, req.requester?.userId) }));

  app.put<FieldRequest & { Body: JsonObject }>(path, {
    schema: { params: FieldParams, body: Type.Object({}, { additionalProperties: true }) },
    config: changeConfig,
  }, async (req) => {
    await hs.profiles.setField(owner(req), req.params.keyName, req.body);
    return {};
  });

  app.delete<FieldRequest>(path, { schema: { params: FieldParams }, config: changeConfig }, async (req) => {
    await hs.profiles.deleteField(owner(req), req.params.keyName);
    return {};
  });
}
