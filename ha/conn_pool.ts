/**
 * A pool of pre-dialed upstream connections: a forwarder that hands a client a connection dialed
 * in advance saves the connect round trip (and survives a slow connect). TCP forwarding consumes a
 * connection, so the pool keeps `minIdle` warm connections and refills in the background; a
 * connection is handed out at most once, never returned.
 * @module
 */
import type { Conn } from "../protocols/types.ts";

/** Options for {@linkcode ConnPool}. */
export interface ConnPoolOptions<C extends Conn = Conn> {
  /** Dials one connection. */
  dial: (signal: AbortSignal) => Promise<C>;
  /** Warm connections to keep ready. @default {4} */
  minIdle?: number;
  /** Warm connections kept at most (the pool never holds more). @default {minIdle} */
  maxIdle?: number;
  /** A warm connection older than this is closed instead of handed out. @default {30_000} */
  maxAgeMs?: number;
  /** Liveness check before a warm connection is handed out (e.g. a non-consuming peek). @default {always alive} */
  isAlive?: (conn: C) => boolean;
  /** Delay before the pool tries to refill after a failed dial; doubles up to 30 s. @default {100} */
  refillBackoffMs?: number;
  /** Clock in milliseconds. @default {performance.now} */
  now?: () => number;
}

/** Counters of a {@linkcode ConnPool}. */
export interface ConnPoolStats {
  /** Connections dialed (for the pool or on demand). */
  readonly created: number;
  /** Warm connections handed out. */
  readonly reused: number;
  /** Connections handed out that were dialed on demand (the pool was empty). */
  readonly missed: number;
  /** Warm connections discarded (too old, or not alive). */
  readonly discarded: number;
  /** Warm connections ready now. */
  readonly idle: number;
  /** Dials in flight for the pool. */
  readonly dialing: number;
}

/** Default number of warm connections. */
export const DEFAULT_MIN_IDLE = 4;
/** Default age limit of a warm connection: below common server idle timeouts. */
export const DEFAULT_MAX_AGE_MS = 30_000;
const MAX_REFILL_BACKOFF_MS = 30_000;

/**
 * Pre-dials connections and hands each out once.
 *
 * @example Warm connections to a database
 * ```ts ignore
 * import { ConnPool } from "@ts-tunnel/tunnel/ha";
 * const pool = new ConnPool({ dial: (signal) => tcp.dial({ hostname: "db", port: 5432 }, { signal }), minIdle: 8 });
 * const upstream = await pool.get(); // warm if one was ready, else dialed now
 * ```
 */
export class ConnPool<C extends Conn = Conn> {
  readonly #options: Required<Omit<ConnPoolOptions<C>, "isAlive">> & Pick<ConnPoolOptions<C>, "isAlive">;
  #idle: { conn: C; at: number }[] = [];
  #dialing = 0;
  #closed = false;
  #abort = new AbortController();
  #backoffMs: number;
  #refillTimer?: ReturnType<typeof setTimeout>;
  #stats = { created: 0, reused: 0, missed: 0, discarded: 0 };

  /**
   * Creates the pool and starts filling it.
   *
   * @param options How to dial, how many to keep, and for how long.
   * @throws {RangeError} For a negative `minIdle`, or `maxIdle` below `minIdle`.
   */
  constructor(options: ConnPoolOptions<C>) {
    const {
      dial,
      minIdle = DEFAULT_MIN_IDLE,
      maxIdle = minIdle,
      maxAgeMs = DEFAULT_MAX_AGE_MS,
      isAlive,
      refillBackoffMs = 100,
      now = () => performance.now(),
    } = options;
    if (!Number.isInteger(minIdle) || minIdle < 0) {
      throw new RangeError(
        `Cannot create ConnPool as 'minIdle' must be a non-negative integer: current value is ${minIdle}`,
      );
    }
    if (!Number.isInteger(maxIdle) || maxIdle < minIdle) {
      throw new RangeError(
        `Cannot create ConnPool as 'maxIdle' must be an integer >= minIdle (${minIdle}): current value is ${maxIdle}`,
      );
    }
    this.#options = { dial, minIdle, maxIdle, maxAgeMs, isAlive, refillBackoffMs, now };
    this.#backoffMs = refillBackoffMs;
    this.#refill();
  }

  /**
   * Hands out a warm connection (checked for age and liveness), or dials one now if none is ready.
   *
   * @param options Cancels an on-demand dial.
   * @returns A connection that no one else holds.
   */
  async get(options: { signal?: AbortSignal } = {}): Promise<C> {
    if (this.#closed) throw new TypeError("Cannot get a connection: the pool is closed");
    const warm = this.tryTake();
    if (warm) return warm;
    this.#stats.missed++;
    this.#refill();
    const signal = options.signal ? AbortSignal.any([options.signal, this.#abort.signal]) : this.#abort.signal;
    const conn = await this.#options.dial(signal);
    this.#stats.created++;
    return conn;
  }

  /**
   * Takes a warm connection (checked for age and liveness) if one is ready.
   *
   * @returns The connection, or `undefined` when none is ready.
   */
  tryTake(): C | undefined {
    const { maxAgeMs, isAlive, now } = this.#options;
    while (!this.#closed && this.#idle.length > 0) {
      const { conn, at } = this.#idle.shift()!; // oldest first: it is the likeliest to go stale
      if (now() - at > maxAgeMs || (isAlive && !isAlive(conn))) {
        this.#stats.discarded++;
        conn.close();
        continue;
      }
      this.#stats.reused++;
      this.#refill();
      return conn;
    }
    this.#refill();
    return undefined;
  }

  #refill(): void {
    const { minIdle, maxIdle } = this.#options;
    while (!this.#closed && this.#refillTimer === undefined && this.#idle.length + this.#dialing < minIdle) {
      this.#dialing++;
      this.#options.dial(this.#abort.signal).then((conn) => {
        this.#dialing--;
        this.#stats.created++;
        this.#backoffMs = this.#options.refillBackoffMs;
        if (this.#closed || this.#idle.length >= maxIdle) {
          conn.close();
          return;
        }
        this.#idle.push({ conn, at: this.#options.now() });
      }, () => {
        this.#dialing--;
        if (this.#closed) return;
        // The target is down: wait before trying again, so a dead target costs no dial storm.
        this.#refillTimer ??= setTimeout(() => {
          this.#refillTimer = undefined;
          this.#refill();
        }, this.#backoffMs);
        this.#backoffMs = Math.min(MAX_REFILL_BACKOFF_MS, this.#backoffMs * 2);
      });
    }
  }

  /** A snapshot of the counters. */
  stats(): ConnPoolStats {
    return { ...this.#stats, idle: this.#idle.length, dialing: this.#dialing };
  }

  /** Closes every warm connection and stops refilling. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#refillTimer);
    this.#refillTimer = undefined;
    this.#abort.abort(new TypeError("Cannot dial: the pool is closed"));
    for (const { conn } of this.#idle.splice(0)) conn.close();
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
