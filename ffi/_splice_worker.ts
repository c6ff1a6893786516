/**
 * Internal: the Worker that runs the splice engine's epoll loop off the main thread (Bun's FFI is
 * synchronous only, so a blocking `epoll_wait` cannot run on its main thread). Started by
 * `splice_engine.ts` with the shared memory as `workerData`; loads its own libc bindings (errno is
 * per thread).
 *
 * Messages to the main thread: `{ type: "ready" }`, completion records (an `Int32Array`),
 * `{ type: "stopped" }` after a shutdown command, `{ type: "failed", message }`. From the main
 * thread: any message means "commands are waiting" (sent when the loop is idle; a running loop is
 * woken through the eventfd instead).
 *
 * The loop runs in slices of at most {@linkcode SLICE_MS}, yielding to the event loop between
 * them, and goes idle (back to the event loop, no thread blocked) when no pair is live.
 * @module
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { setImmediate } from "node:timers";
import { EINTR, type Libc } from "./libc.ts";
import { loadLibc } from "./load.ts";
import { SpliceLoop } from "./_splice_loop.ts";
import { CTL_STATE, LOOP_IDLE, LOOP_RUNNING, LOOP_STOPPED, type SpliceShared } from "./_splice_shared.ts";

/** Longest run of the loop before it yields to the Worker's event loop. */
const SLICE_MS = 50;
/** Upper bound on waits per slice. */
const SLICE_WAITS = 100_000;

/** The loop, sliced: each slice runs until idle or for SLICE_MS, then yields to the event loop. */
class WorkerLoop {
  readonly #libc: Libc;
  readonly #loop: SpliceLoop;
  readonly #control: Int32Array;
  readonly #port: MessagePort;
  #scheduled = false;
  #stopped = false;
  readonly #run = () => this.#runSlice();

  constructor(libc: Libc, shared: SpliceShared, port: MessagePort) {
    this.#libc = libc;
    this.#port = port;
    this.#control = new Int32Array(shared.control);
    this.#loop = new SpliceLoop(libc, shared, (records) => port.postMessage(records, [records.buffer as ArrayBuffer]));
  }

  /** Runs a slice soon (commands are waiting, or the last slice ran out of time). */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  #runSlice(): void {
    this.#scheduled = false;
    if (this.#stopped) return;
    try {
      if (this.#slice()) this.schedule();
    } catch (error) {
      this.#stopped = true;
      Atomics.store(this.#control, CTL_STATE, LOOP_STOPPED);
      this.#port.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    }
  }

  /** One slice. Returns true when there is more to do, false when idle or stopped. */
  #slice(): boolean {
    const libc = this.#libc, loop = this.#loop, control = this.#control;
    const core = loop.core, events = core.events;
    Atomics.store(control, CTL_STATE, LOOP_RUNNING);
    let now = performance.now();
    const until = now + SLICE_MS;
    for (let i = 0; i < SLICE_WAITS; i++) {
      core.now = now;
      loop.takeCommands();
      if (loop.shutdown) {
        this.#stopped = true;
        loop.close();
        Atomics.store(control, CTL_STATE, LOOP_STOPPED);
        this.#port.postMessage({ type: "stopped" });
        return false;
      }
      if (core.liveCount === 0) {
        // Going idle; the main thread reads the state after queueing a command and posts a
        // message when it sees IDLE, so a command queued meanwhile is seen on the re-check.
        Atomics.store(control, CTL_STATE, LOOP_IDLE);
        if (!loop.hasCommands()) return false;
        Atomics.store(control, CTL_STATE, LOOP_RUNNING);
        continue;
      }
      const n = libc.epoll_wait(loop.ep, events.bytes, events.capacity, core.timeoutMs());
      if (n < 0 && libc.errno() !== EINTR) throw new Error(`epoll_wait failed: ${libc.strerror(libc.errno())}`);
      now = performance.now();
      loop.step(n, now);
      if (now >= until) break;
    }
    return true;
  }
}

const port = parentPort as MessagePort;
const shared = workerData as SpliceShared;
const libc = await loadLibc();
if (libc) {
  const worker = new WorkerLoop(libc, shared, port);
  port.on("message", () => worker.schedule());
  port.postMessage({ type: "ready" });
  worker.schedule(); // commands queued before the Worker started
} else {
  Atomics.store(new Int32Array(shared.control), CTL_STATE, LOOP_STOPPED);
  port.postMessage({ type: "failed", message: "the Worker cannot load libc" });
}
