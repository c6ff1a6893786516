/**
 * Limiters that hand out disposable {@linkcode Permit}s: {@linkcode ConnectionLimiter} (global and
 * per-key connection counts), {@linkcode MemoryLimiter} (a byte budget) and
 * {@linkcode CompositeLimiter} (all or nothing over several), plus {@linkcode LimitExceededError}
 * for callers who prefer exceptions.
 * @module
 */
import { checkLimit, OncePermit } from "./_permit.ts";

/**
 * Capacity taken from a limiter. `release()` gives it back and is idempotent, so releasing twice
 * (or releasing and then leaving a `using` block) cannot free capacity someone else holds.
 */
export interface Permit extends Disposable {
  /** True once the permit was released. */
  readonly released: boolean;
  /** Gives the capacity back; later calls do nothing. */
  release(): void;
}

/** Which limit a {@linkcode LimitExceededError} hit. */
export type LimitScope = "connections" | "connections_per_key" | "rate" | "memory" | "queue";

/**
 * A limit was reached. Thrown by the throwing variants of the limiters (`acquire`, `reserve`,
 * `take`) and by {@linkcode ConcurrencyLimiter.acquire} when its wait queue is full.
 *
 * @example Branch on the scope
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionLimiter, LimitExceededError } from "./limiter.ts";
 * const limiter = new ConnectionLimiter({ maxPerKey: 1 });
 * using _first = limiter.acquire("10.0.0.1");
 * assert.throws(() => limiter.acquire("10.0.0.1"), (error) => {
 *   assert.ok(error instanceof LimitExceededError);
 *   assert.equal(error.scope, "connections_per_key");
 *   assert.equal(error.limit, 1);
 *   return true;
 * });
 * ```
 */
export class LimitExceededError extends Error {
  /** Which limit was hit. */
  readonly scope: LimitScope;
  /** The limit's value (connections, tokens per second, bytes or waiting callers). */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param scope Which limit was hit.
   * @param limit The limit's value.
   * @param message What was refused and why, such as `Cannot acquire a connection: the limit of 100 connections is reached`.
   */
  constructor(scope: LimitScope, limit: number, message: string) {
    super(message);
    this.name = "LimitExceededError";
    this.scope = scope;
    this.limit = limit;
  }
}

/** Default global connection limit: none. */
export const DEFAULT_MAX_CONNECTIONS: number = Infinity;
/** Default connection limit per key: none. */
export const DEFAULT_MAX_PER_KEY: number = Infinity;

/** Options for {@linkcode ConnectionLimiter}. */
export interface ConnectionLimiterOptions {
  /** Connections allowed at once in all. @default {Infinity} */
  maxConnections?: number;
  /** Connections allowed at once per key (a source IP, say). @default {Infinity} */
  maxPerKey?: number;
}

/**
 * Counts open connections in all and per key, and refuses one over either limit. Keys with no
 * open connection are forgotten, so many distinct keys do not grow memory.
 *
 * @example Limit connections per source IP
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConnectionLimiter } from "./limiter.ts";
 * const limiter = new ConnectionLimiter({ maxConnections: 100, maxPerKey: 2 });
 * {
 *   using _a = limiter.tryAcquire("192.0.2.1");
 *   using _b = limiter.tryAcquire("192.0.2.1");
 *   assert.equal(limiter.tryAcquire("192.0.2.1"), undefined);
 *   assert.equal(limiter.perKey("192.0.2.1"), 2);
 * }
 * assert.equal(limiter.active, 0);
 * assert.equal(limiter.rejected, 1);
 * ```
 */
export class ConnectionLimiter {
  #maxConnections: number;
  #maxPerKey: number;
  #active = 0;
  #rejected = 0;
  #perKey = new Map<string, number>();

