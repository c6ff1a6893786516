/**
 * {@linkcode CircuitBreakerRegistry}: one {@linkcode CircuitBreaker} per target, created on first
 * use with shared options.
 * @module
 */
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from "./circuit_breaker.ts";

/** Options for {@linkcode CircuitBreakerRegistry}: the breakers' options, with a keyed observer. */
export interface CircuitBreakerRegistryOptions extends Omit<CircuitBreakerOptions, "onStateChange"> {
  /**
   * Called after any breaker's state changes, with the breaker's key. Isolated: an observer that
   * throws cannot break the breaker.
   */
  onStateChange?: (key: string, from: CircuitState, to: CircuitState) => void;
}

/**
 * Holds one circuit breaker per key (a target address, say), created lazily with the same
 * options, so that one failing target does not cut off the others.
 *
 * @example One breaker per upstream
 * ```ts
 * import assert from "node:assert/strict";
 * import { CircuitBreakerRegistry } from "./circuit_registry.ts";
 * const changes: string[] = [];
 * const breakers = new CircuitBreakerRegistry({
 *   failureThreshold: 1,
 *   onStateChange: (key, from, to) => changes.push(`${key}: ${from} -> ${to}`),
 * });
 * await assert.rejects(breakers.get("10.0.0.1:443").execute(() => Promise.reject(new Error("refused"))));
 * assert.equal(breakers.get("10.0.0.1:443").state, "open");
 * assert.equal(breakers.get("10.0.0.2:443").state, "closed");
 * assert.deepEqual(changes, ["10.0.0.1:443: closed -> open"]);
 * ```
 */
export class CircuitBreakerRegistry {
  #options: CircuitBreakerRegistryOptions;
  #breakers = new Map<string, CircuitBreaker>();

  /**
   * Creates an empty registry. The options are checked now, not when the first breaker is made.
   *
   * @param options Options every breaker gets, and an observer told each change with its key.
   * @throws {RangeError} If an option is out of range, as {@linkcode CircuitBreaker} would throw.
   */
  constructor(options: CircuitBreakerRegistryOptions = {}) {
    const { onStateChange: _, ...breakerOptions } = options;
    new CircuitBreaker(breakerOptions); // validates, so a bad option fails here and not on first use
    this.#options = options;
  }

  /** How many breakers the registry holds. */
  get size(): number {
    return this.#breakers.size;
  }

  /**
   * Returns the breaker for `key`, creating it (closed) on first use.
   *
   * @param key Identifies the target, such as `"10.0.0.2:443"`.
   * @returns The breaker for `key`.
   */
  get(key: string): CircuitBreaker {
    let breaker = this.#breakers.get(key);
    if (breaker === undefined) {
      const { onStateChange, ...breakerOptions } = this.#options;
      breaker = new CircuitBreaker({
        ...breakerOptions,
        onStateChange: onStateChange && ((from, to) => onStateChange(key, from, to)),
      });
      this.#breakers.set(key, breaker);
    }
    return breaker;
  }

  /**
   * Tells whether a breaker exists for `key`, without creating one.
   *
   * @param key Identifies the target.
   * @returns `true` if `get(key)` was called and the breaker not deleted since.
   */
  has(key: string): boolean {
    return this.#breakers.has(key);
  }

  /**
   * Forgets the breaker for `key` (a target removed from the configuration); a later `get(key)`
   * creates a fresh, closed one.
   *
   * @param key Identifies the target.
   * @returns `true` if there was a breaker to delete.
   */
  delete(key: string): boolean {
    return this.#breakers.delete(key);
  }

  /**
   * Lists the breakers, in the order they were created.
   *
   * @returns An iterator of `[key, breaker]` pairs.
   */
  entries(): IterableIterator<[string, CircuitBreaker]> {
    return this.#breakers.entries();
  }
}
