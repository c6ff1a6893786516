/**
 * Internal: a latency-steered byte rate for the bulk streams of one QUIC tunnel session (sender
 * side; see `stream_pacing.ts` for the wiring and docs/PROTOCOL.md section 7.2).
 *
 * While the session writes interactive bursts beside bulk ones (an interactive write of another
 * stream within {@linkcode PACING_HOLD_MS}), the bulk streams share one token bucket. Its rate follows the round
 * trip of probes sent beside the bulk data, like the mux's window ({@linkcode BulkPacer}): under
 * the target (the smallest round trip seen, plus as much again, at least
 * {@linkcode MIN_QUEUE_DELAY_MS}) it grows by {@linkcode RATE_STEP_BYTES_PER_MS} per sample; above
 * it, it shrinks by a third. A sample counts as the smaller of it and the one before, since a queue
 * shows in consecutive round trips and one late answer (the machine was busy) does not; after a
 * decrease, the next sample does not decrease again. Every {@linkcode PROBE_EVERY_MS} the bulk streams pause for a few
 * samples so the smallest round trip is measured on empty queues. A rate rather than a window:
 * QUIC's flow control is not ours to read, and spreading the bulk bytes evenly keeps the
 * receiver's UDP queue short between samples.
 * @module
 */
import { MIN_QUEUE_DELAY_MS, PACING_HOLD_MS, PING_GIVE_UP_MS, PING_SPACING_MS, PROBE_EVERY_MS } from "./_mux_pacer.ts";

/** The rate pacing starts at, in bytes per millisecond (64 MB/s). */
export const START_RATE_BYTES_PER_MS = 64 * 1024;
/** Growth of the rate per sample under the target, in bytes per millisecond. */
export const RATE_STEP_BYTES_PER_MS = 16 * 1024;
/** The rate never drops below this, in bytes per millisecond (8 MB/s), so paced streams keep moving. */
export const MIN_RATE_BYTES_PER_MS = 8 * 1024;
/** The rate never grows past this (16 GB/s: not a limit in practice). */
const MAX_RATE_BYTES_PER_MS = 16 * 1024 * 1024;
/** Factor applied to the rate per sample over the target. */
const DECREASE_FACTOR = 2 / 3;
/** Samples taken with the bulk streams paused, every {@linkcode PROBE_EVERY_MS}. */
const DRAIN_SAMPLES = 3;
/** Unused budget kept for later, in milliseconds of the rate (timers fire late; a burst stays short). */
const BUDGET_MS = 2;
/** Budget always allowed to build up, in bytes (one read of a busy stream). */
const MIN_BUDGET_BYTES = 64 * 1024;

/** The pacing state of one session. */
export class BulkRatePacer {
  /** Bytes per millisecond the paced streams may write together: `Infinity` while not pacing, 0 while draining. */
  rate = Infinity;
  /** The rate to go back to after a drain. */
  #resumeRate = START_RATE_BYTES_PER_MS;
  /** Budget in bytes; negative: a debt the next writes wait for. */
  #tokens = 0;
  #refilledAt = 0;
  /**
   * Streams (open or ended) whose last write was interactive, with its time (ms), oldest first;
   * `#prune` drops those older than the hold.
   */
  readonly #interactive = new Map<unknown, number>();
  #minRtt = Infinity;
  #lastDrain = -Infinity;
  #drainLeft = 0;
  #pingSentAt = -Infinity;
  #pingOutstanding = false;
  /** The sample before this one (the decisions use the smaller of the two). */
  #previousRtt = Infinity;
  #justDecreased = false;

  /** `stream` writes an interactive burst at `now` (ms). */
  noteInteractive(stream: unknown, now: number): void {
    this.#interactive.delete(stream); // re-inserted last: the map stays in time order
    this.#interactive.set(stream, now);
  }

  /**
   * `stream` turned bulk: its interactive writes no longer pace the others (the first bytes of a
   * transfer count as interactive; several transfers starting together must not pace each other).
   * A stream that ended keeps counting until the hold passes.
   */
  forget(stream: unknown): void {
    this.#interactive.delete(stream);
  }

