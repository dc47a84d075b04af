// spec: client-server-api "Profiles" (displayname and avatar_url)
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const UserParams = Type.Object({ userId: Type.String({ minLength: 1 }) });
type Field = 'displayname' | 'avatar_url';

export function profileRoutes(app: FastifyInstance, hs: Homeserver): void {
  const load = async (userId: string) => {
    const p = await hs.storage.accounts.getProfile(userId);
    if (!p) throw notFound('Profile not found');
    return p;
  };
  const compact = (o: Record<string, string | null>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));

  app.get<{ Params: { userId: string } }>('/_matrix/client/v3/profile/:userId', { schema: { params: UserParams } },
    async (req) => compact(await load(req.params.userId)));

  for (const field of ['displayname', 'avatar_url'] as Field[]) {
    app.get<{ Params: { userId: string } }>(`/_matrix/client/v3/profile/:userId/${field}`, { schema: { params: UserParams } },
      async (req) => {
        const value = (await load(req.params.userId))[field];
        if (value === null) throw notFound(`No ${field} set`);
        return { [field]: value };
      });

    app.put<{ Params: { userId: string }; Body: Record<string, string | null> }>(`/_matrix/client/v3/profile/:userId/${field}`, {
      schema: {
        params: UserParams,
        body: Type.Object({ [field]: Type.Union([Type.String({ maxLength: field === 'displayname' ? 256 : 1024 }), Type.Null()]) }, { additionalProperties: true }),
      },
      config: { auth: 'user', guest: field === 'displayname' },
    }, async (req) => {
      const r = requester(req);
      if (r.userId !== req.params.userId) throw forbidden('You may only change your own profile');
      if (field === 'avatar_url' && typeof req.body[field] === 'string' && !/^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/.test(req.body[field] as string)) {
        throw new MatrixError('M_INVALID_PARAM', '`avatar_url` must be an mxc:// URI', 400);
      }
      await hs.storage.accounts.setProfileField(r.userId, field, req.body[field] ?? null);
      return {};
    });
  }
}
