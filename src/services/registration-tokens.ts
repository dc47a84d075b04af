// Registration tokens for token-only registration (spec: "Token-authenticated registration").
import { randomBytes } from 'node:crypto';
import type { RegistrationStore, RegistrationTokenRow } from '../storage/registration.js';

export class RegistrationTokenService {
  constructor(private readonly store: RegistrationStore, private readonly now: () => number = Date.now) {}

  async create(o: { token?: string; usesAllowed?: number | null; expiryTs?: number | null }): Promise<RegistrationTokenRow | undefined> {
    const token = o.token ?? randomBytes(12).toString('base64url');
    if (!/^[A-Za-z0-9._~-]{1,64}$/.test(token)) throw new Error('A registration token is 1–64 characters of A-Z a-z 0-9 . _ ~ -');
    const ok = await this.store.createToken({ token, usesAllowed: o.usesAllowed ?? null, expiryTs: o.expiryTs ?? null });
    return ok ? this.store.getToken(token) : undefined;
  }

  list(): Promise<RegistrationTokenRow[]> { return this.store.listTokens(); }

  async isValid(token: string): Promise<boolean> {
    const t = await this.store.getToken(token);
    if (!t) return false;
    if (t.expiryTs !== null && t.expiryTs <= this.now()) return false;
    return t.usesAllowed === null || t.pending + t.completed < t.usesAllowed;
  }

  /** Counts one completed registration against the token, if it still has a use left. */
  async use(token: string): Promise<boolean> {
    if (!(await this.store.reserveToken(token, this.now()))) return false;
    await this.store.completeToken(token);
    return true;
  }
}