  /**
   * Creates a limiter with no connection open.
   *
   * @param options The global and per-key limits.
   * @throws {RangeError} If a limit is neither a positive integer nor `Infinity`.
   */
  constructor(options: ConnectionLimiterOptions = {}) {
    const { maxConnections = DEFAULT_MAX_CONNECTIONS, maxPerKey = DEFAULT_MAX_PER_KEY } = options;
    checkLimit("ConnectionLimiter", "maxConnections", maxConnections, "count or Infinity");
    checkLimit("ConnectionLimiter", "maxPerKey", maxPerKey, "count or Infinity");
    this.#maxConnections = maxConnections;
    this.#maxPerKey = maxPerKey;
  }

  /** Connections open now. */
  get active(): number {
    return this.#active;
  }

  /** Connections refused since creation. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Counts the open connections for one key.
   *
   * @param key The key, such as a source IP.
   * @returns Connections open now for `key`.
   */
  perKey(key: string): number {
    return this.#perKey.get(key) ?? 0;
  }

  /**
   * Takes a connection slot for `key` if both limits allow it.
   *
   * @param key The key, such as a source IP.
   * @returns A permit to release when the connection ends, or `undefined` at a limit.
   */
  tryAcquire(key: string): Permit | undefined {
    const held = this.#perKey.get(key) ?? 0;
    if (this.#active >= this.#maxConnections || held >= this.#maxPerKey) {
      this.#rejected++;
      return undefined;
    }
    this.#active++;
    this.#perKey.set(key, held + 1);
    return new OncePermit(() => {
      this.#active--;
      const left = this.#perKey.get(key)! - 1;
      if (left === 0) this.#perKey.delete(key);
      else this.#perKey.set(key, left);
    });
  }

  /**
   * Takes a connection slot for `key`, or throws at a limit.
   *
   * @param key The key, such as a source IP.
   * @returns A permit to release when the connection ends.
   * @throws {LimitExceededError} With scope `"connections"` or `"connections_per_key"` at a limit.
   */
  acquire(key: string): Permit {
    const permit = this.tryAcquire(key);
    if (permit) return permit;
    if (this.#active >= this.#maxConnections) {
      const max = this.#maxConnections;
      throw new LimitExceededError(
        "connections",
        max,
        `Cannot acquire a connection: the limit of ${max} connections is reached`,
      );
    }
    const max = this.#maxPerKey;
    throw new LimitExceededError(
      "connections_per_key",
      max,
      `Cannot acquire a connection for "${key}": the limit of ${max} connections per key is reached`,
    );
  }
}

/** Options for {@linkcode MemoryLimiter}. */
export interface MemoryLimiterOptions {
  /** The budget, in bytes. */
  maxBytes: number;
}

/**
 * A byte budget (for buffers, say): reservations succeed while they fit in `maxBytes`.
 *
 * @example Reserve buffer space
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryLimiter } from "./limiter.ts";
 * const memory = new MemoryLimiter({ maxBytes: 1024 });
 * const permit = memory.tryReserve(1000);
 * assert.equal(memory.tryReserve(100), undefined);
 * permit?.release();
 * assert.equal(memory.available, 1024);
 * ```
 */
export class MemoryLimiter {
  #maxBytes: number;
  #used = 0;
  #rejected = 0;

  /**
   * Creates a limiter with the whole budget free.
   *
   * @param options The budget.
   * @throws {RangeError} If `maxBytes` is not a positive integer.
   */
  constructor(options: MemoryLimiterOptions) {
    const { maxBytes } = options;
    checkLimit("MemoryLimiter", "maxBytes", maxBytes, "count");
    this.#maxBytes = maxBytes;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Bytes still free. */
  get available(): number {
    return this.#maxBytes - this.#used;
  }

  /** Reservations refused since creation. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Reserves `bytes` if they fit in what is left of the budget.
   *
   * @param bytes How many bytes to reserve.
   * @returns A permit that gives the bytes back, or `undefined` when they do not fit.
   * @throws {RangeError} If `bytes` is not a non-negative integer.
   */
  tryReserve(bytes: number): Permit | undefined {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(
        `Cannot reserve memory as 'bytes' must be a non-negative integer: current value is ${bytes}`,
      );
    }
    if (bytes > this.#maxBytes - this.#used) {
      this.#rejected++;
      return undefined;
    }
    this.#used += bytes;
    return new OncePermit(() => {
      this.#used -= bytes;
    });
  }

