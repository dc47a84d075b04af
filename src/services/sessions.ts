// Access tokens, refresh tokens and login tokens: issuing them and resolving a request's token.
import type { Config } from '../config.js';
import { MatrixError, unknownToken } from '../errors.js';
import type { DeviceStore } from '../storage/devices.js';
import { hashToken, newToken } from './secrets.js';

export interface Requester {
  userId: string;
  deviceId: string;
  isGuest: boolean;
  tokenHash: string;
}

export interface IssuedTokens {
  access_token: string;
  device_id: string;
  refresh_token?: string;
  expires_in_ms?: number;
}

interface CachedToken { userId: string; deviceId: string; expiresTs: number | null; isGuest: boolean; cachedAt: number }

const CACHE_MAX = 50_000;
/** A token deleted by another process is honoured for at most this long. */
const CACHE_TTL_MS = 30_000;

export class SessionService {
  private readonly cache = new Map<string, CachedToken>();

  constructor(
    private readonly devices: DeviceStore,
    private readonly cfg: Config['session'],
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates (or reuses) the device and issues its tokens. */
  async issue(userId: string, opts: { deviceId: string; displayName: string | null; refresh: boolean; ip: string | null }): Promise<IssuedTokens> {
    const now = this.now();
    await this.devices.upsertDevice(userId, opts.deviceId, opts.displayName, now, opts.ip);
    const access = newToken('wfa');
    if (!opts.refresh) {
      await this.devices.insertAccessToken({ tokenHash: hashToken(access), userId, deviceId: opts.deviceId, expiresTs: null, refreshTokenHash: null, now });
      return { access_token: access, device_id: opts.deviceId };
    }
    const refresh = newToken('wfr');
    const lifetime = this.cfg.refreshable_access_token_lifetime_ms;
    await this.devices.insertRefreshToken({ tokenHash: hashToken(refresh), userId, deviceId: opts.deviceId, expiresTs: this.refreshExpiry(now), now });
    await this.devices.insertAccessToken({ tokenHash: hashToken(access), userId, deviceId: opts.deviceId, expiresTs: now + lifetime, refreshTokenHash: hashToken(refresh), now });
    return { access_token: access, device_id: opts.deviceId, refresh_token: refresh, expires_in_ms: lifetime };
  }

  /** spec: POST /refresh. */
  async refresh(refreshToken: string): Promise<{ access_token: string; refresh_token: string; expires_in_ms: number }> {
    const now = this.now();
    const row = await this.devices.findRefreshToken(hashToken(refreshToken));
    if (!row) throw unknownToken('Unknown refresh token', false);
    if (row.expiresTs !== null && row.expiresTs <= now) throw unknownToken('Refresh token has expired', true);
    const access = newToken('wfa');
    const refresh = newToken('wfr');
    const lifetime = this.cfg.refreshable_access_token_lifetime_ms;
    await this.devices.rotateRefreshToken({
      old: row, newRefreshHash: hashToken(refresh), refreshExpiresTs: this.refreshExpiry(now),
      newAccessHash: hashToken(access), accessExpiresTs: now + lifetime, now,
    });
    this.cache.clear(); // rotation may have retired access tokens
    return { access_token: access, refresh_token: refresh, expires_in_ms: lifetime };
  }

  /** Resolves an access token; throws M_UNKNOWN_TOKEN (soft_logout for an expired one). */
  async resolve(accessToken: string): Promise<Requester> {
    const tokenHash = hashToken(accessToken);
    const now = this.now();
    let t = this.cache.get(tokenHash);
    if (!t || now - t.cachedAt > CACHE_TTL_MS) {
      const row = await this.devices.findAccessToken(tokenHash);
      if (!row || row.deactivated) {
        this.cache.delete(tokenHash);
        throw unknownToken('Unrecognised access token');
      }
      if (row.refreshTokenHash !== null) this.forget(await this.devices.retirePredecessors(row.refreshTokenHash));
      t = { userId: row.userId, deviceId: row.deviceId, expiresTs: row.expiresTs, isGuest: row.isGuest, cachedAt: now };
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(tokenHash, t);
    }
    if (t.expiresTs !== null && t.expiresTs <= now) throw unknownToken('Access token has expired', true);
    return { userId: t.userId, deviceId: t.deviceId, isGuest: t.isGuest, tokenHash };
  }

  /** Forgets cached tokens after they were deleted from the database. */
  forget(tokenHashes: Iterable<string>): void {
    for (const h of tokenHashes) this.cache.delete(h);
  }

  forgetUser(userId: string): void {
    for (const [h, t] of this.cache) if (t.userId === userId) this.cache.delete(h);
  }

  async issueLoginToken(userId: string): Promise<{ login_token: string; expires_in_ms: number }> {
    const token = newToken('wfl');
    const lifetime = this.cfg.login_token_lifetime_ms;
    await this.devices.insertLoginToken(hashToken(token), userId, this.now() + lifetime);
    return { login_token: token, expires_in_ms: lifetime };
  }

  async consumeLoginToken(token: string): Promise<string> {
    const userId = await this.devices.consumeLoginToken(hashToken(token), this.now());
    if (!userId) throw new MatrixError('M_FORBIDDEN', 'Invalid or expired login token', 403);
    return userId;
  }

  private refreshExpiry(now: number): number | null {
    return this.cfg.refresh_token_lifetime_ms === null ? null : now + this.cfg.refresh_token_lifetime_ms;
  }
}
