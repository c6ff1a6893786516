/**
 * Internal: racing pending resources against an abort signal without leaking them.
 * @module
 */

/** Races `pending` against `signal`; a resource that arrives after the abort is closed, not leaked. */
export async function closeIfLate<T extends { close(): void }>(
  pending: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal) return await pending;
  if (signal.aborted) {
    pending.then((late) => late.close(), () => {});
    throw signal.reason;
  }
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([pending, aborted]);
  } catch (error) {
    pending.then((late) => late.close(), () => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** True if `error` is the reason of a timeout signal (a `TimeoutError` DOMException). */
export function isTimeoutReason(error: unknown): boolean {
  return error instanceof Error && error.name === "TimeoutError";
}

/** True if `error` is `signal`'s reason and the abort was not a timeout (cancellations pass through unmapped). */
export function isCancellation(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal !== undefined && signal.aborted && error === signal.reason && !isTimeoutReason(error);
}
