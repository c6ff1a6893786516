/**
 * When to renew and how to retry: {@linkcode renewalTime} (two thirds into a certificate's
 * lifetime by default), {@linkcode backoffDelay} (exponential, capped), and
 * {@linkcode RenewalScheduler}, which runs one task per key at its time on an injectable
 * {@linkcode Clock} and retries failures with backoff until the task succeeds or is cancelled.
 * @module
 */

/** A time source and timer, injectable for tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for {@linkcode Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `Date.now` and the global timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Default share of a certificate's lifetime after which it is renewed. */
export const DEFAULT_RENEW_FRACTION = 2 / 3;
/** Default delay before the first retry of a failed renewal, in milliseconds. */
export const DEFAULT_RETRY_INITIAL_DELAY_MS = 60_000;
/** Default upper bound of the retry delay, in milliseconds (one hour). */
export const DEFAULT_RETRY_MAX_DELAY_MS = 3_600_000;
/** Default growth factor of the retry delay. */
export const DEFAULT_RETRY_MULTIPLIER = 2;

/** Timers longer than this overflow a 32-bit delay; longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The time at which a certificate is due for renewal: `fraction` of the way from `notBefore` to
 * `notAfter`.
 *
 * @example Renew a 90-day certificate after 60 days
 * ```ts
 * import assert from "node:assert/strict";
 * import { renewalTime } from "./renewal.ts";
 * const day = 86_400_000;
 * assert.equal(renewalTime(0, 90 * day), 60 * day);
 * ```
 * @param notBefore Start of validity, in epoch milliseconds.
 * @param notAfter End of validity, in epoch milliseconds.
 * @param fraction Share of the lifetime to wait, in (0, 1]. @default {2 / 3}
 * @returns The renewal time, in epoch milliseconds.
 * @throws {RangeError} If `fraction` is not in (0, 1].
 */
export function renewalTime(notBefore: number, notAfter: number, fraction: number = DEFAULT_RENEW_FRACTION): number {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`Cannot compute a renewal time as 'fraction' must be in (0, 1]: current value is ${fraction}`);
  }
  return notBefore + Math.floor((notAfter - notBefore) * fraction);
}

/** Options for {@linkcode backoffDelay} and {@linkcode RenewalScheduler}. */
export interface BackoffOptions {
  /** Delay before the first retry, in milliseconds. @default {60_000} */
  initialDelayMs?: number;
  /** Upper bound of any delay, in milliseconds. @default {3_600_000} */
  maxDelayMs?: number;
  /** Factor by which the delay grows from one retry to the next. @default {2} */
  multiplier?: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry):
 * `min(maxDelayMs, initialDelayMs × multiplier^(attempt − 1))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backoffDelay } from "./renewal.ts";
 * assert.deepEqual([1, 2, 3, 10].map((n) => backoffDelay(n, { initialDelayMs: 1_000, maxDelayMs: 5_000 })), [
 *   1_000,
 *   2_000,
 *   4_000,
 *   5_000,
 * ]);
 * ```
 * @param attempt The retry's number, from 1.
 * @param options Initial delay, cap and multiplier.
 * @returns The delay in milliseconds.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const {
    initialDelayMs = DEFAULT_RETRY_INITIAL_DELAY_MS,
    maxDelayMs = DEFAULT_RETRY_MAX_DELAY_MS,
    multiplier = DEFAULT_RETRY_MULTIPLIER,
  } = options;
  return Math.min(maxDelayMs, initialDelayMs * multiplier ** Math.max(0, attempt - 1));
}

/** A scheduled task; it receives a signal that aborts when the scheduler closes or the key is cancelled. */
export type RenewalTask = (signal: AbortSignal) => Promise<void>;

/** Options for {@linkcode RenewalScheduler}. */
export interface RenewalSchedulerOptions extends BackoffOptions {
  /** Time source and timers. @default {systemClock} */
  clock?: Clock;
  /** Told about every failure, with the delay before the next try. */
  onRetry?: (key: string, error: unknown, attempt: number, delayMs: number) => void;
}

interface Entry {
  at: number;
  task: RenewalTask;
  timer: unknown;
  generation: number;
  failures: number;
  running: boolean;
  runningGeneration: number;
  controller: AbortController;
}

/**
 * Runs one task per key at a given time. A task that rejects runs again after
 * {@linkcode backoffDelay}; one that resolves is done (it usually schedules its key again for
 * the next renewal, which the scheduler keeps). A key never runs twice at once.
 *
 * @example Renew at two thirds of the lifetime
 * ```ts ignore
 * import { RenewalScheduler, renewalTime } from "@ts-tunnel/tunnel/tls";
 * const scheduler = new RenewalScheduler({ initialDelayMs: 60_000 });
 * const renew = async (signal: AbortSignal) => {
 *   const cert = await obtain(signal);
 *   scheduler.schedule("example.com", renewalTime(cert.notBefore, cert.notAfter), renew);
 * };
 * scheduler.schedule("example.com", Date.now(), renew);
 * ```
 */
