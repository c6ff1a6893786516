/**
 * Options, results and defaults of the splice engine.
 * @module
 */
import type { ForwardCounters, ForwardEnd } from "../forward/types.ts";

/** Default pipe size asked for with `F_SETPIPE_SZ`: 1 MiB (the kernel default is 64 KiB). */
export const DEFAULT_SPLICE_PIPE_SIZE = 1024 * 1024;
/** Default most pairs one engine moves at once. */
export const DEFAULT_SPLICE_MAX_PAIRS = 16_384;
/** Default empty pipes kept for reuse (each counts against `fs.pipe-user-pages-soft`). */
export const DEFAULT_SPLICE_POOLED_PIPES = 16;
/** Default period at which live byte counts are copied into each pair's {@linkcode ForwardCounters}. */
export const DEFAULT_SPLICE_SYNC_INTERVAL_MS = 100;

/** Where the epoll loop runs: a Worker (both runtimes), or the main thread with Deno's nonblocking `epoll_wait`. */
export type SpliceLoopMode = "worker" | "main-thread";

/** Options for {@linkcode createSpliceEngine}. */
export interface SpliceEngineOptions {
  /** Pipe size to ask for, in bytes, between 4 KiB and 1 GiB; refusals lower it adaptively. @default {1_048_576} */
  pipeSize?: number;
  /** Most pairs at once; beyond it {@linkcode SpliceEngine.forward} rejects (a fast path declines first). @default {16_384} */
  maxPairs?: number;
  /** Empty pipes kept for reuse. @default {16} */
  maxPooledPipes?: number;
  /** How often live byte counts reach the counters objects, in milliseconds. @default {100} */
  syncIntervalMs?: number;
  /** Where the epoll loop runs; `"main-thread"` needs Deno. @default {"worker"} */
  loop?: SpliceLoopMode;
}

/** Options for {@linkcode SpliceEngine.forward}. */
export interface SpliceForwardOptions {
  /** Live counters, updated every `syncIntervalMs` and at the end. @default {a fresh object} */
  counters?: ForwardCounters;
  /** Ends the pair (resolving with `end: "idle-timeout"`) after this long without a byte either way; 0 disables. @default {0} */
  idleTimeoutMs?: number;
  /**
   * Stops the pair: the promise resolves with `end: "aborted"`, or rejects with the abort reason
   * when that reason is a {@linkcode NetError} (a way to fail the pair from outside).
   */
  signal?: AbortSignal;
}

/** How a spliced pair ended, with its byte counts. */
export interface SpliceResult extends Readonly<ForwardCounters> {
  /** `"eof"` (both directions ended), `"idle-timeout"` or `"aborted"`. */
  readonly end: ForwardEnd;
}

/** A snapshot of a {@linkcode SpliceEngine}'s state. */
export interface SpliceEngineStats {
  /** Where the loop runs. */
  readonly loop: SpliceLoopMode;
  /** Pairs being moved. */
  readonly activePairs: number;
  /** Pairs started since the engine was created. */
  readonly totalPairs: number;
  /** Pairs that ended with an error. */
  readonly errors: number;
  /** Pipes holding bytes in flight. */
  readonly pipesInUse: number;
  /** Empty pipes kept for reuse. */
  readonly pipesPooled: number;
  /** The pipe size new pipes are given now (0: the kernel default). */
  readonly pipeSize: number;
  /** Times `F_SETPIPE_SZ` was refused (the size then halves, and recovers later). */
  readonly pipeSizeRefusals: number;
  /** Pipes created so far. */
  readonly pipesCreated: number;
}

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(
      `Cannot create the splice engine as '${name}' must be an integer in [1, ${max}]: current value is ${value}`,
    );
  }
  return value;
}

/** @internal Applies the defaults and checks the ranges: the one place defaults are applied. */
export function resolveSpliceEngineOptions(options: SpliceEngineOptions): Required<SpliceEngineOptions> {
  const {
    pipeSize = DEFAULT_SPLICE_PIPE_SIZE,
    maxPairs = DEFAULT_SPLICE_MAX_PAIRS,
    maxPooledPipes = DEFAULT_SPLICE_POOLED_PIPES,
    syncIntervalMs = DEFAULT_SPLICE_SYNC_INTERVAL_MS,
    loop = "worker",
  } = options;
  if (!Number.isInteger(pipeSize) || pipeSize < 4096 || pipeSize > 1 << 30) {
    throw new RangeError(
      `Cannot create the splice engine as 'pipeSize' must be an integer in [4096, 2^30]: current value is ${pipeSize}`,
    );
  }
  positiveInteger("maxPairs", maxPairs, 1 << 20);
  if (!Number.isInteger(maxPooledPipes) || maxPooledPipes < 0 || maxPooledPipes > 4096) {
    throw new RangeError(
      `Cannot create the splice engine as 'maxPooledPipes' must be an integer in [0, 4096]: current value is ${maxPooledPipes}`,
    );
  }
  positiveInteger("syncIntervalMs", syncIntervalMs, 60_000);
  if (loop !== "worker" && loop !== "main-thread") {
    throw new RangeError(
      `Cannot create the splice engine as 'loop' must be "worker" or "main-thread": current value is ${loop}`,
    );
  }
  return { pipeSize, maxPairs, maxPooledPipes, syncIntervalMs, loop };
}
