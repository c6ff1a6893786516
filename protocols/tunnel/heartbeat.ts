/**
 * Heartbeats on the control channel (docs/PROTOCOL.md section 7): a `ping` every interval, and
 * the session is declared dead after a number of pings in a row went unanswered.
 * @module
 */

/** Default interval between pings, in milliseconds. */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Default number of unanswered pings that end a session. */
export const DEFAULT_HEARTBEAT_MISSES = 3;

/** Where heartbeats travel. */
export type HeartbeatPath = "datagram" | "control";

/** A session's heartbeat counters. */
export interface HeartbeatStats {
  /** `datagram` (QUIC DATAGRAM frames) or `control` (control-channel `ping`/`pong`). */
  readonly path: HeartbeatPath;
  /** Pings sent. */
  readonly pingsSent: number;
  /** Answers to our pings that counted. */
  readonly pongsReceived: number;
  /** The peer's pings we answered. */
  readonly pingsAnswered: number;
  /** Datagrams ignored: wrong size or type, or a pong with a wrong tag or an unknown `seq`. */
  readonly garbage: number;
  /** Round-trip time of the latest answered ping, in milliseconds. */
  readonly lastRttMs: number | undefined;
}

/** Options for {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  /** Time between pings. @default {5000} */
  intervalMs?: number;
  /** Unanswered pings in a row that declare the peer dead. @default {3} */
  misses?: number;
  /** Sends one ping; a rejection counts as a miss. */
  sendPing(seq: number, sentAt: number): Promise<void> | void;
  /** Called once, when the peer is declared dead. */
  onDead(missed: number): void;
  /** Clock in milliseconds. @default {Date.now} */
  now?: () => number;
}

/** Sends pings on a timer and watches the pongs. */
export class Heartbeat {
  readonly #options: Required<Omit<HeartbeatOptions, "now">> & { now: () => number };
  #timer: ReturnType<typeof setInterval> | undefined;
  #seq = 0;
  #answered = 0;
  #lastRttMs: number | undefined;
  #sentAt = new Map<number, number>();

  /**
   * Starts sending pings.
   *
   * @param options Interval, misses and the callbacks.
   * @throws {RangeError} If the interval or the miss count is not a positive integer.
   */
  constructor(options: HeartbeatOptions) {
    const { intervalMs = DEFAULT_HEARTBEAT_MS, misses = DEFAULT_HEARTBEAT_MISSES, now = Date.now } = options;
    for (const [name, value] of [["intervalMs", intervalMs], ["misses", misses]] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(
          `Cannot start heartbeats as '${name}' must be a positive integer: current value is ${value}`,
        );
      }
    }
    this.#options = { ...options, intervalMs, misses, now };
    this.#timer = setInterval(() => this.#tick(), intervalMs);
  }

  /** The round-trip time of the latest answered ping, in milliseconds. */
  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  /** Pings sent since the last answer. */
  get outstanding(): number {
    return this.#seq - this.#answered;
  }

  #tick(): void {
    if (this.outstanding >= this.#options.misses) {
      const missed = this.outstanding;
      this.stop();
      this.#options.onDead(missed);
      return;
    }
    const seq = ++this.#seq;
    const sentAt = this.#options.now();
    this.#sentAt.set(seq, sentAt);
    if (this.#sentAt.size > this.#options.misses + 1) this.#sentAt.delete(this.#sentAt.keys().next().value!);
    try {
      Promise.resolve(this.#options.sendPing(seq, sentAt)).catch(() => {});
    } catch { /* a failed send counts as a miss */ }
  }

  /**
   * Records a `pong`. An answer to any ping clears every earlier miss; unknown numbers are ignored.
   *
   * @param seq The answered ping's number.
   * @returns Whether `seq` names a ping that was sent.
   */
  pong(seq: number): boolean {
    if (!Number.isInteger(seq) || seq < 1 || seq > this.#seq) return false;
    const sentAt = this.#sentAt.get(seq);
    if (sentAt !== undefined) this.#lastRttMs = this.#options.now() - sentAt;
    this.#answered = Math.max(this.#answered, seq);
    return true;
  }

  /** Stops the timer. Idempotent. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
