/**
 * Internal: latency-aware pacing of bulk streams on a mux session (sender side, not on the wire).
 *
 * Flow control lets a bulk stream keep its whole window (256 KiB) in flight. When the receiving
 * process is the slowest stage, those bytes wait in its socket's receive queue, and an
 * interactive stream's next frame queues behind them: at 4 Gbit/s, 256 KiB is half a millisecond
 * per hop. While a session carries both kinds of traffic (an interactive frame was sent within
 * {@linkcode PACING_HOLD_MS}), the pacer limits the bytes each bulk stream may have in flight,
 * steered by the round-trip time of `PING` frames sent beside the bulk data: below the target
 * (the session's smallest round trip, plus as much again, at least {@linkcode MIN_QUEUE_DELAY_MS})
 * the limit grows by one frame per sample; above it, it shrinks by a third. Every
 * {@linkcode PROBE_EVERY_MS} it drops to the floor for a few samples so the smallest round trip
 * is measured on an empty queue. A session with bulk traffic only is never paced, so a lone
 * transfer keeps its full window.
 * @module
 */

/** How long pacing lasts after the last interactive frame, in milliseconds. */
export const PACING_HOLD_MS = 1_000;
/** Queueing delay the pacer always allows, in milliseconds (loopback round trips are ~0.1 ms). */
export const MIN_QUEUE_DELAY_MS = 0.1;
/** Interval between empty-queue probes of the smallest round trip, in milliseconds. */
export const PROBE_EVERY_MS = 2_000;
/** Samples taken at the floor during a probe. */
const PROBE_SAMPLES = 3;
/** Shortest interval between two pacing pings, in milliseconds. */
export const PING_SPACING_MS = 1;
/** A pacing ping unanswered this long is given up (a peer of an earlier build answers only its newest PING). */
export const PING_GIVE_UP_MS = 1_000;
/** Growth of the limit per sample under the target, in bytes (one DATA frame). */
const INCREASE_BYTES = 16 * 1024;
/** Factor applied to the limit per sample over the target. */
const DECREASE_FACTOR = 2 / 3;
/** The limit never grows past this (the largest window a peer may grant). */
const MAX_LIMIT_BYTES = 16 * 1024 * 1024;

/** The pacing state of one session. */
export class BulkPacer {
  /** Bytes each bulk stream may have in flight; `Infinity` while not pacing. */
  limit = Infinity;
  #lastInteractive = -Infinity;
  /** The stream that sent the last interactive frame: a bulk stream whose source paused is not paced for it. */
  #interactiveStream = -1;
  #minRtt = Infinity;
  #lastProbe = -Infinity;
  #probeLeft = 0;
  #pingSentAt = -Infinity;
  #pingOutstanding = false;

  /** True while the session paces its bulk streams. */
  get pacing(): boolean {
    return this.limit !== Infinity;
  }

  /** Stream `id` sends an interactive frame at `now` (ms): pacing starts, or goes on. */
  noteInteractive(id: number, now: number): void {
    this.#lastInteractive = now;
    this.#interactiveStream = id;
    if (this.limit === Infinity) this.limit = MAX_LIMIT_BYTES;
  }

  /** The in-flight limit for bulk stream `id` (`Infinity` while not pacing, or for the stream being waited for). */
  limitFor(id: number): number {
    return id === this.#interactiveStream ? Infinity : this.limit;
  }

  /**
   * Bulk frames go out at `now` (ms). Returns true when the caller should send a pacing `PING`
   * now (and then report its round trip with {@linkcode BulkPacer.sample}).
   */
  wantPing(now: number): boolean {
    if (this.limit === Infinity) return false;
    if (now - this.#lastInteractive > PACING_HOLD_MS) {
      this.#stop();
      return false;
    }
    if (this.#pingOutstanding && now - this.#pingSentAt < PING_GIVE_UP_MS) return false;
    if (now - this.#pingSentAt < PING_SPACING_MS) return false;
    this.#pingOutstanding = true;
    this.#pingSentAt = now;
    return true;
  }

  /** A pacing `PING` came back after `rttMs`, at `now` (ms). */
  sample(rttMs: number, now: number): void {
    this.#pingOutstanding = false;
    if (this.limit === Infinity) return;
    if (rttMs < this.#minRtt) this.#minRtt = rttMs;
    if (this.#probeLeft > 0) {
      this.#probeLeft--;
      return;
    }
    if (now - this.#lastProbe >= PROBE_EVERY_MS) { // the queue drains at the floor; the next samples see the bare round trip
      this.#lastProbe = now;
      this.#probeLeft = PROBE_SAMPLES;
      this.#minRtt = rttMs;
      this.limit = 0;
      return;
    }
    const target = this.#minRtt + Math.max(this.#minRtt, MIN_QUEUE_DELAY_MS);
    this.limit = rttMs > target
      ? Math.floor(this.limit * DECREASE_FACTOR)
      : Math.min(MAX_LIMIT_BYTES, this.limit + INCREASE_BYTES);
  }

  /** The pacing `PING` failed (session closing): nothing is outstanding any more. */
  lost(): void {
    this.#pingOutstanding = false;
  }

  #stop(): void {
    this.limit = Infinity;
    this.#minRtt = Infinity;
    this.#lastProbe = -Infinity;
    this.#probeLeft = 0;
  }
}
