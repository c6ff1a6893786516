/**
 * Idle reaping for a forwarded pair: samples the byte counters on a timer and reports the pair
 * idle once they have not moved for the whole timeout.
 * @module
 */
import type { ForwardCounters } from "./types.ts";

/** Samples per timeout: a pair is reported idle between 1x and 1.25x the timeout. */
export const IDLE_CHECKS_PER_TIMEOUT = 4;

/** The timer functions {@linkcode IdleWatch} uses; injectable so tests control time. */
export interface IntervalTimer {
  /** Calls `fn` every `ms` milliseconds until cleared. */
  setInterval(fn: () => void, ms: number): unknown;
  /** Stops a timer made by `setInterval`. */
  clearInterval(handle: unknown): void;
}

const GLOBAL_TIMER: IntervalTimer = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/** Watches a pair's counters and calls `onIdle` once when no byte moved for `idleTimeoutMs`. */
export class IdleWatch {
  readonly #counters: ForwardCounters;
  readonly #onIdle: () => void;
  readonly #timer: IntervalTimer;
  #handle: unknown;
  #lastTotal = -1;
  #quietChecks = 0;

  /**
   * Starts watching.
   *
   * @param counters The live counters of the pair.
   * @param idleTimeoutMs Quiet time that counts as idle; must be positive.
   * @param onIdle Called once, when the pair is idle.
   * @param timer The timer functions. @default {the global setInterval/clearInterval}
   */
  constructor(
    counters: ForwardCounters,
    idleTimeoutMs: number,
    onIdle: () => void,
    timer: IntervalTimer = GLOBAL_TIMER,
  ) {
    if (!(idleTimeoutMs > 0)) {
      throw new RangeError(
        `Cannot watch for idleness as 'idleTimeoutMs' must be positive: current value is ${idleTimeoutMs}`,
      );
    }
    this.#counters = counters;
    this.#onIdle = onIdle;
    this.#timer = timer;
    const period = Math.max(1, Math.floor(idleTimeoutMs / IDLE_CHECKS_PER_TIMEOUT));
    this.#handle = timer.setInterval(() => this.#check(), period);
  }

  #check(): void {
    const total = this.#counters.aToB + this.#counters.bToA;
    this.#quietChecks = total === this.#lastTotal ? this.#quietChecks + 1 : 0;
    this.#lastTotal = total;
    if (this.#quietChecks >= IDLE_CHECKS_PER_TIMEOUT) {
      this.stop();
      this.#onIdle();
    }
  }

  /** Stops watching. Idempotent. */
  stop(): void {
    if (this.#handle === undefined) return;
    this.#timer.clearInterval(this.#handle);
    this.#handle = undefined;
  }
}