export class RenewalScheduler {
  readonly #clock: Clock;
  readonly #backoff: BackoffOptions;
  readonly #onRetry: RenewalSchedulerOptions["onRetry"];
  readonly #entries = new Map<string, Entry>();
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  /**
   * Creates a scheduler.
   *
   * @param options Clock, backoff and the retry callback.
   * @throws {RangeError} If a backoff option is not positive (or `multiplier` is below 1).
   */
  constructor(options: RenewalSchedulerOptions = {}) {
    const { clock = systemClock, onRetry, ...backoff } = options;
    for (const key of ["initialDelayMs", "maxDelayMs"] as const) {
      const value = backoff[key];
      if (value !== undefined && !(value > 0)) {
        throw new RangeError(`Cannot create scheduler as '${key}' must be positive: current value is ${value}`);
      }
    }
    if (backoff.multiplier !== undefined && !(backoff.multiplier >= 1)) {
      throw new RangeError(
        `Cannot create scheduler as 'multiplier' must be >= 1: current value is ${backoff.multiplier}`,
      );
    }
    this.#clock = clock;
    this.#backoff = backoff;
    this.#onRetry = onRetry;
  }

  /**
   * Runs `task` for `key` at `atMs` (now if that has passed), replacing any earlier schedule of
   * the key. Called while the key's task runs, it takes effect once that run ends.
   *
   * @param key The certificate's key.
   * @param atMs When to run, in epoch milliseconds of the scheduler's clock.
   * @param task The work.
   */
  schedule(key: string, atMs: number, task: RenewalTask): void {
    if (this.#closed) return;
    const entry = this.#entries.get(key);
    if (entry) {
      entry.at = atMs;
      entry.task = task;
      entry.generation++;
      entry.failures = 0;
      if (!entry.running) this.#arm(key, entry);
      return;
    }
    const created: Entry = {
      at: atMs,
      task,
      timer: undefined,
      generation: 0,
      failures: 0,
      running: false,
      runningGeneration: -1,
      controller: new AbortController(),
    };
    this.#entries.set(key, created);
    this.#arm(key, created);
  }

  /** Stops the key's schedule and aborts its running task, if any. */
  cancel(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#clock.clearTimeout(entry.timer);
    entry.controller.abort(new Error(`Renewal of "${key}" was cancelled`));
  }

  /**
   * When the key runs next (a retry included), or `undefined` if it is not scheduled (or is
   * running and has not been scheduled again yet).
   */
  nextRun(key: string): number | undefined {
    const entry = this.#entries.get(key);
    if (!entry || (entry.running && entry.generation === entry.runningGeneration)) return undefined;
    return entry.at;
  }

  /** Consecutive failures of the key's task since it was last scheduled. */
  failures(key: string): number {
    return this.#entries.get(key)?.failures ?? 0;
  }

  /** Cancels every key and waits for running tasks to settle; idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const key of [...this.#entries.keys()]) this.cancel(key);
    await Promise.allSettled([...this.#running]);
  }

  #arm(key: string, entry: Entry): void {
    this.#clock.clearTimeout(entry.timer);
    const wait = Math.max(0, Math.min(entry.at - this.#clock.now(), MAX_TIMER_MS));
    entry.timer = this.#clock.setTimeout(() => {
      if (this.#entries.get(key) !== entry || entry.running) return;
      if (this.#clock.now() < entry.at) return this.#arm(key, entry); // a chained long wait
      this.#run(key, entry);
    }, wait);
  }

  #run(key: string, entry: Entry): void {
    entry.running = true;
    const generation = entry.generation;
    entry.runningGeneration = generation;
    const run = Promise.resolve().then(() => entry.task(entry.controller.signal)).then(
      () => {
        entry.running = false;
        if (this.#entries.get(key) !== entry) return;
        if (entry.generation === generation) this.#entries.delete(key);
        else this.#arm(key, entry);
      },
      (error) => {
        entry.running = false;
        if (this.#entries.get(key) !== entry) return;
        if (entry.generation === generation) {
          entry.failures++;
          const delayMs = backoffDelay(entry.failures, this.#backoff);
          entry.at = this.#clock.now() + delayMs;
          try {
            this.#onRetry?.(key, error, entry.failures, delayMs);
          } catch { /* an observer's failure is not ours */ }
        }
        this.#arm(key, entry);
      },
    );
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }
}
