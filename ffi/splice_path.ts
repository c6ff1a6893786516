/**
 * The splice fast path for the forward engine: a {@linkcode FastPath} that hands a pair of plain
 * TCP conns to the {@linkcode SpliceEngine}, or declines having touched nothing.
 * @module
 */
import type { FastPath, FastPathResult, ForwardEnd, PumpOptions } from "../forward/types.ts";
import { nativeIO, PLAIN_TCP, type PushSink } from "../protocols/_native_io.ts";
import { NET_ERROR_TEXT, NetError } from "../protocols/errors.ts";
import type { Conn } from "../protocols/types.ts";
import { findPairFds } from "./_conn_fds.ts";
import { libcUnavailableReason, loadLibc } from "./load.ts";
import { type SpliceEngine, spliceEngine } from "./splice_engine.ts";

/** What the splice path reads besides {@linkcode PumpOptions}. */
export interface SplicePathOptions extends PumpOptions {
  /** Stops the pair (resolving with `end: "aborted"`); the caller then closes the conns. */
  readonly signal?: AbortSignal;
  /** Ends the pair after this long without a byte either way (resolving with `end: "idle-timeout"`); 0 disables. @default {0} */
  readonly idleTimeoutMs?: number;
}

/** A handled result from the splice path: it also says how the pair ended. */
export interface SplicePathResult {
  /** Always `true`. */
  readonly handled: true;
  /** Always `"splice"`. */
  readonly path: string;
  /** `"eof"`, `"idle-timeout"` or `"aborted"`. */
  readonly end: ForwardEnd;
}

/** The splice {@linkcode FastPath}: its `tryForward` also reads {@linkcode SplicePathOptions}. */
export interface SpliceFastPath extends FastPath {
  /** Moves the pair in the kernel, or declines having touched nothing. */
  tryForward(a: Conn, b: Conn, options: SplicePathOptions): Promise<FastPathResult>;
}

/** Options for {@linkcode createSplicePath}. */
export interface SplicePathConfig {
  /** The engine to use. @default {spliceEngine} (the process-wide one) */
  engine?: () => Promise<SpliceEngine | undefined>;
}

function isPlainTcp(conn: Conn): boolean {
  return (conn as { readonly [PLAIN_TCP]?: unknown })[PLAIN_TCP] === true;
}

function declined(reason: string): FastPathResult {
  return { handled: false, reason };
}

/**
 * Watches a spliced pair from the outside: the caller's signal, and each conn closing under the
 * engine (closed by someone, or, on Bun, by the runtime after a reset, which it reports with an
 * error). Any of these stops the pair; a reset fails it.
 */
class PairWatch implements EventListenerObject {
  readonly controller: AbortController = new AbortController();
  /** Set when a paused Bun socket delivered bytes (Bun reads what is left when it sees a reset). */
  stolen: NetError | undefined;
  /** Set when the runtime closed a conn because it failed. */
  failure: NetError | undefined;
  readonly #outer: AbortSignal | undefined;
  #done = false;

  constructor(outer: AbortSignal | undefined) {
    this.#outer = outer;
    outer?.addEventListener("abort", this, { once: true });
  }

  /** Starts watching the conns (once the engine took the pair: a declined pair stays untouched). */
  watch(a: Conn, b: Conn, fds: readonly [number, number]): void {
    this.#watch(a, fds[0]);
    this.#watch(b, fds[1]);
  }

  handleEvent(): void {
    this.controller.abort();
  }

