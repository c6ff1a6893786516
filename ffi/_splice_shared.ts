/**
 * Internal: the memory the splice engine's main thread and its epoll loop share (the loop runs in a
 * Worker, or on the main thread on Deno), and how commands and completions are encoded.
 *
 * - `control` (Int32): loop state, the command ring's head and tail, and live statistics.
 * - `ring` (Int32): commands, `(slot << 2) | op`, written by the main thread only (one producer, one
 *   consumer). A slot has at most two commands outstanding (add, cancel), so a ring of
 *   `2 * maxPairs + 8` entries never overflows.
 * - `params` (Int32): per slot, the two socket fds the loop owns (duplicates) and the idle timeout.
 * - `counters` (Float64): per slot, bytes A→B, bytes B→A and pauses, written by the loop only.
 * @module
 */

/** `control` index: {@linkcode LOOP_IDLE}, {@linkcode LOOP_RUNNING} or {@linkcode LOOP_STOPPED}. */
export const CTL_STATE = 0;
/** `control` index: commands written (the main thread's cursor). */
export const CTL_HEAD = 1;
/** `control` index: commands taken (the loop's cursor). */
export const CTL_TAIL = 2;
/** `control` index: pairs the loop is moving. */
export const CTL_LIVE = 3;
/** `control` index: pipes holding bytes in flight. */
export const CTL_PIPES_IN_USE = 4;
/** `control` index: empty pipes kept for reuse. */
export const CTL_PIPES_POOLED = 5;
/** `control` index: the pipe size new pipes are given now (bytes; 0 = the kernel default). */
export const CTL_PIPE_SIZE = 6;
/** `control` index: times `F_SETPIPE_SZ` was refused. */
export const CTL_PIPE_REFUSALS = 7;
/** `control` index: pipes created so far. */
export const CTL_PIPES_CREATED = 8;
/** `control` index: the loop's epoll fd (for diagnostics). */
export const CTL_EPOLL_FD = 9;
/** Length of `control`. */
export const CONTROL_LENGTH = 16;

/** The loop is not waiting on epoll: wake it with a message (or by starting it). */
export const LOOP_IDLE = 0;
/** The loop is running or blocked in `epoll_wait`: wake it through the eventfd. */
export const LOOP_RUNNING = 1;
/** The loop has shut down. */
export const LOOP_STOPPED = 2;

/** Command: start moving the pair in a slot. */
export const OP_ADD = 0;
/** Command: stop the pair in a slot. */
export const OP_CANCEL = 1;
/** Command: end every pair, free the pipes and the epoll fd, stop. */
export const OP_SHUTDOWN = 2;

/** `params` entries per slot: dup of fd A, dup of fd B, idle timeout in ms. */
export const PARAM_STRIDE = 3;
/** `counters` entries per slot: A→B bytes, B→A bytes, pauses. */
export const COUNTER_STRIDE = 3;
/** Int32 values per completion record: slot, end, errno, where. */
export const COMPLETION_STRIDE = 4;

/** End code: both directions reached end of stream. */
export const END_EOF = 0;
/** End code: a splice or the socket reported an error (errno given). */
export const END_ERROR = 1;
/** End code: nothing moved for the idle timeout. */
export const END_IDLE = 2;
/** End code: cancelled by the main thread (or by the loop shutting down). */
export const END_CANCELLED = 3;

/** `where` of a completion: which side failed (0 = A, 1 = B) in bit 0, and 2 when writing to it. */
export const WHERE_WRITE = 2;

/** Everything the loop needs; posted to the Worker (the buffers are shared, not copied). */
export interface SpliceShared {
  readonly maxPairs: number;
  /** Pipe size to ask for, in bytes (0 keeps the kernel default). */
  readonly pipeSize: number;
  /** Empty pipes kept for reuse. */
  readonly maxPooledPipes: number;
  /** The eventfd the main thread writes to wake the loop. */
  readonly wakeFd: number;
  readonly control: SharedArrayBuffer;
  readonly ring: SharedArrayBuffer;
  readonly params: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
}

/** Allocates the shared memory for `maxPairs` pairs. */
export function allocateShared(
  maxPairs: number,
  pipeSize: number,
  maxPooledPipes: number,
  wakeFd: number,
): SpliceShared {
  return {
    maxPairs,
    pipeSize,
    maxPooledPipes,
    wakeFd,
    control: new SharedArrayBuffer(CONTROL_LENGTH * 4),
    ring: new SharedArrayBuffer(ringLength(maxPairs) * 4),
    params: new SharedArrayBuffer(maxPairs * PARAM_STRIDE * 4),
    counters: new SharedArrayBuffer(maxPairs * COUNTER_STRIDE * 8),
  };
}

/** Ring entries for `maxPairs`: a power of two above `2 * maxPairs + 8`. */
export function ringLength(maxPairs: number): number {
  let n = 16;
  while (n < 2 * maxPairs + 8) n *= 2;
  return n;
}
