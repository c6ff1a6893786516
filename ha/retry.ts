/**
 * {@linkcode retry}: calls an operation again after failures, with exponential backoff and
 * jitter, under std's option names.
 * @module
 */
import { delay, invoke, raceAbort } from "./_abort.ts";

/** Default number of attempts, the first one included. */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Default delay cap before the first retry, in milliseconds. */
export const DEFAULT_INITIAL_DELAY_MS = 100;
/** Default upper bound of any delay, in milliseconds. */
export const DEFAULT_MAX_DELAY_MS = 10_000;
/** Default growth factor of the delay cap between retries. */
export const DEFAULT_MULTIPLIER = 2;
/** Default jitter: 1 draws each delay uniformly below its cap ("full jitter"). */
export const DEFAULT_JITTER = 1;

/** What an attempt is told about itself. */
export interface RetryContext {
  /** This attempt's number, starting at 1. */
  readonly attempt: number;
  /** The `signal` given to {@linkcode retry}, to pass on to the operation. */
  readonly signal: AbortSignal | undefined;
}

/**
 * Options for {@linkcode retry}.
 *
 * Before retry number `n` (after attempt `n` failed, `n` ≥ 1) it waits
 * `cap(n) × (1 − jitter × random())` milliseconds, where
 * `cap(n) = min(maxDelayMs, initialDelayMs × multiplierⁿ⁻¹)`. Since `random()` lies in [0, 1),
 * the delay lies in `((1 − jitter) × cap(n), cap(n)]`: with the defaults, in (0, 100], (0, 200],
 * (0, 400] and (0, 800] ms before retries 1 to 4, and never above `maxDelayMs`.
 */
export interface RetryOptions {
  /** Attempts in all, the first one included (1 means no retry). @default {5} */
  maxAttempts?: number;
  /** Delay cap before the first retry, in milliseconds (std's `minTimeout`). @default {100} */
  initialDelayMs?: number;
  /** Upper bound of every delay, in milliseconds (std's `maxTimeout`). @default {10_000} */
  maxDelayMs?: number;
  /** Factor by which the delay cap grows from one retry to the next. @default {2} */
  multiplier?: number;
  /** Share of the delay cap that is randomized, in [0, 1]: 0 waits exactly the cap. @default {1} */
  jitter?: number;
  /**
   * Decides whether to retry after attempt number `attempt` failed with `error`. When it returns
   * `false`, {@linkcode retry} throws `error` as it is, without retrying.
   * @default {() => true}
   */
  retryIf?: (error: unknown, attempt: number) => boolean;
  /** Aborting stops the current attempt's wait or delay and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Waits between attempts, injectable for tests; must reject when `signal` aborts. @default {a setTimeout delay} */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of randomness in [0, 1), injectable for tests. @default {Math.random} */
  random?: () => number;
}

/**
 * Thrown by {@linkcode retry} when every attempt failed. `cause` is the last attempt's error.
 *
 * @example Look at the last error
 * ```ts
 * import assert from "node:assert/strict";
 * import { RetryError } from "./retry.ts";
 * const error = new RetryError(new Error("connection refused"), 3);
 * assert.equal(error.message, "Cannot retry: all 3 attempts failed, the last with: connection refused");
 * assert.equal((error.cause as Error).message, "connection refused");
 * ```
 */
export class RetryError extends Error {
  /** How many attempts were made. */
  readonly attempts: number;

  /**
   * Creates the error.
   *
   * @param cause The last attempt's error.
   * @param attempts How many attempts were made.
   */
  constructor(cause: unknown, attempts: number) {
    const last = cause instanceof Error ? cause.message : String(cause);
    const all = attempts === 1 ? "the only attempt" : `all ${attempts} attempts`;
    super(`Cannot retry: ${all} failed, the last with: ${last}`, { cause });
    this.name = "RetryError";
    this.attempts = attempts;
  }
}

function invalid(name: string, rule: string, value: number): RangeError {
  return new RangeError(`Cannot retry as '${name}' must be ${rule}: current value is ${value}`);
}

/**
 * Calls `fn` until it succeeds, waiting longer after each failure (see {@linkcode RetryOptions}
 * for the delay formula). It never retries after `retryIf` returns `false`, and stops as soon as
 * `signal` aborts. Do not wrap an operation that may have had effects (a dial is fine; a forward
 * that already moved bytes is not).
 *
 * @example Dial with backoff
 * ```ts ignore
 * import { retry } from "@ts-tunnel/tunnel/ha";
 * import { NetError } from "@ts-tunnel/tunnel/protocols";
 * const conn = await retry(({ signal }) => tcp.dial(target, { signal }), {
 *   maxAttempts: 4,
 *   retryIf: (error) => error instanceof NetError && error.code === "ECONNREFUSED",
 *   signal: AbortSignal.timeout(10_000),
 * });
 * ```
 *
 * @example Succeed on the third attempt
 * ```ts
 * import assert from "node:assert/strict";
 * import { retry } from "./retry.ts";
 * const delays: number[] = [];
 * const result = await retry(({ attempt }) => {
 *   if (attempt < 3) throw new Error("not yet");
 *   return attempt;
 * }, { jitter: 0, sleep: async (ms) => void delays.push(ms) });
 * assert.equal(result, 3);
 * assert.deepEqual(delays, [100, 200]);
 * ```
 * @param fn The operation; receives the attempt number and the signal.
 * @param options Attempts, backoff, the retry predicate, cancellation, and test hooks.
 * @returns What the first successful attempt returns.
 * @throws {RetryError} If `maxAttempts` attempts failed; its `cause` is the last error.
 * @throws {RangeError} If an option is out of range.
 * @throws {unknown} `signal.reason` once `signal` aborts, or the error for which `retryIf` said no.
 */
export async function retry<T>(
  fn: (context: RetryContext) => T | Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const {
    maxAttempts = DEFAULT_MAX_ATTEMPTS,
    initialDelayMs = DEFAULT_INITIAL_DELAY_MS,
    maxDelayMs = DEFAULT_MAX_DELAY_MS,
    multiplier = DEFAULT_MULTIPLIER,
    jitter = DEFAULT_JITTER,
    retryIf = () => true,
    signal,
    sleep = delay,
    random = Math.random,
  } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw invalid("maxAttempts", "a positive integer", maxAttempts);
  }
  if (!(initialDelayMs >= 0 && initialDelayMs < Infinity)) {
    throw invalid("initialDelayMs", "a finite number >= 0", initialDelayMs);
  }
  if (!(maxDelayMs >= initialDelayMs && maxDelayMs < Infinity)) {
    throw invalid("maxDelayMs", `a finite number >= 'initialDelayMs' (${initialDelayMs})`, maxDelayMs);
  }
  if (!(multiplier >= 1 && multiplier < Infinity)) throw invalid("multiplier", "a finite number >= 1", multiplier);
  if (!(jitter >= 0 && jitter <= 1)) throw invalid("jitter", "between 0 and 1", jitter);

  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await raceAbort(invoke(() => fn({ attempt, signal })), signal);
    } catch (error) {
      signal?.throwIfAborted();
      if (!retryIf(error, attempt)) throw error;
      if (attempt >= maxAttempts) throw new RetryError(error, attempt);
      const cap = initialDelayMs === 0 ? 0 : Math.min(maxDelayMs, initialDelayMs * multiplier ** (attempt - 1));
      await sleep(cap * (1 - jitter * random()), signal);
    }
  }
}
