/**
 * A token bucket: `ratePerSecond` sustained, `burst` at once. In-memory, per instance: it bounds what one
 * instance lets anonymous callers make the service store (pending sign-ins), whatever they send. Limits per
 * client belong in front of the service (Azure Front Door / WAF rate-limit rules keyed on the socket address),
 * where the client's address is known for certain; SECURITY.md has the rule.
 */
import type { Clock } from '../ports';

export interface RateLimiter {
  /** Takes one token: undefined when allowed, else the seconds until one is available. */
  take(): number | undefined;
}

export class TokenBucket implements RateLimiter {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.updatedAt = clock.now();
  }

  take(): number | undefined {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerSecond));
  }
}
