// spec: client-server-api "Login", "Refreshing access tokens", "Logout", "POST /login/get_token"
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MatrixError } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';
import { AuthDict } from './schemas.js';
import { identifiedUser, passwordStage } from './auth-stages.js';

const LoginBody = Type.Object({
  type: Type.String(),
  identifier: Type.Optional(Type.Object({ type: Type.String() }, { additionalProperties: true })),
  user: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  token: Type.Optional(Type.String()),
  device_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  initial_device_display_name: Type.Optional(Type.String({ maxLength: 255 })),
  refresh_token: Type.Optional(Type.Boolean()),
}, { additionalProperties: true });

export function loginRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.get('/_matrix/client/v3/login', async () => ({
    flows: [{ type: 'm.login.password' }, { type: 'm.login.token', get_login_token: true }],
  }));

  app.post<{ Body: Static<typeof LoginBody> }>('/_matrix/client/v3/login', {
    schema: { body: LoginBody },
    config: { rateLimited: false },
  }, async (req) => {
    hs.rateLimits.login.take(req.ip);
    const body = req.body;
    let userId: string;
    if (body.type === 'm.login.password') {
      if (body.password === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing `password`', 400);
      userId = await hs.accounts.checkPassword(identifiedUser(body), body.password);
    } else if (body.type === 'm.login.token') {
      if (body.token === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing `token`', 400);
      userId = await hs.sessions.consumeLoginToken(body.token);
    } else {
      throw new MatrixError('M_UNKNOWN', `Unknown login type ${body.type}`, 400);
    }
    const session = await hs.accounts.login(userId, {
      deviceId: body.device_id ?? null,
      displayName: body.initial_device_display_name ?? null,
      refresh: body.refresh_token ?? false,
      ip: req.ip,
    });
    return {
      ...session,
      home_server: hs.config.server_name,
      well_known: { 'm.homeserver': { base_url: hs.config.well_known.client_base_url ?? hs.config.public_baseurl.replace(/\/$/, '') } },
    };
  });

  app.post<{ Body: { auth?: Record<string, unknown> } }>('/_matrix/client/v1/login/get_token', {
    schema: { body: Type.Optional(Type.Object({ auth: AuthDict }, { additionalProperties: true })) },
    config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    await hs.uia.authenticate(
      { method: 'POST', path: '/login/get_token', userId, auth: req.body?.auth },
      [{ stages: ['m.login.password'] }], { 'm.login.password': passwordStage(hs) },
    );
    return hs.sessions.issueLoginToken(userId);
  });

  app.post<{ Body: { refresh_token: string } }>('/_matrix/client/v3/refresh', {
    schema: { body: Type.Object({ refresh_token: Type.String() }, { additionalProperties: true }) },
  }, async (req) => hs.sessions.refresh(req.body.refresh_token));

  app.post('/_matrix/client/v3/logout', { config: { auth: 'user', guest: true } }, async (req) => {
    const r = requester(req);
    await hs.accounts.deleteDevices(r.userId, [r.deviceId]);
    return {};
  });

  app.post('/_matrix/client/v3/logout/all', { config: { auth: 'user', guest: true } }, async (req) => {
    const { userId } = requester(req);
    await hs.accounts.deleteDevices(userId, (await hs.storage.devices.listDevices(userId)).map((d) => d.deviceId));
    return {};
  });
}
