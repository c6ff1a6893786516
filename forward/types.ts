/**
 * Types shared by the forward engine and its fast paths.
 * @module
 */
import type { Conn } from "../protocols/types.ts";

/** Live byte and pause counts of one forwarded pair, updated while bytes move. */
export interface ForwardCounters {
  /** Bytes written to `b` that were read from `a`. */
  aToB: number;
  /** Bytes written to `a` that were read from `b`. */
  bToA: number;
  /** Times a side stopped reading because the other side had not drained (backpressure). */
  pauses: number;
}

/** How a forwarded pair ended. */
export type ForwardEnd = "eof" | "idle-timeout" | "aborted";

/** What {@linkcode forward} reports when both directions are done. */
export interface ForwardStats extends Readonly<ForwardCounters> {
  /** The path that moved the bytes: `"splice"`, `"pull-pump"`, `"push-pump"` or `"stream-pipe"`. */
  readonly path: string;
  /** Why forwarding ended. */
  readonly end: ForwardEnd;
  /** Wall time from start to end, in milliseconds. */
  readonly durationMs: number;
}

/** A reservation of buffer memory; `release()` gives it back (idempotent). */
export interface MemoryReservation extends Disposable {
  /** Gives the bytes back. Idempotent. */
  release(): void;
}

/**
 * A process-wide budget for bytes buffered in user space ({@linkcode MemoryLimiter} from `ha/` fits).
 * Pumps reserve from it before growing a buffer; a refusal slows the connection, never drops bytes.
 */
export interface MemoryBudget {
  /** Reserves `bytes`, or returns `undefined` when they do not fit. */
  tryReserve(bytes: number): MemoryReservation | undefined;
}

/** Tuning a fast path receives. Defaults are applied by {@linkcode forward}. */
export interface PumpOptions {
  /** Live counters to update. */
  readonly counters: ForwardCounters;
  /** Largest read per direction, in bytes. */
  readonly bufferSize: number;
  /** Bytes queued towards a slow side before the other side is paused. */
  readonly highWatermark: number;
  /** Queued bytes below which a paused side resumes. */
  readonly lowWatermark: number;
  /** Take large read buffers from the process-wide pool (else each connection keeps its own). */
  readonly reuseBuffers: boolean;
  /** Ends the pair; paths that can stop without closing the conns (splice) watch it. */
  readonly signal?: AbortSignal;
  /** Idle timeout for paths that track activity themselves (splice); 0 disables. */
  readonly idleTimeoutMs?: number;
  /** Budget for buffered bytes: large read buffers and write queues are reserved from it. */
  readonly memory?: MemoryBudget;
}

/** Outcome of a fast path. `handled: false` guarantees that no bytes moved. */
export type FastPathResult =
  | { readonly handled: false; readonly reason: string }
  | { readonly handled: true; readonly path: string; readonly end?: ForwardEnd };

/**
 * A way to move a whole pair. `tryForward` either declines having touched nothing, or moves the
 * pair until both directions have ended (resolving) or one side failed (rejecting with a NetError).
 */
export interface FastPath {
  /** Name reported in {@linkcode ForwardStats.path}. */
  readonly name: string;
  /** True for paths that enforce `idleTimeoutMs` themselves (the engine then adds no timer). */
  readonly tracksIdle?: boolean;
  /** Moves the pair, or declines. */
  tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult>;
}