  /** Drops streams whose last interactive write is older than the hold at `now` (oldest first: they lead the map). */
  #prune(now: number): void {
    for (const [stream, at] of this.#interactive) {
      if (now - at <= PACING_HOLD_MS) return;
      this.#interactive.delete(stream);
    }
  }

  /**
   * True when a bulk write of `stream` at `now` (ms) is paced: another stream wrote interactive
   * bytes within {@linkcode PACING_HOLD_MS} (a stream's own first burst never paces it, so a
   * transfer alone is never paced). Pacing starts with the first such write.
   */
  pacesWrite(stream: unknown, now: number): boolean {
    this.#prune(now);
    const others = this.#interactive.size - (this.#interactive.has(stream) ? 1 : 0);
    if (others === 0) return false;
    if (this.rate === Infinity) {
      this.rate = this.#resumeRate = START_RATE_BYTES_PER_MS;
      this.#tokens = MIN_BUDGET_BYTES;
      this.#refilledAt = now;
    }
    return true;
  }

  /** True while bulk writes wait for the budget. */
  get pacing(): boolean {
    return this.rate !== Infinity;
  }

  /**
   * Takes `bytes` from the budget at `now` (ms) if there is any left.
   * @returns 0 when the bytes may go now (and were taken), else the milliseconds until there is
   * budget again (`Infinity` while draining: until the next sample).
   */
  take(bytes: number, now: number): number {
    if (this.rate === Infinity) return 0;
    if (this.rate === 0) return Infinity;
    this.#refill(now);
    if (this.#tokens <= 0) return -this.#tokens / this.rate || Number.MIN_VALUE;
    this.#tokens -= bytes;
    return 0;
  }

  /**
   * Bulk bytes go out at `now` (ms). Returns true when the caller should send a probe now (and then
   * report its round trip with {@linkcode BulkRatePacer.sample}).
   */
  wantPing(now: number): boolean {
    this.expire(now);
    if (this.rate === Infinity) return false;
    if (this.#pingOutstanding && now - this.#pingSentAt < PING_GIVE_UP_MS) return false;
    if (now - this.#pingSentAt < PING_SPACING_MS) return false;
    this.#pingOutstanding = true;
    this.#pingSentAt = now;
    return true;
  }

  /** The rate at `now` (ms) as {@linkcode BulkRatePacer.expire} would leave it, without ending pacing. */
  rateAt(now: number): number {
    this.#prune(now);
    return this.#interactive.size === 0 ? Infinity : this.rate;
  }

  /** Ends pacing if no interactive burst was written for {@linkcode PACING_HOLD_MS} before `now` (ms). */
  expire(now: number): void {
    this.#prune(now);
    if (this.rate !== Infinity && this.#interactive.size === 0) this.#stop();
  }

  /** A probe came back after `rttMs`, at `now` (ms). */
  sample(rttMs: number, now: number): void {
    this.#pingOutstanding = false;
    if (this.rate === Infinity) return;
    if (rttMs < this.#minRtt) this.#minRtt = rttMs;
    if (this.#drainLeft > 0) {
      if (--this.#drainLeft === 0) {
        this.#previousRtt = rttMs; // a bare round trip: a late answer right after the drain does not cut
        this.rate = this.#resumeRate;
        this.#tokens = 0;
        this.#refilledAt = now;
      }
      return;
    }
    this.#refill(now);
    if (now - this.#lastDrain >= PROBE_EVERY_MS) { // the queues empty while paused; the next samples see the bare round trip
      this.#lastDrain = now;
      this.#drainLeft = DRAIN_SAMPLES;
      this.#minRtt = rttMs;
      this.#resumeRate = this.rate;
      this.rate = 0;
      return;
    }
    // A queue shows in consecutive samples; one late answer (the machine was busy) does not.
    const delay = Math.min(rttMs, this.#previousRtt);
    this.#previousRtt = rttMs;
    const target = this.#minRtt + Math.max(this.#minRtt, MIN_QUEUE_DELAY_MS);
    const justCut = this.#justDecreased; // the sample that caused a cut is still in `delay`
    this.#justDecreased = false;
    if (delay <= target) this.rate = Math.min(MAX_RATE_BYTES_PER_MS, this.rate + RATE_STEP_BYTES_PER_MS);
    else if (!justCut) {
      this.rate = Math.max(MIN_RATE_BYTES_PER_MS, this.rate * DECREASE_FACTOR);
      this.#justDecreased = true;
    }
  }

  /**
   * The probe failed or was given up at `now` (ms): nothing is outstanding any more, and a drain
   * ends (without answers it would never end), back to the rate before it.
   */
  lost(now: number): void {
    this.#pingOutstanding = false;
    if (this.#drainLeft > 0) {
      this.#drainLeft = 0;
      this.rate = this.#resumeRate;
      this.#tokens = 0;
      this.#refilledAt = now;
    }
  }

  #refill(now: number): void {
    if (this.rate > 0 && this.rate !== Infinity) {
      const budget = Math.max(MIN_BUDGET_BYTES, this.rate * BUDGET_MS);
      this.#tokens = Math.min(budget, this.#tokens + (now - this.#refilledAt) * this.rate);
    }
    this.#refilledAt = now;
  }

  #stop(): void {
    this.rate = Infinity;
    this.#minRtt = Infinity;
    this.#lastDrain = -Infinity;
    this.#drainLeft = 0;
    this.#previousRtt = Infinity;
    this.#justDecreased = false;
  }
}
