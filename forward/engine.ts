/**
 * `forward(a, b)`: moves bytes both ways between two conns until both directions end, with
 * half-close, byte counts, an idle timeout, cancellation and bounded memory.
 * @module
 */
import { isCleanClose, NetError } from "../protocols/errors.ts";
import type { Conn } from "../protocols/types.ts";
import { IdleWatch } from "./idle_watch.ts";
import { pullPump } from "./pull_pump.ts";
import { pushPump } from "./push_pump.ts";
import { streamPipe } from "./stream_pipe.ts";
import type { FastPath, ForwardCounters, ForwardEnd, ForwardStats, MemoryBudget, PumpOptions } from "./types.ts";

/** Default largest read per direction: 64 KiB, go-tunnel's `BufferSizeDefault`. */
export const DEFAULT_BUFFER_SIZE = 64 * 1024;
/** Default bytes queued towards a slow side before the other side pauses (push pump). */
export const DEFAULT_HIGH_WATERMARK = 1024 * 1024;
/** Default queued bytes under which a paused side resumes (push pump). */
export const DEFAULT_LOW_WATERMARK = 512 * 1024;
/** The native pumps, tried in order before the stream fallback. */
export const DEFAULT_FAST_PATHS: readonly FastPath[] = [pullPump, pushPump];

/** Options for {@linkcode forward}. */
export interface ForwardOptions {
  /** Ends forwarding (closing both sides) when aborted. */
  signal?: AbortSignal;
  /** Closes the pair after this long without a byte in either direction; 0 disables. @default {0} */
  idleTimeoutMs?: number;
  /** Largest read per direction, in bytes. @default {65536} */
  bufferSize?: number;
  /** Queued bytes towards a slow side that pause the other side. @default {1048576} */
  highWatermark?: number;
  /** Queued bytes under which a paused side resumes. @default {524288} */
  lowWatermark?: number;
  /** Take large read buffers from a process-wide pool; `false` gives each connection its own. @default {true} */
  reuseBuffers?: boolean;
  /** Fast paths tried in order; the stream pipe always comes last. @default {DEFAULT_FAST_PATHS} */
  fastPaths?: readonly FastPath[];
  /** Live counters to update while bytes move (for stats and metrics). @default {a fresh object} */
  counters?: ForwardCounters;
  /**
   * Budget for buffered bytes shared by many pairs: a pump reserves a large read buffer (pull) or
   * its write queue (push) from it, and runs small or pauses reading when refused. The splice path
   * buffers in kernel pipes and the stream pipe in bounded stream queues, outside this budget.
   * @default {undefined (no budget)}
   */
  memory?: MemoryBudget;
}

/** One forward() call's stop logic; an EventListener object, so no closure is kept per pair. */
class ForwardRun implements EventListenerObject {
  readonly a: Conn;
  readonly b: Conn;
  readonly counters: ForwardCounters;
  end: ForwardEnd = "eof";
  #idle?: IdleWatch;

  constructor(a: Conn, b: Conn, counters: ForwardCounters) {
    this.a = a;
    this.b = b;
    this.counters = counters;
  }

  /** Starts the idle check (for paths that do not track idleness themselves). Idempotent. */
  watchIdle(idleTimeoutMs: number): void {
    if (idleTimeoutMs > 0 && this.#idle === undefined) {
      this.#idle = new IdleWatch(this.counters, idleTimeoutMs, () => this.stop("idle-timeout"));
    }
  }

  /** Called when the signal aborts. */
  handleEvent(): void {
    this.stop("aborted");
  }

  stop(why: ForwardEnd): void {
    if (this.end === "eof") this.end = why;
    this.a.close();
    this.b.close();
  }

  dispose(): void {
    this.#idle?.stop();
    this.a.close();
    this.b.close();
  }
}

/**
 * Forwards bytes between two connections until both directions end, trying each
 * {@linkcode FastPath} in order before falling back to piping web streams. End of stream on one
 * side half-closes the other; the other direction keeps flowing. Both conns are closed at the end.
 *
 * @example Proxy a client to an upstream
 * ```ts ignore
 * import { forward } from "@ts-tunnel/tunnel/forward";
 * const stats = await forward(client, upstream, { idleTimeoutMs: 60_000 });
 * console.log(stats.aToB, stats.bToA, stats.path);
 * ```
 * @param a One side; closed when forwarding ends.
 * @param b The other side; closed when forwarding ends.
 * @param options Limits, tuning and cancellation.
 * @returns Bytes moved in each direction, the path that moved them and why it ended.
 * @throws {NetError} If a side fails with anything other than a clean close (for example a reset).
 */
export async function forward(a: Conn, b: Conn, options: ForwardOptions = {}): Promise<ForwardStats> {
  const {
    signal,
    idleTimeoutMs = 0,
    bufferSize = DEFAULT_BUFFER_SIZE,
    highWatermark = DEFAULT_HIGH_WATERMARK,
    lowWatermark = DEFAULT_LOW_WATERMARK,
    fastPaths = DEFAULT_FAST_PATHS,
    reuseBuffers = true,
    counters = { aToB: 0, bToA: 0, pauses: 0 },
    memory,
  } = options;
  const started = performance.now();
  const run = new ForwardRun(a, b, counters);
  signal?.addEventListener("abort", run, { once: true });
  const pumpOptions: PumpOptions = {
    counters,
    bufferSize,
    highWatermark,
    lowWatermark,
    reuseBuffers,
    signal,
    idleTimeoutMs,
    memory,
  };
  let path = streamPipe.name;
  try {
    if (signal?.aborted) run.stop("aborted");
    else {
      let handled = false;
      for (const fastPath of fastPaths) {
        if (!fastPath.tracksIdle) run.watchIdle(idleTimeoutMs);
        const result = await fastPath.tryForward(a, b, pumpOptions);
        if (result.handled) {
          handled = true;
          path = result.path;
          if (result.end && result.end !== "eof" && run.end === "eof") run.end = result.end;
          break;
        }
      }
      if (!handled) {
        run.watchIdle(idleTimeoutMs);
        await streamPipe.tryForward(a, b, pumpOptions);
      }
    }
  } catch (error) {
    // After we stopped the pair ourselves, errors from the closed sides are expected.
    if (run.end === "eof" && !(error instanceof NetError && error.code === "ECLOSED")) throw error;
  } finally {
    signal?.removeEventListener("abort", run);
    run.dispose();
  }
  const end = run.end;
  const { aToB, bToA, pauses } = counters; // read explicitly: counters may be accessors, which a spread skips
  return { aToB, bToA, pauses, path, end, durationMs: performance.now() - started };
}

/**
 * go-tunnel's `HandlePair`: forwards until both directions end, closes both sides, and never
 * throws. Failures are reported in the result.
 *
 * @param a One side.
 * @param b The other side.
 * @param options As for {@linkcode forward}.
 * @returns The stats, plus the error if a side failed.
 */
export async function handlePair(
  a: Conn,
  b: Conn,
  options?: ForwardOptions,
): Promise<ForwardStats & { readonly error?: unknown }> {
  const counters = options?.counters ?? { aToB: 0, bToA: 0, pauses: 0 };
  const started = performance.now();
  try {
    return await forward(a, b, { ...options, counters });
  } catch (error) {
    return {
      aToB: counters.aToB,
      bToA: counters.bToA,
      pauses: counters.pauses,
      path: "unknown",
      end: "eof",
      durationMs: performance.now() - started,
      error: isCleanClose(error) ? undefined : error,
    };
  }
}
