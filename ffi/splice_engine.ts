/**
 * The splice engine: moves bytes between two connected TCP sockets inside the kernel with
 * `splice(2)` (socket → pipe → socket), nonblocking, with readiness from an edge-triggered epoll
 * set. No byte enters JavaScript. One engine serves the whole process; its loop runs in a Worker
 * (both runtimes) or, on Deno, on the main thread with a `nonblocking` `epoll_wait`.
 *
 * The engine takes fds, not conns: {@linkcode SpliceEngine.forward} duplicates them (the
 * duplicates are the loop's, closed when the pair ends; the originals stay the runtime's, and the
 * caller closes its conns after the promise settles). A runtime closing its fd early therefore
 * never lets the loop touch a recycled fd number.
 * @module
 */
import type { ForwardCounters } from "../forward/types.ts";
import { NetError, ServerClosedError } from "../protocols/errors.ts";
import { errnoText } from "./_errno.ts";
import { spliceError } from "./_splice_error.ts";
import { InlineDriver } from "./_splice_inline.ts";
import { type LoopDriver, WorkerHost } from "./_splice_worker_host.ts";
import {
  allocateShared,
  COMPLETION_STRIDE,
  COUNTER_STRIDE,
  CTL_HEAD,
  CTL_PIPE_REFUSALS,
  CTL_PIPE_SIZE,
  CTL_PIPES_CREATED,
  CTL_PIPES_IN_USE,
  CTL_PIPES_POOLED,
  END_CANCELLED,
  END_EOF,
  END_ERROR,
  END_IDLE,
  OP_ADD,
  OP_CANCEL,
  OP_SHUTDOWN,
  PARAM_STRIDE,
  type SpliceShared,
  WHERE_WRITE,
} from "./_splice_shared.ts";
import { EFD_CLOEXEC, EFD_NONBLOCK, F_DUPFD_CLOEXEC, F_GETFL, type Libc, O_NONBLOCK } from "./libc.ts";
import { loadLibc } from "./load.ts";
import {
  resolveSpliceEngineOptions,
  type SpliceEngineOptions,
  type SpliceEngineStats,
  type SpliceForwardOptions,
  type SpliceLoopMode,
  type SpliceResult,
} from "./splice_options.ts";

/** The result for a pair whose signal was aborted before it started. */
function abortedAtOnce(): SpliceResult {
  return { aToB: 0, bToA: 0, pauses: 0, end: "aborted" };
}

/** How long close() waits for the loop to stop before it terminates the Worker. */
const STOP_TIMEOUT_MS = 5_000;

/** One pair in flight, on the main thread. It is the abort listener (no closure per pair). */
class PairRun implements EventListenerObject {
  readonly slot: number;
  readonly fdA: number;
  readonly fdB: number;
  readonly dupA: number;
  readonly dupB: number;
  readonly counters: ForwardCounters;
  readonly signal: AbortSignal | undefined;
  readonly result: PromiseWithResolvers<SpliceResult> = Promise.withResolvers<SpliceResult>();
  readonly onAbort: (run: PairRun) => void;
  cancelled = false;

  constructor(
    onAbort: (run: PairRun) => void,
    slot: number,
    fds: readonly number[],
    counters: ForwardCounters,
    signal?: AbortSignal,
  ) {
    this.onAbort = onAbort;
    this.slot = slot;
    this.fdA = fds[0];
    this.fdB = fds[1];
    this.dupA = fds[2];
    this.dupB = fds[3];
    this.counters = counters;
    this.signal = signal;
  }

  handleEvent(): void {
    this.onAbort(this);
  }
}

/**
 * Moves bytes between pairs of TCP sockets with `splice(2)`; create it with
 * {@linkcode createSpliceEngine}, or share the process-wide one from {@linkcode spliceEngine}.
 *
 * @example Splice two sockets until both directions end
 * ```ts ignore
 * import { spliceEngine } from "@ts-tunnel/tunnel/ffi";
 * const engine = await spliceEngine();
 * if (engine) {
 *   const result = await engine.forward(fdA, fdB, { idleTimeoutMs: 60_000 });
 *   console.log(result.aToB, result.bToA, result.end);
 * }
 * ```
 */
