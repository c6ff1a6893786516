/**
 * Internal: the epoll loop around a {@linkcode SpliceCore}, fed by the shared command ring and
 * reporting completions in batches. The driver (a Worker's synchronous loop, or Deno's
 * `epollWaitAsync` on the main thread) calls {@linkcode SpliceLoop.takeCommands}, waits on
 * {@linkcode SpliceLoop.ep}, then calls {@linkcode SpliceLoop.step}.
 * @module
 */
import type { Libc } from "./libc.ts";
import { SpliceCore } from "./_splice_core.ts";
import {
  COMPLETION_STRIDE,
  CTL_EPOLL_FD,
  CTL_HEAD,
  CTL_LIVE,
  CTL_PIPE_REFUSALS,
  CTL_PIPE_SIZE,
  CTL_PIPES_CREATED,
  CTL_PIPES_IN_USE,
  CTL_PIPES_POOLED,
  CTL_TAIL,
  OP_ADD,
  OP_CANCEL,
  OP_SHUTDOWN,
  PARAM_STRIDE,
  type SpliceShared,
} from "./_splice_shared.ts";

/** Receives finished pairs: records of (slot, end, errno, where). */
export type CompletionSink = (records: Int32Array) => void;

/** One loop over the shared memory. Driven by exactly one thread. */
export class SpliceLoop {
  /** The machinery. */
  readonly core: SpliceCore;
  #control: Int32Array;
  #ring: Int32Array;
  #mask: number;
  #params: Int32Array;
  #completions: Int32Array;
  #completionCount = 0;
  #emit: CompletionSink;
  /** True once a shutdown command was taken. */
  shutdown = false;

  /** Sets up the core on `shared`'s memory; `emit` receives completions after each step. */
  constructor(libc: Libc, shared: SpliceShared, emit: CompletionSink) {
    this.#control = new Int32Array(shared.control);
    this.#ring = new Int32Array(shared.ring);
    this.#mask = this.#ring.length - 1;
    this.#params = new Int32Array(shared.params);
    this.#completions = new Int32Array(shared.maxPairs * COMPLETION_STRIDE);
    this.#emit = emit;
    this.core = new SpliceCore(
      libc,
      {
        maxPairs: shared.maxPairs,
        pipeSize: shared.pipeSize,
        maxPooledPipes: shared.maxPooledPipes,
        wakeFd: shared.wakeFd,
      },
      new Float64Array(shared.counters),
      (slot, end, errno, where) => this.#onDone(slot, end, errno, where),
    );
    Atomics.store(this.#control, CTL_EPOLL_FD, this.core.ep);
    this.#publish();
  }

  /** The epoll fd to wait on. */
  get ep(): number {
    return this.core.ep;
  }

  /** True when commands wait in the ring. */
  hasCommands(): boolean {
    return Atomics.load(this.#control, CTL_TAIL) !== Atomics.load(this.#control, CTL_HEAD);
  }

  /** Applies the queued commands (bounded by the ring's size), then reports any pair that ended. */
  takeCommands(): void {
    const control = this.#control;
    let tail = Atomics.load(control, CTL_TAIL);
    const head = Atomics.load(control, CTL_HEAD);
    const core = this.core;
    for (let i = 0; tail !== head && i <= this.#mask; i++) {
      const command = Atomics.load(this.#ring, tail & this.#mask);
      tail = (tail + 1) | 0;
      const slot = command >>> 2, op = command & 3;
      if (op === OP_ADD) {
        const p = slot * PARAM_STRIDE;
        core.add(slot, this.#params[p], this.#params[p + 1], this.#params[p + 2]);
      } else if (op === OP_CANCEL) core.cancel(slot);
      else if (op === OP_SHUTDOWN) {
        this.shutdown = true;
        core.cancelAll();
      }
    }
    Atomics.store(control, CTL_TAIL, tail);
    this.#flush();
  }

  /** Handles `n` events (the result of `epoll_wait` into `core.events`), taken at time `now`. */
  step(n: number, now: number): void {
    this.core.now = now;
    this.core.step(n);
    this.#flush();
  }

  /** Ends every pair and frees the pipes and the epoll set. */
  close(): void {
    this.core.close();
    this.#flush();
  }

  #onDone(slot: number, end: number, errno: number, where: number): void {
    const c = this.#completionCount++ * COMPLETION_STRIDE;
    const records = this.#completions;
    records[c] = slot;
    records[c + 1] = end;
    records[c + 2] = errno;
    records[c + 3] = where;
  }

  #flush(): void {
    this.#publish();
    const count = this.#completionCount;
    if (count === 0) return;
    this.#completionCount = 0;
    this.#emit(this.#completions.slice(0, count * COMPLETION_STRIDE)); // allocates only when pairs end
  }

  #publish(): void {
    const control = this.#control, core = this.core;
    control[CTL_LIVE] = core.liveCount;
    control[CTL_PIPES_IN_USE] = core.pipesInUse;
    control[CTL_PIPES_POOLED] = core.pipesPooled;
    control[CTL_PIPE_SIZE] = core.pipeTarget;
    control[CTL_PIPE_REFUSALS] = core.pipeRefusals;
    control[CTL_PIPES_CREATED] = core.pipesCreated;
  }
}
