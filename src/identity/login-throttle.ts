/**
 * Failed password logins per source address, in fixed windows: past the limit an address is
 * refused before any password is hashed, so one client can neither burn the server's CPU on
 * scrypt nor guess quickly. Kept in memory: a restart forgets, and each server counts its own.
 */
const MAX_TRACKED = 10_000;

export class LoginThrottle {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #failures = new Map<string, { count: number; since: number }>();

  /** `limit` 0 never throttles. */
  constructor(limit: number, windowSeconds: number) {
    this.#limit = limit;
    this.#windowMs = windowSeconds * 1000;
  }

  /** Seconds until `address` may try again, or 0 when it may now. */
  retryAfter(address: string, now = Date.now()): number {
    const entry = this.#failures.get(address);
    if (!entry || this.#limit === 0) return 0;
    const left = entry.since + this.#windowMs - now;
    if (left <= 0) {
      this.#failures.delete(address);
      return 0;
    }
    return entry.count >= this.#limit ? Math.ceil(left / 1000) : 0;
  }

  fail(address: string, now = Date.now()): void {
    if (this.#limit === 0) return;
    const entry = this.#failures.get(address);
    if (entry && entry.since + this.#windowMs > now) {
      entry.count++;
      return;
    }
    if (this.#failures.size >= MAX_TRACKED) this.#forgetExpired(now);
    this.#failures.set(address, { count: 1, since: now });
  }

  #forgetExpired(now: number): void {
    for (const [address, entry] of this.#failures) {
      if (entry.since + this.#windowMs <= now) this.#failures.delete(address);
    }
    // Still full (a flood of distinct addresses): forget the oldest rather than grow without bound.
    if (this.#failures.size >= MAX_TRACKED) {
      const oldest = this.#failures.keys().next().value;
      if (oldest !== undefined) this.#failures.delete(oldest);
    }
  }
}