export class SpliceEngine implements AsyncDisposable {
  /** Where the loop runs. */
  readonly loop: SpliceLoopMode;
  #libc: Libc;
  #shared: SpliceShared;
  #control: Int32Array;
  #ring: Int32Array;
  #params: Int32Array;
  #counters: Float64Array;
  #syncIntervalMs: number;
  #runs: (PairRun | undefined)[];
  #free: Int32Array;
  #freeCount: number;
  #busy = new Uint8Array(1024);
  #active = new Set<PairRun>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #driver: LoopDriver | undefined;
  #totalPairs = 0;
  #errors = 0;
  #closing: Promise<void> | undefined;
  #failed: Error | undefined;
  #onClose: (() => void) | undefined;

  /** @internal Use {@linkcode createSpliceEngine}. */
  constructor(libc: Libc, options: Required<SpliceEngineOptions>, onClose?: () => void) {
    const { pipeSize, maxPairs, maxPooledPipes, syncIntervalMs, loop } = options;
    if (loop === "main-thread" && !libc.epollWaitAsync) {
      throw new TypeError(
        `Cannot run the splice loop on the main thread: ${libc.runtime} has no nonblocking FFI calls (use "worker")`,
      );
    }
    const wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wakeFd < 0) throw new Error(`Cannot create the splice engine's eventfd: ${errnoText(libc.errno())}`);
    this.loop = loop;
    this.#libc = libc;
    this.#onClose = onClose;
    this.#shared = allocateShared(maxPairs, pipeSize, maxPooledPipes, wakeFd);
    this.#control = new Int32Array(this.#shared.control);
    this.#ring = new Int32Array(this.#shared.ring);
    this.#params = new Int32Array(this.#shared.params);
    this.#counters = new Float64Array(this.#shared.counters);
    this.#syncIntervalMs = syncIntervalMs;
    this.#runs = new Array(maxPairs).fill(undefined);
    this.#free = new Int32Array(maxPairs);
    for (let i = 0; i < maxPairs; i++) this.#free[i] = maxPairs - 1 - i; // slot 0 on top
    this.#freeCount = maxPairs;
  }

  /** True while another pair fits (and the engine is open). */
  get hasCapacity(): boolean {
    return this.#freeCount > 0 && !this.#closing && !this.#failed;
  }

  /** True once {@linkcode SpliceEngine.close} was called or the loop failed. */
  get closed(): boolean {
    return this.#closing !== undefined || this.#failed !== undefined;
  }

  /** Counts and pipe state, read now. */
  get stats(): SpliceEngineStats {
    const control = this.#control;
    return {
      loop: this.loop,
      activePairs: this.#active.size,
      totalPairs: this.#totalPairs,
      errors: this.#errors,
      pipesInUse: Atomics.load(control, CTL_PIPES_IN_USE),
      pipesPooled: Atomics.load(control, CTL_PIPES_POOLED),
      pipeSize: Atomics.load(control, CTL_PIPE_SIZE),
      pipeSizeRefusals: Atomics.load(control, CTL_PIPE_REFUSALS),
      pipesCreated: Atomics.load(control, CTL_PIPES_CREATED),
    };
  }

  /**
   * Starts the loop ahead of the first pair (the Worker takes some tens of milliseconds to load),
   * so that the first connection does not wait for it. Optional: {@linkcode SpliceEngine.forward}
   * starts it too.
   *
   * @returns Resolves once the loop is ready.
   * @throws {ServerClosedError} If the engine is closed.
   * @throws {Error} If the Worker fails to start.
   */
  start(): Promise<void> {
    if (this.#closing || this.#failed) {
      return Promise.reject(new ServerClosedError("Cannot start: the splice engine is closed"));
    }
    return this.#getDriver().ready;
  }

  /**
   * True while `fd` is a socket of a live pair (the runtime's fd or the engine's duplicate of it),
   * so an fd lookup can skip it.
   *
   * @param fd A file descriptor.
   * @returns Whether the engine uses it now.
   */
  ownsFd(fd: number): boolean {
    return fd >= 0 && fd < this.#busy.length && this.#busy[fd] !== 0;
  }

  /**
   * Moves bytes between the connected TCP sockets `fdA` and `fdB` until both directions end: end
   * of stream on one side becomes `shutdown(SHUT_WR)` on the other while the other direction
   * keeps flowing. The fds stay the caller's: the engine works on duplicates, and the caller
   * closes its conns after the promise settles. Nothing may read or write the sockets meanwhile.
   *
   * @param fdA One socket.
   * @param fdB The other socket.
   * @param options Live counters, idle timeout and cancellation.
   * @returns Byte counts per direction, pauses, and how the pair ended.
   * @throws {NetError} When a socket fails (`ECONNRESET`, `EPIPE`, …; message like
   * `Cannot forward on fd 12: connection reset by peer`), or with the abort reason when that is one.
   * @throws {RangeError} If the fds are not two different non-negative integers, or the engine is full.
   * @throws {ServerClosedError} If the engine is closed.
   */
  forward(fdA: number, fdB: number, options: SpliceForwardOptions = {}): Promise<SpliceResult> {
    try {
      if (options.signal?.aborted) return Promise.resolve(abortedAtOnce());
      const started = this.#start(fdA, fdB, options);
      return started instanceof PairRun ? started.result.promise : Promise.reject(started);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Like {@linkcode SpliceEngine.forward}, but returns `undefined`, having touched nothing, when the
   * pair cannot start: the engine is full or closed, no fd is left for the duplicates, or a socket
   * is closed or in blocking mode. A fast path declines then.
   *
   * @param fdA One socket.
   * @param fdB The other socket.
   * @param options Live counters, idle timeout and cancellation.
   * @returns As {@linkcode SpliceEngine.forward}, or `undefined`.
   * @throws {RangeError} If the fds or the idle timeout are out of range.
   */
  tryForward(fdA: number, fdB: number, options: SpliceForwardOptions = {}): Promise<SpliceResult> | undefined {
    if (options.signal?.aborted) return Promise.resolve(abortedAtOnce());
    const started = this.#start(fdA, fdB, options);
    return started instanceof PairRun ? started.result.promise : undefined;
  }

  /** Starts a pair; returns the reason instead when resources lack. Throws RangeError for bad arguments. */
  #start(fdA: number, fdB: number, options: SpliceForwardOptions): PairRun | Error {
    const { counters = { aToB: 0, bToA: 0, pauses: 0 }, idleTimeoutMs = 0, signal } = options;
    if (!Number.isInteger(fdA) || !Number.isInteger(fdB) || fdA < 0 || fdB < 0 || fdA === fdB) {
      throw new RangeError(
        `Cannot forward as 'fdA' and 'fdB' must be two different fds: current values are ${fdA}, ${fdB}`,
      );
    }
    if (!(idleTimeoutMs >= 0 && idleTimeoutMs <= 0x7fffffff)) {
      throw new RangeError(`Cannot forward as 'idleTimeoutMs' must be in [0, 2^31): current value is ${idleTimeoutMs}`);
    }
    if (this.#closing || this.#failed) return new ServerClosedError("Cannot forward: the splice engine is closed");
    if (this.#freeCount === 0) {
      return new RangeError(`Cannot forward: the splice engine already moves ${this.#runs.length} pairs (maxPairs)`);
    }
    const libc = this.#libc;
    for (const fd of [fdA, fdB]) {
      // A blocking socket would stall the loop in splice(): refuse it (the runtimes' sockets never are).
      const flags = libc.fcntl(fd, F_GETFL, 0);
      if (flags < 0) return spliceError(libc.errno(), fd, "read");
      if (!(flags & O_NONBLOCK)) {
        return new NetError("EUNKNOWN", `Cannot forward on fd ${fd}: the socket is in blocking mode`, {
          op: "read",
          protocol: "tcp",
        });
      }
    }
    const dupA = libc.fcntl(fdA, F_DUPFD_CLOEXEC, 0);
    if (dupA < 0) return spliceError(libc.errno(), fdA, "read");
    const dupB = libc.fcntl(fdB, F_DUPFD_CLOEXEC, 0);
    if (dupB < 0) {
      const error = spliceError(libc.errno(), fdB, "read");
      libc.close(dupA);
      return error;
    }
    const slot = this.#free[--this.#freeCount];
    const run = new PairRun(this.#cancel, slot, [fdA, fdB, dupA, dupB], counters, signal);
    this.#runs[slot] = run;
    const c = slot * COUNTER_STRIDE;
    this.#counters[c] = this.#counters[c + 1] = this.#counters[c + 2] = 0;
    const p = slot * PARAM_STRIDE;
    this.#params[p] = dupA;
    this.#params[p + 1] = dupB;
    this.#params[p + 2] = Math.ceil(idleTimeoutMs);
    for (const fd of [fdA, fdB, dupA, dupB]) this.#markBusy(fd, 1);
    this.#totalPairs++;
    this.#active.add(run);
    if (this.#active.size === 1) this.#becameBusy();
    signal?.addEventListener("abort", run, { once: true });
    this.#command(slot, OP_ADD);
    return run;
  }

  /** Stops a pair (its abort listener calls this). */
  #cancel = (run: PairRun): void => {
    if (run.cancelled || this.#runs[run.slot] !== run) return;
    run.cancelled = true;
    this.#command(run.slot, OP_CANCEL);
  };

  /**
   * Stops the loop: live pairs end (resolving with `end: "aborted"`), pooled pipes and the epoll
   * set are closed, the Worker ends. Idempotent. {@linkcode spliceEngine} makes a new engine
   * afterwards.
   *
   * @returns Resolves once everything is released.
   */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  /** Calls {@linkcode SpliceEngine.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#onClose?.();
    const driver = this.#driver;
    if (driver && !this.#failed) {
      this.#command(0, OP_SHUTDOWN);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS));
      try {
        await Promise.race([driver.stopped, late]);
      } finally {
        clearTimeout(timer);
      }
    }
    await driver?.terminate();
    this.#rejectAll(new ServerClosedError("Cannot forward: the splice engine is closed"));
    this.#libc.close(this.#shared.wakeFd);
  }

  #markBusy(fd: number, value: number): void {
    if (fd >= this.#busy.length) {
      if (value === 0) return;
      let size = this.#busy.length;
      while (size <= fd) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#busy);
      this.#busy = grown;
    }
    this.#busy[fd] = value;
  }

  /** Queues a command and makes sure the loop sees it. */
  #command(slot: number, op: number): void {
    const control = this.#control;
    const head = Atomics.load(control, CTL_HEAD);
    Atomics.store(this.#ring, head & (this.#ring.length - 1), (slot << 2) | op);
    Atomics.store(control, CTL_HEAD, (head + 1) | 0);
    this.#getDriver().nudge();
  }

  /** The loop's driver, created with the first command (or start()). */
  #getDriver(): LoopDriver {
    return this.#driver ??= this.loop === "main-thread"
      ? new InlineDriver(this.#libc, this.#shared, this.#complete, this.#fail)
      : new WorkerHost(this.#libc, this.#shared, this.#complete, this.#fail);
  }

  /** The first pair started: keep the process alive and the counters fresh. */
  #becameBusy(): void {
    this.#getDriver().setBusy(true);
    this.#timer = setInterval(() => this.#sync(), this.#syncIntervalMs);
  }

  /** No pair left: let the process exit, stop the timer. */
  #becameIdle(): void {
    this.#driver?.setBusy(false);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sync(): void {
    const counters = this.#counters;
    for (const run of this.#active) {
      const c = run.slot * COUNTER_STRIDE;
      run.counters.aToB = counters[c];
      run.counters.bToA = counters[c + 1];
      run.counters.pauses = counters[c + 2];
    }
  }

  /** Settles the pairs in a batch of completion records from the loop. */
  #complete = (records: Int32Array): void => {
    const counters = this.#counters;
    for (let i = 0; i + COMPLETION_STRIDE <= records.length; i += COMPLETION_STRIDE) {
      const slot = records[i], end = records[i + 1], errno = records[i + 2], where = records[i + 3];
      const run = this.#runs[slot];
      if (!run) continue;
      const c = slot * COUNTER_STRIDE;
      const result = run.counters;
      result.aToB = counters[c];
      result.bToA = counters[c + 1];
      result.pauses = counters[c + 2];
      this.#release(run);
      const stats = { aToB: result.aToB, bToA: result.bToA, pauses: result.pauses };
      if (end === END_EOF) run.result.resolve({ ...stats, end: "eof" });
      else if (end === END_IDLE) run.result.resolve({ ...stats, end: "idle-timeout" });
      // Once a stop was asked for, the pair ends "aborted" even if an error raced the request: a
      // conn closed under the engine (forward() closes both on abort) shuts its socket down, and
      // the peer's answer to that can read as a reset.
      else if (end === END_CANCELLED || (end === END_ERROR && run.cancelled)) {
        const reason = run.signal?.aborted ? run.signal.reason : undefined;
        if (reason instanceof NetError) {
          this.#errors++;
          run.result.reject(reason);
        } else run.result.resolve({ ...stats, end: "aborted" });
      } else if (end === END_ERROR) {
        this.#errors++;
        const fd = (where & 1) === 0 ? run.fdA : run.fdB;
        run.result.reject(spliceError(errno, fd, where & WHERE_WRITE ? "write" : "read"));
      }
    }
  };

  #release(run: PairRun): void {
    this.#runs[run.slot] = undefined;
    this.#free[this.#freeCount++] = run.slot;
    for (const fd of [run.fdA, run.fdB, run.dupA, run.dupB]) this.#markBusy(fd, 0);
    run.signal?.removeEventListener("abort", run);
    this.#active.delete(run);
    if (this.#active.size === 0) this.#becameIdle();
  }

  /**
   * The loop died (or its Worker could not load): fail every pair. The engine stays failed, so
   * fast paths decline at once instead of starting a Worker per connection; `closeSpliceEngine()`
   * lets the next `spliceEngine()` try again. Duplicates are not closed here: the loop may have
   * closed some already, and their numbers may be reused.
   */
  #fail = (error: unknown): void => {
    if (this.#failed) return;
    this.#failed = error instanceof Error ? error : new Error(String(error));
    this.#rejectAll(this.#failed);
  };

  #rejectAll(cause: Error): void {
    for (const run of [...this.#active]) {
      this.#release(run);
      const fd = run.fdA;
      run.result.reject(
        new NetError("EUNKNOWN", `Cannot forward on fd ${fd}: ${cause.message}`, {
          op: "read",
          protocol: "tcp",
          cause,
        }),
      );
    }
  }
}

/**
 * Creates a splice engine. The loop (and its Worker) starts with the first pair.
 *
 * @example A private engine with smaller pipes
 * ```ts ignore
 * import { createSpliceEngine } from "@ts-tunnel/tunnel/ffi";
 * await using engine = await createSpliceEngine({ pipeSize: 256 * 1024 });
 * ```
 * @param options Pipe size, capacity, counter sync period and where the loop runs.
 * @returns The engine, or `undefined` when libc cannot be loaded (see `libcUnavailableReason()`).
 * @throws {RangeError} If an option is out of range.
 * @throws {TypeError} If `loop` is `"main-thread"` on a runtime without nonblocking FFI calls (Bun).
 */
export async function createSpliceEngine(options: SpliceEngineOptions = {}): Promise<SpliceEngine | undefined> {
  const resolved = resolveSpliceEngineOptions(options);
  const libc = await loadLibc();
  if (!libc) return undefined;
  return new SpliceEngine(libc, resolved);
}

let shared: Promise<SpliceEngine | undefined> | undefined;

/**
 * The process-wide splice engine, created on first use with the defaults. After
 * {@linkcode closeSpliceEngine} the next call creates a new one (a failed engine stays, closed,
 * until then).
 *
 * @example Use the shared engine
 * ```ts ignore
 * import { spliceEngine } from "@ts-tunnel/tunnel/ffi";
 * const engine = await spliceEngine();
 * console.log(engine?.stats.activePairs);
 * ```
 * @returns The engine, or `undefined` when libc cannot be loaded (see `libcUnavailableReason()`).
 */
export function spliceEngine(): Promise<SpliceEngine | undefined> {
  if (shared) return shared;
  const creating: Promise<SpliceEngine | undefined> = loadLibc().then((libc) => {
    if (!libc) return undefined;
    return new SpliceEngine(libc, resolveSpliceEngineOptions({}), () => {
      if (shared === creating) shared = undefined;
    });
  });
  shared = creating;
  creating.catch(() => {
    if (shared === creating) shared = undefined;
  });
  return creating;
}

/**
 * Closes the process-wide engine, if one was created (live pairs end with `end: "aborted"`).
 * For graceful shutdown, and for tests that count open fds.
 *
 * @returns Resolves once the engine released everything.
 */
export async function closeSpliceEngine(): Promise<void> {
  const current = shared;
  shared = undefined;
  const engine = await current?.catch(() => undefined);
  await engine?.close();
}