  #watch(conn: Conn, fd: number): void {
    const io = nativeIO(conn);
    if (io?.kind === "push") {
      // Bun: our sink replaces the idle one; the socket stays paused.
      io.attach(new ClosedSink(this, conn, fd));
    } else conn.closed.then(() => this.closed(conn, fd, undefined), () => this.closed(conn, fd, undefined));
  }

  /** The runtime read bytes from a spliced socket: they are lost to the other side, so the pair fails. */
  read(fd: number): void {
    if (this.#done || this.stolen) return;
    this.stolen = new NetError("EUNKNOWN", `Cannot forward on fd ${fd}: the runtime read from the spliced socket`, {
      op: "read",
      protocol: "tcp",
    });
    this.controller.abort(this.stolen);
  }

  /** A conn closed; `error` says why when its runtime closed it after a failure. */
  closed(conn: Conn, fd: number, error: unknown): void {
    if (this.#done) return;
    if (error instanceof NetError && error.code !== "ECLOSED") {
      const code = error.code;
      const text = code === "EUNKNOWN" ? error.message : NET_ERROR_TEXT[code];
      this.failure ??= new NetError(code, `Cannot forward on fd ${fd}: ${text}`, {
        op: "read",
        protocol: "tcp",
        remoteAddr: conn.remoteAddr,
        cause: error,
      });
    }
    this.controller.abort(this.failure);
  }

  /** The error to report for `error` (the engine's rejection): a reset explains stolen bytes. */
  explain(error: unknown): unknown {
    return error === this.stolen && this.failure ? this.failure : error;
  }

  dispose(): void {
    this.#done = true;
    this.#outer?.removeEventListener("abort", this);
  }
}

/** Receives a paused Bun socket's events while it is spliced. */
class ClosedSink implements PushSink {
  readonly #watch: PairWatch;
  readonly #conn: Conn;
  readonly #fd: number;

  constructor(watch: PairWatch, conn: Conn, fd: number) {
    this.#watch = watch;
    this.#conn = conn;
    this.#fd = fd;
  }

  data(): void {
    this.#watch.read(this.#fd);
  }

  drain(): void {}

  end(): void {}

  close(error?: unknown): void {
    this.#watch.closed(this.#conn, this.#fd, error);
  }
}

/**
 * Creates a splice fast path over an engine (the process-wide one by default).
 *
 * @example A splice path over a private engine
 * ```ts ignore
 * import { createSpliceEngine, createSplicePath } from "@ts-tunnel/tunnel/ffi";
 * const engine = createSpliceEngine({ pipeSize: 256 * 1024 });
 * const path = createSplicePath({ engine: () => engine });
 * ```
 * @param config Where the engine comes from.
 * @returns The fast path.
 */
export function createSplicePath(config: SplicePathConfig = {}): SpliceFastPath {
  const getEngine = config.engine ?? spliceEngine;
  return {
    name: "splice",
    tracksIdle: true,
    async tryForward(a: Conn, b: Conn, options: SplicePathOptions): Promise<FastPathResult> {
      if (!isPlainTcp(a) || !isPlainTcp(b)) return declined("a side is not a plain TCP conn");
      if (options.signal?.aborted) return declined("the signal is already aborted");
      const libc = await loadLibc();
      if (!libc) return declined(`FFI is unavailable: ${libcUnavailableReason()}`);
      const engine = await getEngine().catch(() => undefined); // no eventfd left, say: decline
      if (!engine) return declined("the splice engine is unavailable");
      if (!engine.hasCapacity) return declined("the splice engine is full or closed");
      try {
        await engine.start(); // settled at once after the first pair
      } catch (error) {
        return declined(`the splice loop cannot start: ${error instanceof Error ? error.message : String(error)}`);
      }
      const fds = findPairFds(a, b, libc, (fd) => engine.ownsFd(fd));
      if (!fds) return declined("no kernel socket found under a conn (closed?)");
      const watch = new PairWatch(options.signal);
      const moving = engine.tryForward(fds[0], fds[1], {
        counters: options.counters,
        idleTimeoutMs: options.idleTimeoutMs,
        signal: watch.controller.signal,
      });
      if (!moving) {
        watch.dispose();
        return declined("the splice engine cannot take the pair now (full, closed, or no fd left)");
      }
      watch.watch(a, b, fds);
      try {
        const { end } = await moving;
        const handled: SplicePathResult = { handled: true, path: "splice", end };
        return handled;
      } catch (error) {
        a.close();
        b.close();
        throw watch.explain(error);
      } finally {
        watch.dispose();
      }
    },
  };
}

/**
 * Splices pairs of plain TCP conns in the kernel through the process-wide engine. Declines
 * (`handled: false`, no byte moved, nothing touched) off Linux, without FFI, for anything but two
 * plain TCP conns from our adapters, when a socket cannot be found, or when the engine is full.
 * While it runs nothing may read the conns (on Bun they stay paused). It resolves when both
 * directions ended, the idle timeout passed or `signal` aborted (with `end` saying which), and
 * rejects with a {@linkcode NetError} (after closing both conns) when a side fails. A conn closed
 * by someone else meanwhile stops the pair.
 *
 * @example Put it first in the forward engine
 * ```ts ignore
 * import { DEFAULT_FAST_PATHS, forward } from "@ts-tunnel/tunnel/forward";
 * import { splicePath } from "@ts-tunnel/tunnel/ffi";
 * const stats = await forward(client, upstream, { fastPaths: [splicePath, ...DEFAULT_FAST_PATHS] });
 * ```
 */
export const splicePath: SpliceFastPath = createSplicePath();
