// spec: client-server-api "Account registration and management", "Current account information"
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { AuthDict } from './schemas.js';
import { passwordStage } from './auth-stages.js';

const PasswordBody = Type.Object({
  auth: AuthDict,
  new_password: Type.String({ maxLength: 512 }),
  logout_devices: Type.Optional(Type.Boolean()),
}, { additionalProperties: true });

const DeactivateBody = Type.Object({
  auth: AuthDict,
  id_server: Type.Optional(Type.String()),
  erase: Type.Optional(Type.Boolean()),
}, { additionalProperties: true });

export function accountRoutes(app: FastifyInstance, hs: Homeserver): void {
  const passwordFlow = [{ stages: ['m.login.password'] }];

  app.get('/_matrix/client/v3/account/whoami', { config: { auth: 'user', guest: true } }, async (req) => {
    const r = requester(req);
    return { user_id: r.userId, device_id: r.deviceId, is_guest: r.isGuest };
  });

  app.post<{ Body: Static<typeof PasswordBody> }>('/_matrix/client/v3/account/password', {
    schema: { body: PasswordBody },
    config: { auth: 'user' },
  }, async (req) => {
    const r = requester(req);
    await hs.uia.authenticate({ method: 'POST', path: '/account/password', userId: r.userId, auth: req.body.auth },
      passwordFlow, { 'm.login.password': passwordStage(hs) });
    await hs.accounts.changePassword(r.userId, req.body.new_password, req.body.logout_devices ?? true, r.deviceId);
    return {};
  });

  app.post<{ Body: Static<typeof DeactivateBody> }>('/_matrix/client/v3/account/deactivate', {
    schema: { body: DeactivateBody },
    config: { auth: 'user' },
  }, async (req) => {
    const r = requester(req);
    await hs.uia.authenticate({ method: 'POST', path: '/account/deactivate', userId: r.userId, auth: req.body.auth },
      passwordFlow, { 'm.login.password': passwordStage(hs) });
    await hs.accounts.deactivate(r.userId, req.body.erase === true);
    // spec: "must be `success` if the homeserver has no identifiers to unbind": Weft binds none.
    return { id_server_unbind_result: 'success' };
  });
}
