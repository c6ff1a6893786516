/**
 * Internal: racing a pending operation against an abort signal (shared with protocols/), and an
 * abortable delay. Both remove their abort listener on every exit path, since thousands of calls
 * share one signal.
 * @module
 */
export { raceAbort } from "../protocols/_abort.ts";

/**
 * Calls `fn` and returns its result as a promise; a synchronous throw becomes a rejection.
 *
 * @param fn The operation.
 * @returns `fn`'s result.
 */
export function invoke<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Resolves after `ms` milliseconds; rejects with `signal.reason` (and clears the timer) when
 * `signal` aborts first.
 *
 * @param ms How long to wait.
 * @param signal Cancels the wait.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
