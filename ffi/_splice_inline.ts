/**
 * Internal: runs the splice engine's epoll loop on the main thread, with Deno's `nonblocking`
 * `epoll_wait` (it blocks a runtime thread, not the event loop). The splices themselves run on the
 * main thread, between waits. The loop ends when no pair is live, so nothing stays pending (or
 * keeps the process alive) while the engine is idle.
 * @module
 */
import type { Libc } from "./libc.ts";
import { type CompletionSink, SpliceLoop } from "./_splice_loop.ts";
import type { SpliceShared } from "./_splice_shared.ts";
import type { LoopDriver } from "./_splice_worker_host.ts";

/** Waits per run of the loop (a fresh run follows). */
const MAX_TURNS = 1_000_000;
/** Consecutive failed waits after which the loop gives up. */
const MAX_WAIT_FAILURES = 100;

/** The loop on the main thread. */
export class InlineDriver implements LoopDriver {
  #libc: Libc;
  #loop: SpliceLoop;
  #running = false;
  #waiting = false;
  #wakeFd: number;
  #wake = new Uint8Array(new BigUint64Array([1n]).buffer);
  #stopped = Promise.withResolvers<void>();
  #onFailure: (error: unknown) => void;

  /** @throws {Error} If the epoll set cannot be created. */
  constructor(libc: Libc, shared: SpliceShared, emit: CompletionSink, onFailure: (error: Error) => void) {
    this.#libc = libc;
    this.#wakeFd = shared.wakeFd;
    this.#onFailure = (error) => {
      this.#stopped.resolve();
      onFailure(error instanceof Error ? error : new Error(String(error)));
    };
    this.#loop = new SpliceLoop(libc, shared, emit);
  }

  /** Always ready: there is no thread to start. */
  readonly ready: Promise<void> = Promise.resolve();

  /** Resolves once a shutdown command was carried out, or the loop failed. */
  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  /** Nothing to do: a pending wait keeps the process alive while pairs live, and none is pending otherwise. */
  setBusy(): void {}

  /** Nothing to end: the loop stops on its own after the shutdown command. */
  terminate(): Promise<void> {
    return Promise.resolve();
  }

  /** Commands were queued: start the loop, or wake its wait. */
  nudge(): void {
    if (!this.#running) {
      this.#running = true;
      this.#run().catch(this.#onFailure);
    } else if (this.#waiting) this.#libc.write(this.#wakeFd, this.#wake, 8);
  }

  async #run(): Promise<void> {
    const libc = this.#libc, loop = this.#loop, core = loop.core, events = core.events;
    const wait = libc.epollWaitAsync!;
    try {
      // Each turn waits at most MAX_WAIT_MS. The run ends when no pair is live and no command
      // waits, or after MAX_TURNS (then a fresh run takes over).
      for (let turn = 0, failures = 0; turn < MAX_TURNS; turn++) {
        core.now = performance.now();
        loop.takeCommands();
        if (loop.shutdown) {
          loop.close();
          this.#stopped.resolve();
          return;
        }
        if (core.liveCount === 0 && !loop.hasCommands()) return;
        this.#waiting = true;
        let n: number;
        try {
          n = await wait(loop.ep, events.bytes, events.capacity, core.timeoutMs());
        } finally {
          this.#waiting = false;
        }
        // -1 is EINTR on the runtime's thread (errno is not visible here): no events. A broken epoll
        // set would return -1 at once, forever, so give up after a run of failures.
        failures = n < 0 ? failures + 1 : 0;
        if (failures > MAX_WAIT_FAILURES) throw new Error("epoll_wait keeps failing");
        loop.step(n, performance.now());
      }
    } finally {
      this.#running = false;
    }
    this.nudge(); // MAX_TURNS reached with pairs live: a fresh run goes on
  }
}
