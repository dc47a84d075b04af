// The user-interactive authentication stages Weft offers, and how a login names its user.
// spec: client-server-api "Authentication types", "Identifier types"
import { MatrixError, forbidden } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { StageHandler } from '../../services/uia.js';

/** The user a login or `m.login.password` stage names: `identifier` (m.id.user) or the legacy `user`. */
export function identifiedUser(body: Record<string, unknown>): string {
  const id = body.identifier;
  if (id !== undefined) {
    if (typeof id !== 'object' || id === null || Array.isArray(id)) throw new MatrixError('M_BAD_JSON', '`identifier` must be an object', 400);
    const ident = id as Record<string, unknown>;
    if (ident.type !== 'm.id.user') {
      throw new MatrixError('M_UNKNOWN', `Identifier type ${JSON.stringify(ident.type)} is not supported`, 400);
    }
    if (typeof ident.user !== 'string' || ident.user === '') throw new MatrixError('M_BAD_JSON', '`identifier.user` must be a non-empty string', 400);
    return ident.user;
  }
  if (typeof body.user === 'string' && body.user !== '') return body.user;
  throw new MatrixError('M_MISSING_PARAM', 'Missing `identifier`', 400);
}

/** m.login.password as a UIA stage: the named user must be the one making the request. */
export function passwordStage(hs: Homeserver): StageHandler {
  return async (auth, ctx) => {
    if (typeof auth.password !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing `password`', 400);
    const userId = await hs.accounts.checkPassword(identifiedUser(auth), auth.password);
    if (userId !== ctx.userId) throw forbidden('The authentication is for a different user');
  };
}

export const dummyStage: StageHandler = async () => undefined;
