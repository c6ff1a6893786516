/**
 * Internal: racing pending resources and operations against an abort signal and a deadline
 * without leaking them.
 * @module
 */

/** Options for {@linkcode closeIfLate}. */
export interface LateOptions {
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Rejects with a `TimeoutError` after this many milliseconds. 0, a negative value, `Infinity` or
   * more than 2^31 - 1 (a timer's limit, about 24.8 days) set no deadline.
   */
  timeoutMs?: number;
}

/**
 * Races `pending` against `signal` and a deadline; a resource that arrives after either is
 * closed, not leaked. The deadline costs no timer of its own: deadlines of the same length share
 * one (see {@linkcode DeadlineQueue}), so thousands of dials a second arm a timer now and then,
 * not each time (and none is left behind, unlike `AbortSignal.timeout`).
 */
export function closeIfLate<T extends { close(): void }>(
  pending: Promise<T>,
  options: LateOptions = {},
): Promise<T> {
  const { signal, timeoutMs } = options;
  // Past the largest timer delay (about 24.8 days) a deadline is none: timers cannot wait longer.
  const timed = timeoutMs !== undefined && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS;
  if (!signal && !timed) return pending;
  if (signal?.aborted) {
    pending.then((late) => late.close(), () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const race = new LateRace<T>(resolve, reject, signal);
    if (timed) deadlineQueue(timeoutMs).add(race);
    signal?.addEventListener("abort", race, { once: true });
    pending.then((value) => race.settle(value), (error) => race.fail(error));
  });
}

/** An entry of a {@linkcode DeadlineQueue}. */
interface Deadline {
  /** Neighbours in the queue, while queued. */
  prev: Deadline | undefined;
  next: Deadline | undefined;
  /** The queue it waits in; `undefined` once it left. */
  queue: DeadlineQueue | undefined;
  /** When it expires (`performance.now()` time). */
  at: number;
  /** Called once when it expires (it has left the queue), with the queue's length. */
  expire(ms: number): void;
}

/**
 * Deadlines of one length in a list, in the order they started, so the head expires first; one
 * timer, set for the head, serves them all. A deadline that settles first leaves the list at once;
 * the timer then fires early (for a head that left) and is set again for the new head. It is
 * cleared when the list empties, so nothing outlives the last deadline.
 */
class DeadlineQueue {
  readonly ms: number;
  #head: Deadline | undefined;
  #tail: Deadline | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #fire = (): void => this.#expire();

  constructor(ms: number) {
    this.ms = ms;
  }

  add(entry: Deadline): void {
    entry.at = performance.now() + this.ms;
    entry.queue = this;
    entry.prev = this.#tail;
    entry.next = undefined;
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
    this.#timer ??= setTimeout(this.#fire, this.ms);
  }

  remove(entry: Deadline): void {
    if (entry.queue !== this) return;
    entry.queue = undefined;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = entry.next = undefined;
    if (this.#head === undefined) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      deadlineQueues.delete(this.ms); // callers with many different lengths leave nothing behind
    }
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    let head = this.#head;
    while (head !== undefined && head.at <= now) {
      this.remove(head);
      head.expire(this.ms);
      head = this.#head;
    }
    if (head !== undefined) this.#timer ??= setTimeout(this.#fire, Math.max(1, head.at - now));
  }
}

/** The largest delay `setTimeout` takes (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const deadlineQueues = new Map<number, DeadlineQueue>();

/** The shared queue for deadlines of `ms` milliseconds. */
function deadlineQueue(ms: number): DeadlineQueue {
  let queue = deadlineQueues.get(ms);
  if (!queue) deadlineQueues.set(ms, queue = new DeadlineQueue(ms));
  return queue;
}

/** One {@linkcode closeIfLate} call: settles once; a value that comes after that is closed. */
class LateRace<T extends { close(): void }> implements Deadline, EventListenerObject {
  prev: Deadline | undefined;
  next: Deadline | undefined;
  queue: DeadlineQueue | undefined;
  at = 0;
  #resolve: (value: T) => void;
  #reject: (reason: unknown) => void;
  #signal: AbortSignal | undefined;
  #done = false;

  constructor(resolve: (value: T) => void, reject: (reason: unknown) => void, signal: AbortSignal | undefined) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#signal = signal;
  }

  settle(value: T): void {
    if (this.#done) return value.close(); // it came too late
    this.#finish();
    this.#resolve(value);
  }

  fail(error: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#reject(error);
  }

  expire(ms: number): void {
    this.fail(new DOMException(`Timed out after ${ms} ms`, "TimeoutError"));
  }

  /** The signal aborted. */
  handleEvent(): void {
    this.fail(this.#signal!.reason);
  }

  #finish(): void {
    this.#done = true;
    this.queue?.remove(this);
    this.#signal?.removeEventListener("abort", this);
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
