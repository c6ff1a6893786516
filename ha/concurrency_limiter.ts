/**
 * {@linkcode ConcurrencyLimiter}: at most N holders at once, the others waiting in FIFO order.
 * @module
 */
import { checkLimit, OncePermit } from "./_permit.ts";
import { LimitExceededError, type Permit } from "./limiter.ts";

/** Default length of a {@linkcode ConcurrencyLimiter}'s wait queue: unbounded. */
export const DEFAULT_MAX_WAITING: number = Infinity;

/** Options for {@linkcode ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** Permits held at once. */
  maxConcurrent: number;
  /** Callers allowed to wait at once; one more is refused with {@linkcode LimitExceededError}. @default {Infinity} */
  maxWaiting?: number;
}

/** Options for {@linkcode ConcurrencyLimiter.acquire}. */
export interface AcquireOptions {
  /** Aborting gives up the wait: the caller leaves the queue and the call rejects with the reason. */
  signal?: AbortSignal;
}

/** A caller in the wait queue. */
interface Waiter {
  grant(permit: Permit): void;
}

/**
 * Lets at most `maxConcurrent` holders in at once; others wait in FIFO order. A released permit
 * goes straight to the longest waiter, so a newcomer cannot overtake the queue. A waiter whose
 * signal aborts leaves the queue at once.
 *
 * @example Run at most two jobs at once
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConcurrencyLimiter } from "./concurrency_limiter.ts";
 * const limiter = new ConcurrencyLimiter({ maxConcurrent: 2 });
 * let running = 0;
 * let peak = 0;
 * await Promise.all([1, 2, 3, 4, 5].map(async () => {
 *   using _permit = await limiter.acquire();
 *   peak = Math.max(peak, ++running);
 *   await Promise.resolve();
 *   running--;
 * }));
 * assert.equal(peak, 2);
 * ```
 */
export class ConcurrencyLimiter {
  #maxConcurrent: number;
  #maxWaiting: number;
  #active = 0;
  #rejected = 0;
  #waiters = new Set<Waiter>(); // a Set keeps insertion order and removes an aborted waiter in O(1)

  /**
   * Creates a limiter with no permit taken.
   *
   * @param options The concurrency and queue limits.
   * @throws {RangeError} If `maxConcurrent` is not a positive integer, or `maxWaiting` is neither a
   * non-negative integer nor `Infinity`.
   */
  constructor(options: ConcurrencyLimiterOptions) {
    const { maxConcurrent, maxWaiting = DEFAULT_MAX_WAITING } = options;
    checkLimit("ConcurrencyLimiter", "maxConcurrent", maxConcurrent, "count");
    if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0) && maxWaiting !== Infinity) {
      throw new RangeError(
        `Cannot create ConcurrencyLimiter as 'maxWaiting' must be a non-negative integer or Infinity: current value is ${maxWaiting}`,
      );
    }
    this.#maxConcurrent = maxConcurrent;
    this.#maxWaiting = maxWaiting;
  }

  /** Permits held now. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Calls refused since creation (by `tryAcquire`, or by `acquire` with a full queue). */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Takes a permit if one is free now and nobody is waiting.
   *
   * @returns A permit, or `undefined` when all are taken.
   */
  tryAcquire(): Permit | undefined {
    if (this.#active >= this.#maxConcurrent) {
      this.#rejected++;
      return undefined;
    }
    this.#active++;
    return this.#permit();
  }

  /**
   * Takes a permit, waiting in line for one if all are taken.
   *
   * @param options Cancellation of the wait.
   * @returns A permit, to release (or dispose of with `using`) when done.
   * @throws {LimitExceededError} With scope `"queue"` if `maxWaiting` callers are already waiting.
   * @throws {unknown} `signal.reason` if the signal aborts before a permit is granted.
   */
  acquire(options: AcquireOptions = {}): Promise<Permit> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.#maxConcurrent) {
      this.#active++;
      return Promise.resolve(this.#permit());
    }
    if (this.#waiters.size >= this.#maxWaiting) {
      this.#rejected++;
      const max = this.#maxWaiting;
      return Promise.reject(
        new LimitExceededError(
          "queue",
          max,
          `Cannot wait for a permit: the limit of ${max} waiting callers is reached`,
        ),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<Permit>();
    const onAbort = () => {
      this.#waiters.delete(waiter);
      reject(signal!.reason);
    };
    const waiter: Waiter = {
      grant: (permit) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(permit);
      },
    };
    this.#waiters.add(waiter);
    signal?.addEventListener("abort", onAbort, { once: true });
    return promise;
  }

  #permit(): Permit {
    return new OncePermit(() => {
      const next = this.#waiters.values().next();
      if (next.done) {
        this.#active--;
        return;
      }
      this.#waiters.delete(next.value);
      next.value.grant(this.#permit()); // the slot passes to the waiter: `active` is unchanged
    });
  }
}
