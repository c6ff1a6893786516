/**
 * Internal: the memory the owned-sockets forwarder's main thread and its Worker share, and what is
 * posted to the Worker at start.
 *
 * - `control` (Int32): the command the main thread gives ({@linkcode CMD_DRAIN}, {@linkcode CMD_CLOSE}),
 *   the target address's sequence number and length, and the statistics' sequence number.
 * - `target` (Uint8): the encoded target address, written by the main thread under
 *   `CTL_TARGET_SEQ` (odd while it writes: a seqlock).
 * - `stats` (Float64): the totals, written by the Worker only; the byte totals of ended connections
 *   and the per-slot `counters` move under `CTL_STATS_SEQ` (odd while they move), so a reader that
 *   adds the totals to the live slots' counters never counts a byte twice.
 * - `counters` (Float64): per slot, bytes client→target, bytes target→client, pauses (the splice
 *   core's layout), written by the Worker only.
 * @module
 */
import type { TcpSocketOptions } from "./socket_options.ts";

/** `control` index: a `CMD_*` value, set by the main thread before it wakes the Worker. */
export const CTL_COMMAND = 0;
/** `control` index: the target's seqlock (odd while the main thread writes `target`). */
export const CTL_TARGET_SEQ = 1;
/** `control` index: valid bytes in `target`. */
export const CTL_TARGET_LENGTH = 2;
/** `control` index: the statistics' seqlock (odd while the Worker moves bytes into the totals). */
export const CTL_STATS_SEQ = 3;
/** `control` index: one more than the highest slot ever used (the main thread sums counters below it). */
export const CTL_SLOTS_USED = 4;
/** Length of `control`. */
export const CONTROL_LENGTH = 8;

/** Command: keep serving. */
export const CMD_RUN = 0;
/** Command: close the listening socket, let the connections end by themselves. */
export const CMD_DRAIN = 1;
/** Command: close every connection and stop. */
export const CMD_CLOSE = 2;

/** `stats` index: connections being connected or forwarded. */
export const ST_ACTIVE = 0;
/** `stats` index: connections accepted (refused ones included). */
export const ST_ACCEPTED = 1;
/** `stats` index: connections closed at once because `maxConnections` were active (or while draining). */
export const ST_REFUSED = 2;
/** `stats` index: connections that ended with an error (connect failures included). */
export const ST_ERRORS = 3;
/** `stats` index: target connections that failed (refused, unreachable, timed out). */
export const ST_CONNECT_ERRORS = 4;
/** `stats` index: connections closed by the idle timeout. */
export const ST_IDLE_TIMEOUTS = 5;
/** `stats` index: bytes client→target of the connections that ended. */
export const ST_BYTES_UP = 6;
/** `stats` index: bytes target→client of the connections that ended. */
export const ST_BYTES_DOWN = 7;
/** `stats` index: connections whose target connect is in progress. */
export const ST_CONNECTING = 8;
/** `stats` index: pipes holding bytes in flight. */
export const ST_PIPES_IN_USE = 9;
/** `stats` index: failed `accept4` calls other than `EAGAIN` (`EMFILE`, `ENFILE`, `ENOBUFS`, …). */
export const ST_ACCEPT_ERRORS = 10;
/** `stats` index: the errno of the last failed target connect (`ECONNREFUSED`, `ETIMEDOUT`, …). */
export const ST_LAST_CONNECT_ERRNO = 11;
/** `stats` index: 1 while the listening socket is open, 0 once it was closed (draining or closed). */
export const ST_LISTENING = 12;
/** Length of `stats`. */
export const STATS_LENGTH = 16;

/** `counters` entries per slot (the splice core's layout): up, down, pauses. */
export const COUNTER_STRIDE = 3;

/** Everything the Worker needs; posted as `workerData` (the buffers are shared, not copied). */
export interface OwnedShared {
  /** The listening socket (nonblocking, listening already). */
  readonly listenFd: number;
  /** The eventfd the main thread writes to wake the loop. */
  readonly wakeFd: number;
  /** Slots: the most connections at once. */
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly pipeSize: number;
  readonly maxPooledPipes: number;
  /** Applied to each target socket before `connect` (accepted sockets inherit the listener's). */
  readonly connectOptions: TcpSocketOptions;
  readonly control: SharedArrayBuffer;
  readonly target: SharedArrayBuffer;
  readonly stats: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
}

/** Reads a seqlock-protected value: retries while `seq` is odd or moved, at most `tries` times. */
export function readConsistent<T>(control: Int32Array, seq: number, read: () => T, tries = 1000): T {
  let value = read();
  for (let i = 0; i < tries; i++) {
    const before = Atomics.load(control, seq);
    if (before & 1) continue;
    value = read();
    if (Atomics.load(control, seq) === before) return value;
  }
  return value;
}
