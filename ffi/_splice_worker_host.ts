/**
 * Internal: the main thread's side of the splice loop's Worker ({@linkcode WorkerHost}), and the
 * interface both loop drivers (this one and `_splice_inline.ts`) offer the engine.
 *
 * `node:worker_threads` is used on both runtimes for `ref()`/`unref()` (Deno's web Worker has no
 * `unref()`, so an idle engine would keep the process alive). Where the worker's module is found
 * (files, https imports on Deno, a `bun build --compile` binary): `forward/_worker_url.ts`.
 * @module
 */
import { Worker } from "node:worker_threads";
import { workerModuleUrl } from "../forward/_worker_url.ts";
import type { Libc } from "./libc.ts";
import type { CompletionSink } from "./_splice_loop.ts";
import { CTL_STATE, LOOP_IDLE, type SpliceShared } from "./_splice_shared.ts";

/** What the engine needs from whatever runs the loop. */
export interface LoopDriver {
  /** Resolves once the loop runs; rejects if it cannot start. */
  readonly ready: Promise<void>;
  /** Resolves once a shutdown command was carried out, or the loop died. */
  readonly stopped: Promise<void>;
  /** Commands were queued: make sure the loop sees them soon. */
  nudge(): void;
  /** Pairs are live (keep the process alive), or none is. */
  setBusy(busy: boolean): void;
  /** Ends the loop's thread, if it has one. */
  terminate(): Promise<void>;
}

const WAKE_VALUE = new Uint8Array(new BigUint64Array([1n]).buffer);

/** The loop's module: beside this one, or an extra entry point of a compiled binary (`scripts/compile.sh`). */
function workerUrl(): URL {
  return workerModuleUrl("./_splice_worker.ts", import.meta.url, "ffi/_splice_worker.ts");
}

/** Runs the loop in a Worker. Starts unreferenced: {@linkcode WorkerHost.setBusy} refs it while pairs live. */
export class WorkerHost implements LoopDriver {
  #worker: Worker;
  #libc: Libc;
  #control: Int32Array;
  #wakeFd: number;
  #ready = Promise.withResolvers<void>();
  #stopped = Promise.withResolvers<void>();

  /**
   * @param libc The main thread's bindings (to write the wake eventfd).
   * @param shared The memory shared with the loop.
   * @param complete Receives completion records.
   * @param fail Called once if the Worker fails.
   */
  constructor(libc: Libc, shared: SpliceShared, complete: CompletionSink, fail: (error: Error) => void) {
    this.#libc = libc;
    this.#control = new Int32Array(shared.control);
    this.#wakeFd = shared.wakeFd;
    this.#ready.promise.catch(() => {}); // reported by whoever awaits it
    const onFailure = (error: Error) => {
      this.#ready.reject(error);
      this.#stopped.resolve();
      fail(error);
    };
    this.#worker = new Worker(workerUrl(), { workerData: shared });
    this.#worker.unref();
    this.#worker.on("message", (message: unknown) => {
      if (message instanceof Int32Array) return complete(message);
      const { type, message: text } = message as { type: string; message?: string };
      if (type === "ready") this.#ready.resolve();
      else if (type === "stopped") this.#stopped.resolve();
      else if (type === "failed") onFailure(new Error(`The splice loop failed: ${text}`));
    });
    this.#worker.on("error", (error: unknown) => onFailure(error instanceof Error ? error : new Error(String(error))));
  }

  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  nudge(): void {
    // Read the state after queueing: an idle loop re-checks the ring after publishing IDLE, so
    // either it sees the command or this sees IDLE and sends a message (which runs the loop).
    if (Atomics.load(this.#control, CTL_STATE) === LOOP_IDLE) this.#worker.postMessage(0);
    else this.#libc.write(this.#wakeFd, WAKE_VALUE, 8);
  }

  setBusy(busy: boolean): void {
    if (busy) this.#worker.ref();
    else this.#worker.unref();
  }

  async terminate(): Promise<void> {
    this.#worker.removeAllListeners();
    await this.#worker.terminate();
  }
}
