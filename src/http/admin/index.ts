// The Synapse-compatible shared-secret registration that admin tools and test suites use.
// (Synapse admin API: /_synapse/admin/v1/register)
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { MatrixError, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { safeEqual } from '../../services/secrets.js';

const NONCE_LIFETIME_MS = 60_000;

const SharedSecretBody = Type.Object({
  nonce: Type.String(),
  username: Type.String(),
  password: Type.String({ maxLength: 512 }),
  admin: Type.Optional(Type.Boolean()),
  displayname: Type.Optional(Type.String({ maxLength: 256 })),
  user_type: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  mac: Type.String(),
}, { additionalProperties: true });

/** HMAC-SHA1 over nonce, username, password and admin flag, NUL-separated, as Synapse defines it. */
export function registrationMac(secret: string, b: { nonce: string; username: string; password: string; admin?: boolean; user_type?: string | null }): string {
  const h = createHmac('sha1', secret);
  h.update(b.nonce).update('\x00').update(b.username).update('\x00').update(b.password).update('\x00').update(b.admin ? 'admin' : 'notadmin');
  if (b.user_type) h.update('\x00').update(b.user_type);
  return h.digest('hex');
}

export function adminRoutes(app: FastifyInstance, hs: Homeserver): void {
  const secret = () => {
    const s = hs.config.registration.shared_secret;
    if (!s) throw new MatrixError('M_UNKNOWN', 'Shared secret registration is not enabled', 400);
    return s;
  };

  app.get('/_synapse/admin/v1/register', { config: { rateLimited: false } }, async (req) => {
    secret();
    hs.rateLimits.registration.take(req.ip);
    const nonce = randomBytes(16).toString('hex');
    await hs.storage.registration.insertNonce(nonce, Date.now());
    return { nonce };
  });

  app.post<{ Body: Static<typeof SharedSecretBody> }>('/_synapse/admin/v1/register', {
    schema: { body: SharedSecretBody }, config: { rateLimited: false },
  }, async (req) => {
    const s = secret();
    hs.rateLimits.registration.take(req.ip);
    const b = req.body;
    if (!(await hs.storage.registration.consumeNonce(b.nonce, Date.now() - NONCE_LIFETIME_MS))) {
      throw new MatrixError('M_UNKNOWN', 'Unrecognised nonce', 400);
    }
    if (!safeEqual(registrationMac(s, b), b.mac.toLowerCase())) throw forbidden('HMAC incorrect');
    const result = await hs.accounts.register({
      localpart: b.username.toLowerCase(), password: b.password, admin: b.admin ?? false, displayName: b.displayname ?? null,
      deviceId: null, deviceDisplayName: null, inhibitLogin: false, refresh: false, guest: false, ip: req.ip,
    });
    return { ...result, home_server: hs.config.server_name };
  });
}
