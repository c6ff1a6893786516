/**
 * {@linkcode CircuitBreaker}: stops calling a target that keeps failing, and lets a few probes
 * through after a cooldown to find out whether it recovered.
 * @module
 */
import { invoke, raceAbort } from "./_abort.ts";

/**
 * The state of a {@linkcode CircuitBreaker}:
 * - `"closed"`: calls run; consecutive failures are counted.
 * - `"open"`: calls are rejected with {@linkcode CircuitOpenError} until the cooldown ends.
 * - `"half_open"`: a limited number of probe calls run; their outcome closes or reopens the circuit.
 */
export type CircuitState = "closed" | "open" | "half_open";

/** Default number of consecutive failures that open the circuit. */
export const DEFAULT_FAILURE_THRESHOLD = 5;
/** Default number of successful probes in `half_open` that close the circuit. */
export const DEFAULT_SUCCESS_THRESHOLD = 2;
/** Default time the circuit stays open, in milliseconds. */
export const DEFAULT_COOLDOWN_MS = 30_000;
/** Default number of probes allowed in flight at once in `half_open`. */
export const DEFAULT_HALF_OPEN_MAX_PROBES = 1;

/** Options for {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures (in `closed`) that open the circuit. @default {5} */
  failureThreshold?: number;
  /** Successful probes (in `half_open`) that close the circuit. @default {2} */
  successThreshold?: number;
  /**
   * How long the circuit stays open before it lets probes through. A probe that has neither
   * settled nor been aborted after this long counts as failed, so `half_open` never sticks.
   * @default {30_000}
   */
  cooldownMs?: number;
  /** Probes allowed in flight at once in `half_open`; further calls are rejected. @default {1} */
  halfOpenMaxProbes?: number;
  /**
   * Decides whether an error counts as a failure. Errors for which it returns `false` are
   * rethrown without counting either way; an error thrown by the predicate counts as a failure.
   * @default {() => true}
   */
  isFailure?: (error: unknown) => boolean;
  /** Called after every state change. Isolated: an observer that throws cannot break the breaker. */
  onStateChange?: (from: CircuitState, to: CircuitState) => void;
  /** Clock in milliseconds, injectable for tests. @default {Date.now} */
  now?: () => number;
}

/** Options for {@linkcode CircuitBreaker.execute}. */
export interface ExecuteOptions {
  /**
   * Aborting rejects the call at once with the signal's reason, which is then classified by
   * `isFailure` like any error (by default it counts as a failure). The signal is also passed to
   * the operation, which should stop when it aborts.
   */
  signal?: AbortSignal;
}

/** A snapshot of a {@linkcode CircuitBreaker}'s counters. */
export interface CircuitBreakerStats {
  /** The state now. */
  readonly state: CircuitState;
  /** Calls that failed (as `isFailure` decides) since creation or `reset()`. */
  readonly failures: number;
  /** Calls that succeeded since creation or `reset()`. */
  readonly successes: number;
  /** Calls rejected without running since creation or `reset()`. */
  readonly rejected: number;
  /** Failures in a row in `closed` (the count compared with `failureThreshold`). */
  readonly consecutiveFailures: number;
  /** When the state last changed (or the breaker was created or reset), from the `now` clock. */
  readonly lastStateChangeAt: number;
}

/**
 * Thrown by {@linkcode CircuitBreaker.execute} when the circuit does not let the call through:
 * it is open, or it is half-open and every probe slot is taken.
 *
 * @example Fail fast and say when to come back
 * ```ts
 * import assert from "node:assert/strict";
 * import { CircuitOpenError } from "./circuit_breaker.ts";
 * const error = new CircuitOpenError(1234);
 * assert.equal(error.message, "Cannot run: the circuit is open for 1234 more ms");
 * assert.equal(error.remainingCooldownMs, 1234);
 * ```
 */
export class CircuitOpenError extends Error {
  /** Milliseconds until the circuit lets probes through; 0 when it is half-open. */
  readonly remainingCooldownMs: number;

  /**
   * Creates the error.
   *
   * @param remainingCooldownMs Milliseconds until the cooldown ends.
   * @param message What was refused and why.
   */
  constructor(
    remainingCooldownMs: number,
    message = `Cannot run: the circuit is open for ${remainingCooldownMs} more ms`,
  ) {
    super(message);
    this.name = "CircuitOpenError";
    this.remainingCooldownMs = remainingCooldownMs;
  }
}

/** One admitted call: the state epoch it belongs to, and its probe slot in `half_open`. */
interface Ticket {
  readonly epoch: number;
  readonly probe: Probe | undefined;
}

