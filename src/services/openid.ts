// OpenID tokens: a user proves their Matrix ID to a third party, which exchanges the token
// with this server over federation for the user ID. The tokens are good for nothing else.
// spec: client-server-api modules/openid; server-server-api "OpenID"
import { unknownToken } from '../errors.js';
import type { OpenIdStore } from '../storage/openid.js';
import { hashToken, newToken } from './secrets.js';

export const OPENID_TOKEN_LIFETIME_MS = 60 * 60_000;

export interface OpenIdCredentials {
  access_token: string;
  token_type: 'Bearer';
  matrix_server_name: string;
  expires_in: number;
}

export class OpenIdService {
  constructor(
    private readonly store: OpenIdStore,
    private readonly serverName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async requestToken(userId: string): Promise<OpenIdCredentials> {
    const token = newToken('wfo');
    const now = this.now();
    await this.store.insert({ tokenHash: hashToken(token), userId, expiresTs: now + OPENID_TOKEN_LIFETIME_MS, now });
    return { access_token: token, token_type: 'Bearer', matrix_server_name: this.serverName, expires_in: OPENID_TOKEN_LIFETIME_MS / 1000 };
  }

  /** The user who requested the token; 401 M_UNKNOWN_TOKEN when it is unknown or expired. */
  async userInfo(token: string): Promise<{ sub: string }> {
    const userId = await this.store.userOf(hashToken(token), this.now());
    if (!userId) throw unknownToken('Access token unknown or expired');
    return { sub: userId };
  }
}