  /**
   * Reserves `bytes`, or throws when they do not fit.
   *
   * @param bytes How many bytes to reserve.
   * @returns A permit that gives the bytes back.
   * @throws {LimitExceededError} With scope `"memory"` when the bytes do not fit.
   * @throws {RangeError} If `bytes` is not a non-negative integer.
   */
  reserve(bytes: number): Permit {
    const available = this.available;
    const permit = this.tryReserve(bytes);
    if (permit) return permit;
    throw new LimitExceededError(
      "memory",
      this.#maxBytes,
      `Cannot reserve ${bytes} bytes: only ${available} of ${this.#maxBytes} bytes are free`,
    );
  }
}

/**
 * One step of a {@linkcode CompositeLimiter}: takes capacity for `request` and returns a permit
 * (capacity held), `true` (capacity spent, such as a token, with nothing to give back), or
 * `undefined`/`false` (refused). A step may also throw, such as a {@linkcode LimitExceededError}.
 */
export type LimitStep<T> = (request: T) => Permit | boolean | undefined;

/**
 * Takes capacity from several limiters, all or nothing: steps run in order, and when one refuses
 * (or throws), the permits already taken are released in reverse order. Spent capacity (a
 * {@linkcode TokenBucket} step returning `true`) is not given back, so list such steps last.
 *
 * @example Admit a connection under three limits
 * ```ts
 * import assert from "node:assert/strict";
 * import { CompositeLimiter, ConnectionLimiter, MemoryLimiter } from "./limiter.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 * const connections = new ConnectionLimiter({ maxPerKey: 10 });
 * const memory = new MemoryLimiter({ maxBytes: 64 * 1024 });
 * const rate = new TokenBucket({ ratePerSecond: 100, burst: 1 });
 * const admit = new CompositeLimiter<string>([
 *   (ip) => connections.tryAcquire(ip),
 *   () => memory.tryReserve(32 * 1024),
 *   () => rate.tryTake(),
 * ]);
 * const first = admit.tryAcquire("192.0.2.1");
 * assert.ok(first);
 * assert.equal(admit.tryAcquire("192.0.2.1"), undefined); // no token left: the rest is rolled back
 * assert.equal(connections.active, 1);
 * assert.equal(memory.used, 32 * 1024);
 * first.release();
 * assert.equal(connections.active, 0);
 * ```
 */
export class CompositeLimiter<T = void> {
  #steps: readonly LimitStep<T>[];
  #rejected = 0;

  /**
   * Combines limiter steps.
   *
   * @param steps The steps, tried in order.
   */
  constructor(steps: readonly LimitStep<T>[]) {
    this.#steps = [...steps];
  }

  /** Acquisitions refused since creation (a step returned `undefined` or `false`, or threw). */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * Runs every step for `request`, all or nothing.
   *
   * @param request What the steps need, such as a source IP.
   * @returns One permit that releases every step's permit, or `undefined` if a step refused.
   * @throws {unknown} What a step threw, after the permits already taken were released.
   */
  tryAcquire(request: T): Permit | undefined {
    const taken: Permit[] = [];
    const rollBack = () => {
      this.#rejected++;
      for (let i = taken.length - 1; i >= 0; i--) taken[i].release();
    };
    for (const step of this.#steps) {
      let got: Permit | boolean | undefined;
      try {
        got = step(request);
      } catch (error) {
        rollBack();
        throw error;
      }
      if (got === undefined || got === false) {
        rollBack();
        return undefined;
      }
      if (got !== true) taken.push(got);
    }
    return new OncePermit(() => {
      for (let i = taken.length - 1; i >= 0; i--) taken[i].release();
    });
  }
}
