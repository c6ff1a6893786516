/**
 * Internal: racing a pending operation against an abort signal, and an abortable delay. Both
 * remove their abort listener on every exit path, since thousands of calls share one signal.
 * @module
 */

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
