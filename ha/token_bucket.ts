/**
 * {@linkcode TokenBucket}: a rate limit with bursts, refilled lazily from a clock.
 * @module
 */
import { LimitExceededError } from "./limiter.ts";

/** Options for {@linkcode TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Tokens the bucket holds at most (the largest burst); it starts full. @default {ratePerSecond rounded up} */
  burst?: number;
  /** Clock in milliseconds, injectable for tests. @default {performance.now} */
  now?: () => number;
}

/**
 * Allows `ratePerSecond` operations per second on average and bursts of up to `burst`. Tokens are
 * refilled when the bucket is used, from the time elapsed on the clock, so an idle bucket costs
 * nothing. A clock that goes back refills nothing (it never drains the bucket).
 *
 * @example Limit the accept rate
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenBucket } from "./token_bucket.ts";
 * let now = 0;
 * const bucket = new TokenBucket({ ratePerSecond: 10, burst: 2, now: () => now });
 * assert.ok(bucket.tryTake());
 * assert.ok(bucket.tryTake());
 * assert.ok(!bucket.tryTake());
 * assert.equal(bucket.msUntil(1), 100);
 * now = 100;
 * assert.ok(bucket.tryTake());
 * ```
 */
export class TokenBucket {
  #ratePerSecond: number;
  #burst: number;
  #now: () => number;
  #tokens: number;
  #last: number;
  #rejected = 0;

  /**
   * Creates a full bucket.
   *
   * @param options The rate, the burst and the clock.
   * @throws {RangeError} If `ratePerSecond` is not a positive finite number, or `burst` is not a
   * positive integer.
   */
  constructor(options: TokenBucketOptions) {
    const { ratePerSecond, burst = Math.ceil(ratePerSecond), now = () => performance.now() } = options;
    if (!(ratePerSecond > 0 && ratePerSecond < Infinity)) {
      throw new RangeError(
        `Cannot create TokenBucket as 'ratePerSecond' must be a positive finite number: current value is ${ratePerSecond}`,
      );
    }
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(
        `Cannot create TokenBucket as 'burst' must be a positive integer: current value is ${burst}`,
      );
    }
    this.#ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  /** Tokens available now (fractional while refilling). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Takes refused since creation. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Takes `n` tokens if the bucket holds them.
   *
   * @param n How many tokens to take.
   * @returns `true` if they were taken, `false` if there are too few (nothing is taken then).
   * @throws {RangeError} If `n` is not a non-negative finite number.
   */
  tryTake(n = 1): boolean {
    checkCount(n);
    this.#refill();
    if (this.#tokens < n) {
      this.#rejected++;
      return false;
    }
    this.#tokens -= n;
    return true;
  }

  /**
   * Takes `n` tokens, or throws if the bucket holds too few.
   *
   * @param n How many tokens to take.
   * @throws {LimitExceededError} With scope `"rate"` if there are too few tokens.
   * @throws {RangeError} If `n` is not a non-negative finite number.
   */
  take(n = 1): void {
    if (this.tryTake(n)) return;
    const wait = this.msUntil(n);
    const next = wait === Infinity ? `it holds at most ${this.#burst}` : `next in ${wait} ms`;
    throw new LimitExceededError(
      "rate",
      this.#ratePerSecond,
      `Cannot take ${n} token${
        n === 1 ? "" : "s"
      }: the rate limit of ${this.#ratePerSecond} per second is reached (${next})`,
    );
  }

  /**
   * Tells how long until `n` tokens are available, for a caller that wants to wait.
   *
   * @param n How many tokens.
   * @returns Milliseconds (rounded up; 0 if they are there now), or `Infinity` if `n` exceeds `burst`.
   * @throws {RangeError} If `n` is not a non-negative finite number.
   */
  msUntil(n = 1): number {
    checkCount(n);
    this.#refill();
    if (this.#tokens >= n) return 0;
    if (n > this.#burst) return Infinity;
    return Math.ceil((n - this.#tokens) * 1000 / this.#ratePerSecond);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerSecond / 1000);
  }
}

function checkCount(n: number): void {
  if (!(n >= 0 && n < Infinity)) {
    throw new RangeError(`Cannot take tokens as 'n' must be a non-negative finite number: current value is ${n}`);
  }
}
