/**
 * The native pump for push-style conns (Bun TCP): socket `data`/`drain` callbacks with
 * pause/resume. A chunk the receiving socket cannot take at once is queued; once the queue holds
 * `highWatermark` bytes the sending side is paused, and it resumes when the queue drains below
 * `lowWatermark`. With a memory budget, a direction reserves `highWatermark` bytes when its queue
 * starts and gives them back when it empties; when the budget refuses, the sending side is paused
 * at once, so that connection queues one chunk at a time. No byte enters a web stream. Per pair: one {@linkcode PushPair} and two
 * {@linkcode Direction}s, with prototype methods (no closures), so idle connections stay small.
 * @module
 */
import { nativeIO, type PushIO, type PushSink } from "../protocols/_native_io.ts";
import { NetError } from "../protocols/errors.ts";
import type { Conn } from "../protocols/types.ts";
import type { FastPath, FastPathResult, MemoryReservation, PumpOptions } from "./types.ts";

/**
 * One direction: bytes read from `from` are written to `to`. It is also the sink of the `from`
 * socket: that socket's data and end feed this direction, its drain feeds the other direction.
 */
class Direction implements PushSink {
  readonly from: PushIO;
  readonly to: PushIO;
  readonly pair: PushPair;
  readonly aToB: boolean;
  other!: Direction;
  queue: Uint8Array[] | undefined;
  queued = 0;
  reserved: MemoryReservation | undefined;
  paused = false;
  eof = false;
  done = false;

  constructor(pair: PushPair, from: PushIO, to: PushIO, aToB: boolean) {
    this.pair = pair;
    this.from = from;
    this.to = to;
    this.aToB = aToB;
  }

  count(n: number): void {
    if (this.aToB) this.pair.options.counters.aToB += n;
    else this.pair.options.counters.bToA += n;
  }

  /** Bytes arrived from `from`. */
  data(chunk: Uint8Array): void {
    if (this.done) return;
    if (this.queued === 0) {
      const n = this.to.write(chunk);
      if (n < 0) return this.writeFailed();
      if (n > 0) this.count(n);
      if (n === chunk.byteLength) return;
      chunk = chunk.subarray(n);
    }
    (this.queue ??= []).push(chunk.slice()); // the runtime may reuse `chunk` after this call
    const options = this.pair.options;
    let overBudget = false;
    if (this.queued === 0 && options.memory) {
      this.reserved = options.memory.tryReserve(options.highWatermark);
      overBudget = this.reserved === undefined;
    }
    this.queued += chunk.byteLength;
    if (!this.paused && (overBudget || this.queued >= options.highWatermark)) {
      this.paused = true;
      options.counters.pauses++;
      this.from.pause();
    }
  }

  /** The `from` socket can take more bytes: that is the other direction's `to`. */
  drain(): void {
    this.other.flush();
  }

  /** `to` can take more bytes. */
  flush(): void {
    if (this.done) return;
    const queue = this.queue;
    while (queue && queue.length > 0) {
      const head = queue[0];
      const n = this.to.write(head);
      if (n < 0) return this.writeFailed();
      if (n > 0) {
        this.count(n);
        this.queued -= n;
      }
      if (n < head.byteLength) {
        queue[0] = head.subarray(n);
        break;
      }
      queue.shift();
    }
    if (this.paused && this.queued <= this.pair.options.lowWatermark) {
      this.paused = false;
      this.from.resume();
    }
    if (this.queued === 0) {
      this.queue = undefined;
      this.releaseMemory();
      if (this.eof) this.finish();
    }
  }

  /** `from` reached end of stream. */
  end(): void {
    if (this.done || this.eof) return;
    this.eof = true;
    if (this.queued === 0) this.finish();
  }

  finish(): void {
    this.done = true;
    this.to.end();
    this.pair.check();
  }

  /** `to` is closed: the rest of this direction cannot be delivered. */
  writeFailed(): void {
    this.done = true;
    this.queue = undefined;
    this.releaseMemory();
    this.pair.check();
  }

  releaseMemory(): void {
    this.reserved?.release();
    this.reserved = undefined;
  }

  /** The `from` socket closed. */
  close(error?: unknown): void {
    if (error instanceof NetError && error.code !== "ECLOSED") return this.pair.settle(error);
    // A clean close: this side sends nothing more, and takes nothing more.
    this.end();
    this.other.done = true;
    this.other.queue = undefined;
    this.other.releaseMemory();
    this.pair.check();
  }
}

const HANDLED: FastPathResult = { handled: true, path: "push-pump" };
const DECLINED: FastPathResult = { handled: false, reason: "a side does not offer push I/O" };

/** The state of one forwarded pair. */
class PushPair {
  readonly a: Conn;
  readonly b: Conn;
  readonly options: PumpOptions;
  readonly aToB: Direction;
  readonly bToA: Direction;
  readonly result = Promise.withResolvers<FastPathResult>();
  settled = false;

  constructor(a: Conn, b: Conn, ioA: PushIO, ioB: PushIO, options: PumpOptions) {
    this.a = a;
    this.b = b;
    this.options = options;
    this.aToB = new Direction(this, ioA, ioB, true);
    this.bToA = new Direction(this, ioB, ioA, false);
    this.aToB.other = this.bToA;
    this.bToA.other = this.aToB;
    ioA.attach(this.aToB);
    ioB.attach(this.bToA);
    ioA.resume();
    ioB.resume();
  }

  check(): void {
    if (this.aToB.done && this.bToA.done) this.settle();
  }

  settle(error?: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.aToB.releaseMemory();
    this.bToA.releaseMemory();
    if (error === undefined) return this.result.resolve(HANDLED);
    this.a.close();
    this.b.close();
    this.result.reject(error);
  }
}

/** The callback fast path; handles pairs where both sides offer push I/O. */
export const pushPump: FastPath = {
  name: "push-pump",
  tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult> {
    const ioA = nativeIO(a);
    const ioB = nativeIO(b);
    if (ioA?.kind !== "push" || ioB?.kind !== "push") return Promise.resolve(DECLINED);
    return new PushPair(a, b, ioA, ioB, options).result.promise;
  },
};
