/**
 * A resource monitor: samples memory, open file descriptors and event-loop lag on an interval,
 * keeps the latest snapshot for `/status`, and reports when a soft limit is crossed.
 * @module
 */
import { readdirSync } from "node:fs";
import process from "node:process";

/** One sample. */
export interface ResourceSnapshot {
  /** When it was taken (ms since the epoch). */
  readonly at: number;
  /** Resident set size, in bytes. */
  readonly rssBytes: number;
  /** JS heap in use, in bytes. */
  readonly heapUsedBytes: number;
  /** Open file descriptors (Linux: entries of /proc/self/fd), or -1 where unknown. */
  readonly openFds: number;
  /** How late the sampling timer fired, in milliseconds: event-loop lag. */
  readonly eventLoopLagMs: number;
}

/** Soft limits; crossing one calls `onLimit`. */
export interface ResourceLimits {
  /** Resident set size. */
  readonly maxRssBytes?: number;
  /** Open file descriptors. */
  readonly maxOpenFds?: number;
  /** Event-loop lag. */
  readonly maxEventLoopLagMs?: number;
}

/** Options for {@linkcode ResourceMonitor}. */
export interface ResourceMonitorOptions {
  /** Time between samples. @default {5_000} */
  intervalMs?: number;
  /** Soft limits. @default {none} */
  limits?: ResourceLimits;
  /** Called with the limit's name and the snapshot, once per sample that exceeds it. */
  onLimit?: (limit: keyof ResourceLimits, snapshot: ResourceSnapshot) => void;
}

function countFds(): number {
  try {
    return readdirSync("/proc/self/fd").length - 1; // minus the fd readdir itself opened
  } catch {
    return -1;
  }
}

/** Takes one sample now (event-loop lag is 0: it is measured between timer ticks). */
export function sampleResources(eventLoopLagMs = 0): ResourceSnapshot {
  const memory = process.memoryUsage();
  return { at: Date.now(), rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, openFds: countFds(), eventLoopLagMs };
}

/**
 * Samples resources on an interval. The timer does not keep the process alive.
 *
 * @example
 * ```ts
 * import { ResourceMonitor } from "./resource_monitor.ts";
 * using monitor = new ResourceMonitor({ intervalMs: 1_000, limits: { maxOpenFds: 10_000 } });
 * console.assert(monitor.latest.rssBytes > 0);
 * ```
 */
export class ResourceMonitor implements Disposable {
  #latest: ResourceSnapshot;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #options: Required<Omit<ResourceMonitorOptions, "onLimit">> & Pick<ResourceMonitorOptions, "onLimit">;

  /**
   * Takes a first sample and starts the interval.
   *
   * @param options Interval, limits and the callback.
   * @throws {RangeError} If `intervalMs` is not a positive integer.
   */
  constructor(options: ResourceMonitorOptions = {}) {
    const { intervalMs = 5_000, limits = {}, onLimit } = options;
    if (!Number.isInteger(intervalMs) || intervalMs <= 0) {
      throw new RangeError(
        `Cannot create ResourceMonitor as 'intervalMs' must be a positive integer: current value is ${intervalMs}`,
      );
    }
    this.#options = { intervalMs, limits, onLimit };
    this.#latest = sampleResources();
    this.#schedule();
  }

  #schedule(): void {
    const due = performance.now() + this.#options.intervalMs;
    this.#timer = setTimeout(() => {
      this.#latest = sampleResources(Math.max(0, performance.now() - due));
      this.#check(this.#latest);
      this.#schedule();
    }, this.#options.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #check(snapshot: ResourceSnapshot): void {
    const { limits, onLimit } = this.#options;
    if (!onLimit) return;
    const over: (keyof ResourceLimits)[] = [];
    if (limits.maxRssBytes !== undefined && snapshot.rssBytes > limits.maxRssBytes) over.push("maxRssBytes");
    if (limits.maxOpenFds !== undefined && snapshot.openFds > limits.maxOpenFds) over.push("maxOpenFds");
    if (limits.maxEventLoopLagMs !== undefined && snapshot.eventLoopLagMs > limits.maxEventLoopLagMs) {
      over.push("maxEventLoopLagMs");
    }
    for (const limit of over) {
      try {
        onLimit(limit, snapshot);
      } catch { /* a throwing callback must not stop the monitor */ }
    }
  }

  /** The latest sample. */
  get latest(): ResourceSnapshot {
    return this.#latest;
  }

  /** Stops sampling. Idempotent. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Same as `stop()`. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
