/**
 * Internal: racing pending resources and operations against an abort signal and a deadline
 * without leaking them.
 * @module
 */

/** Options for {@linkcode closeIfLate}. */
export interface LateOptions {
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Rejects with a `TimeoutError` after this many milliseconds (the timer is cleared on settle). */
  timeoutMs?: number;
}

/**
 * Races `pending` against `signal` and a deadline; a resource that arrives after either is
 * closed, not leaked. Uses one clearable timer (not `AbortSignal.timeout`, whose timer lives on
 * until it fires: thousands of connections would each leave one behind).
 */
export async function closeIfLate<T extends { close(): void }>(
  pending: Promise<T>,
  options: LateOptions = {},
): Promise<T> {
  const { signal, timeoutMs } = options;
  if (!signal && !(timeoutMs !== undefined && timeoutMs > 0)) return await pending;
  if (signal?.aborted) {
    pending.then((late) => late.close(), () => {});
    throw signal.reason;
  }
  const { promise: stopped, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeoutMs !== undefined && timeoutMs > 0
    ? setTimeout(() => reject(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError")), timeoutMs)
    : undefined;
  try {
    return await Promise.race([pending, stopped]);
  } catch (error) {
    pending.then((late) => late.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** True if `error` is the reason of a timeout (a `TimeoutError` DOMException). */
export function isTimeoutReason(error: unknown): boolean {
  return error instanceof Error && error.name === "TimeoutError" ||
    (typeof DOMException !== "undefined" && error instanceof DOMException && error.name === "TimeoutError");
}

/** True if `error` is `signal`'s reason and the abort was not a timeout (cancellations pass through unmapped). */
export function isCancellation(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted && error === signal.reason && !isTimeoutReason(error);
}

/**
 * Settles like `pending`, or rejects with `signal.reason` as soon as `signal` aborts. A late
 * rejection of `pending` is swallowed (it has no one left to report to).
 *
 * @param pending The operation in flight.
 * @param signal Aborting stops the wait (not the operation, which should watch the same signal).
 * @returns What `pending` resolves to.
 */
export async function raceAbort<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await pending;
  if (signal.aborted) {
    pending.catch(() => {});
    throw signal.reason;
  }
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([pending, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
    pending.catch(() => {});
  }
}