/** A probe in flight; `reclaimed` once it ran for `cooldownMs` and was counted as failed. */
interface Probe {
  readonly startedAt: number;
  reclaimed: boolean;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create CircuitBreaker as '${name}' must be a positive integer: current value is ${value}`,
    );
  }
}

/**
 * Runs operations against one target and stops calling it after `failureThreshold` consecutive
 * failures. After `cooldownMs` the circuit is half-open: up to `halfOpenMaxProbes` probe calls
 * run at once; `successThreshold` successes close it, and any failure opens it again. State
 * changes happen lazily when the breaker is used (no timers), so it costs nothing while idle.
 *
 * Results of calls admitted before a state change (or a `reset()`) are counted in
 * {@linkcode CircuitBreaker.stats} but do not move the state.
 *
 * @example Protect dials to one upstream
 * ```ts ignore
 * import { CircuitBreaker, CircuitOpenError } from "@ts-tunnel/tunnel/ha";
 * const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 10_000 });
 * try {
 *   await using conn = await breaker.execute(({ signal }) => tcp.dial(target, { signal }), {
 *     signal: AbortSignal.timeout(5_000),
 *   });
 * } catch (error) {
 *   if (error instanceof CircuitOpenError) console.log(`retry in ${error.remainingCooldownMs} ms`);
 * }
 * ```
 *
 * @example Trip and recover with a fake clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { CircuitBreaker } from "./circuit_breaker.ts";
 * let now = 0;
 * const breaker = new CircuitBreaker({ failureThreshold: 1, successThreshold: 1, cooldownMs: 100, now: () => now });
 * await assert.rejects(breaker.execute(() => Promise.reject(new Error("refused"))));
 * assert.equal(breaker.state, "open");
 * now = 100;
 * assert.equal(breaker.state, "half_open");
 * assert.equal(await breaker.execute(() => "ok"), "ok");
 * assert.equal(breaker.state, "closed");
 * ```
 */
export class CircuitBreaker {
  #failureThreshold: number;
  #successThreshold: number;
  #cooldownMs: number;
  #halfOpenMaxProbes: number;
  #isFailure: (error: unknown) => boolean;
  #onStateChange: ((from: CircuitState, to: CircuitState) => void) | undefined;
  #now: () => number;

  #state: CircuitState = "closed";
  /** Bumped on every state change and reset; settlements from an older epoch do not move the state. */
  #epoch = 0;
  #openedAt = 0;
  #consecutiveFailures = 0;
  #probeSuccesses = 0;
  #probes = new Set<Probe>();
  #failures = 0;
  #successes = 0;
  #rejected = 0;
  #lastStateChangeAt: number;

  /**
   * Creates a closed circuit breaker.
   *
   * @param options Thresholds, cooldown, failure predicate, observer and clock.
   * @throws {RangeError} If a threshold, `cooldownMs` or `halfOpenMaxProbes` is not a positive integer.
   */
  constructor(options: CircuitBreakerOptions = {}) {
    const {
      failureThreshold = DEFAULT_FAILURE_THRESHOLD,
      successThreshold = DEFAULT_SUCCESS_THRESHOLD,
      cooldownMs = DEFAULT_COOLDOWN_MS,
      halfOpenMaxProbes = DEFAULT_HALF_OPEN_MAX_PROBES,
      isFailure = () => true,
      onStateChange,
      now = Date.now,
    } = options;
    checkPositiveInteger("failureThreshold", failureThreshold);
    checkPositiveInteger("successThreshold", successThreshold);
    checkPositiveInteger("cooldownMs", cooldownMs);
    checkPositiveInteger("halfOpenMaxProbes", halfOpenMaxProbes);
    this.#failureThreshold = failureThreshold;
    this.#successThreshold = successThreshold;
    this.#cooldownMs = cooldownMs;
    this.#halfOpenMaxProbes = halfOpenMaxProbes;
    this.#isFailure = isFailure;
    this.#onStateChange = onStateChange;
    this.#now = now;
    this.#lastStateChangeAt = now();
  }

  /**
   * The state now. Reading it applies a transition that is due (an open circuit whose cooldown
   * has ended becomes `"half_open"`), which notifies `onStateChange`.
   */
  get state(): CircuitState {
    this.#advance(this.#now());
    return this.#state;
  }

