// spec: client-server-api "Account registration" and "Token-authenticated registration"
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MatrixError, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { Flow, StageHandler } from '../../services/uia.js';
import { AuthDict } from './schemas.js';
import { dummyStage } from './auth-stages.js';

const RegisterBody = Type.Object({
  auth: AuthDict,
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String({ maxLength: 512 })),
  device_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  initial_device_display_name: Type.Optional(Type.String({ maxLength: 255 })),
  inhibit_login: Type.Optional(Type.Boolean()),
  refresh_token: Type.Optional(Type.Boolean()),
}, { additionalProperties: true });

const RegisterQuery = Type.Object({ kind: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('guest')])) }, { additionalProperties: true });

export function registrationRoutes(app: FastifyInstance, hs: Homeserver): void {
  const reg = hs.config.registration;

  const tokenStage: StageHandler = async (auth, ctx) => {
    if (typeof auth.token !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing `token`', 400);
    if (!(await hs.registrationTokens.isValid(auth.token))) throw forbidden('Invalid registration token');
    ctx.data.registration_token = auth.token;
  };
  const flows: Flow[] = reg.mode === 'token' ? [{ stages: ['m.login.registration_token'] }] : [{ stages: ['m.login.dummy'] }];
  const stages = { 'm.login.dummy': dummyStage, 'm.login.registration_token': tokenStage };

  app.post<{ Body: Static<typeof RegisterBody>; Querystring: Static<typeof RegisterQuery> }>('/_matrix/client/v3/register', {
    schema: { body: RegisterBody, querystring: RegisterQuery },
    config: { rateLimited: false },
  }, async (req) => {
    hs.rateLimits.registration.take(req.ip);
    const body = req.body ?? {};
    const common = {
      deviceId: body.device_id ?? null,
      deviceDisplayName: body.initial_device_display_name ?? null,
      inhibitLogin: body.inhibit_login ?? false,
      refresh: body.refresh_token ?? false,
      ip: req.ip,
    };
    if (req.query.kind === 'guest') {
      if (!reg.allow_guests) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access is disabled', 403);
      return hs.accounts.register({ ...common, localpart: null, password: null, guest: true });
    }
    if (reg.mode === 'closed') throw forbidden('Registration is disabled');
    // Check the username before any authentication, so that the client can ask for another.
    if (body.username !== undefined) await hs.accounts.checkUsername(body.username);

    const data = await hs.uia.authenticate({ method: 'POST', path: '/register', userId: null, auth: body.auth }, flows, stages);
    if (body.password === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing `password`', 400);
    const token = data.registration_token;
    if (typeof token === 'string' && !(await hs.registrationTokens.use(token))) {
      throw forbidden('The registration token is no longer valid');
    }
    return hs.accounts.register({ ...common, localpart: body.username ?? null, password: body.password, guest: false });
  });

  app.get<{ Querystring: { username: string } }>('/_matrix/client/v3/register/available', {
    schema: { querystring: Type.Object({ username: Type.String() }, { additionalProperties: true }) },
    config: { rateLimited: false },
  }, async (req) => {
    hs.rateLimits.registration.take(req.ip);
    await hs.accounts.checkUsername(req.query.username);
    return { available: true };
  });

  app.get<{ Querystring: { token: string } }>('/_matrix/client/v1/register/m.login.registration_token/validity', {
    schema: { querystring: Type.Object({ token: Type.String() }, { additionalProperties: true }) },
    config: { rateLimited: false },
  }, async (req) => {
    hs.rateLimits.registration.take(req.ip);
    if (reg.mode !== 'token') throw forbidden('Registration tokens are not in use on this server');
    return { valid: await hs.registrationTokens.isValid(req.query.token) };
  });
}
