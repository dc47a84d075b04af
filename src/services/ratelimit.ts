// Token-bucket rate limiting, keyed by user ID or client IP.
import type { RateLimit } from '../config.js';
import { limitExceeded } from '../errors.js';

interface Bucket { tokens: number; updated: number }

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limit: RateLimit, private readonly enabled: boolean, private readonly now: () => number = Date.now) {}

  /** Takes one token for `key`, or throws M_LIMIT_EXCEEDED with the time until one is free. */
  take(key: string): void {
    if (!this.enabled) return;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size > 100_000) this.sweep(now);
      b = { tokens: this.limit.burst, updated: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.updated) / 1000) * this.limit.per_second);
      b.updated = now;
    }
    if (b.tokens < 1) {
      throw limitExceeded(Math.ceil(((1 - b.tokens) / this.limit.per_second) * 1000));
    }
    b.tokens -= 1;
  }

  /** Drops buckets that have refilled completely: they hold no information. */
  private sweep(now: number): void {
    const full = (this.limit.burst / this.limit.per_second) * 1000;
    for (const [k, b] of this.buckets) if (now - b.updated > full) this.buckets.delete(k);
  }
}