  /**
   * Runs `fn` if the circuit lets it through, and records its outcome.
   *
   * @example Run a call
   * ```ts
   * import assert from "node:assert/strict";
   * import { CircuitBreaker } from "./circuit_breaker.ts";
   * const breaker = new CircuitBreaker();
   * assert.equal(await breaker.execute(({ signal }) => signal === undefined ? 42 : 0), 42);
   * ```
   * @param fn The operation; receives the call's `signal`.
   * @param options Cancellation.
   * @returns What `fn` returns.
   * @throws {CircuitOpenError} If the circuit is open, or half-open with every probe slot taken.
   * @throws {unknown} `signal.reason` if the signal aborts first, else whatever `fn` throws.
   */
  async execute<T>(
    fn: (options: ExecuteOptions) => T | Promise<T>,
    options: ExecuteOptions = {},
  ): Promise<T> {
    const { signal } = options;
    signal?.throwIfAborted();
    const ticket = this.#admit();
    let result: T;
    try {
      result = await raceAbort(invoke(() => fn({ signal })), signal);
    } catch (error) {
      this.#settle(ticket, this.#counts(error) ? "failure" : "neither");
      throw error;
    }
    this.#settle(ticket, "success");
    return result;
  }

  /**
   * Returns a snapshot of the counters.
   *
   * @returns The state, totals since creation or `reset()`, and when the state last changed.
   */
  stats(): CircuitBreakerStats {
    const state = this.state;
    return {
      state,
      failures: this.#failures,
      successes: this.#successes,
      rejected: this.#rejected,
      consecutiveFailures: this.#consecutiveFailures,
      lastStateChangeAt: this.#lastStateChangeAt,
    };
  }

  /** Closes the circuit and zeroes every counter; calls in flight no longer move the state. */
  reset(): void {
    const from = this.#state;
    this.#state = "closed";
    this.#epoch++;
    this.#consecutiveFailures = 0;
    this.#probeSuccesses = 0;
    this.#probes.clear();
    this.#failures = 0;
    this.#successes = 0;
    this.#rejected = 0;
    this.#lastStateChangeAt = this.#now();
    if (from !== "closed") this.#notify(from, "closed");
  }

  /** Applies the time-driven transitions: a stale probe reopens; an ended cooldown half-opens. */
  #advance(now: number): void {
    if (this.#state === "half_open") {
      let staleSince = Infinity;
      for (const probe of this.#probes) {
        if (now - probe.startedAt < this.#cooldownMs) continue;
        probe.reclaimed = true;
        this.#failures++;
        staleSince = Math.min(staleSince, probe.startedAt + this.#cooldownMs);
      }
      if (staleSince !== Infinity) this.#open(staleSince);
    }
    if (this.#state === "open") {
      if (now < this.#openedAt) this.#openedAt = now; // the clock went back: restart the cooldown
      const until = this.#openedAt + this.#cooldownMs;
      if (now >= until) this.#transition("half_open", until);
    }
  }

  #admit(): Ticket {
    const now = this.#now();
    this.#advance(now);
    if (this.#state === "open") {
      this.#rejected++;
      throw new CircuitOpenError(Math.ceil(this.#openedAt + this.#cooldownMs - now));
    }
    if (this.#state === "closed") return { epoch: this.#epoch, probe: undefined };
    if (this.#probes.size >= this.#halfOpenMaxProbes) {
      this.#rejected++;
      const max = this.#halfOpenMaxProbes;
      throw new CircuitOpenError(0, `Cannot run: the circuit is half-open with ${max} of ${max} probes in flight`);
    }
    const probe: Probe = { startedAt: now, reclaimed: false };
    this.#probes.add(probe);
    return { epoch: this.#epoch, probe };
  }

  #counts(error: unknown): boolean {
    try {
      return this.#isFailure(error);
    } catch {
      return true;
    }
  }

  #settle(ticket: Ticket, outcome: "success" | "failure" | "neither"): void {
    const { probe } = ticket;
    if (probe) this.#probes.delete(probe);
    if (outcome === "neither" || probe?.reclaimed) return; // a reclaimed probe was counted already
    if (outcome === "success") this.#successes++;
    else this.#failures++;
    const now = this.#now();
    this.#advance(now);
    if (ticket.epoch !== this.#epoch) return;
    if (this.#state === "closed") {
      if (outcome === "success") this.#consecutiveFailures = 0;
      else if (++this.#consecutiveFailures >= this.#failureThreshold) this.#open(now);
    } else if (this.#state === "half_open") {
      if (outcome === "failure") this.#open(now);
      else if (++this.#probeSuccesses >= this.#successThreshold) this.#transition("closed", now);
    }
  }

  #open(at: number): void {
    this.#openedAt = at;
    this.#transition("open", at);
  }

  #transition(to: CircuitState, at: number): void {
    const from = this.#state;
    this.#state = to;
    this.#epoch++;
    this.#consecutiveFailures = 0;
    this.#probeSuccesses = 0;
    this.#probes.clear();
    this.#lastStateChangeAt = at;
    this.#notify(from, to);
  }

  #notify(from: CircuitState, to: CircuitState): void {
    try {
      this.#onStateChange?.(from, to);
    } catch {
      // An observer must not break the breaker.
    }
  }
}
