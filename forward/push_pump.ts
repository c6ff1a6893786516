/**
 * The native pump for push-style conns (Bun TCP): socket `data`/`drain` callbacks with
 * pause/resume. A chunk the receiving socket cannot take at once is queued; once the queue holds
 * `highWatermark` bytes the sending side is paused, and it resumes when the queue drains below
 * `lowWatermark`. No byte enters a web stream.
 * @module
 */
import { nativeIO, type PushIO, type PushSink } from "../protocols/_native_io.ts";
import { NetError } from "../protocols/errors.ts";
import type { Conn } from "../protocols/types.ts";
import type { FastPath, FastPathResult, ForwardCounters, PumpOptions } from "./types.ts";

/** One direction: bytes read from `from` are written to `to`. */
class Direction {
  readonly from: PushIO;
  readonly to: PushIO;
  readonly #count: (counters: ForwardCounters, n: number) => void;
  readonly #options: PumpOptions;
  readonly #onDone: () => void;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #eof = false;
  done = false;

  constructor(
    from: PushIO,
    to: PushIO,
    count: (counters: ForwardCounters, n: number) => void,
    options: PumpOptions,
    onDone: () => void,
  ) {
    this.from = from;
    this.to = to;
    this.#count = count;
    this.#options = options;
    this.#onDone = onDone;
  }

  /** Bytes arrived from `from`. */
  data(chunk: Uint8Array): void {
    if (this.done) return;
    if (this.#queued === 0) {
      const n = this.to.write(chunk);
      if (n < 0) return this.#writeFailed();
      if (n > 0) this.#count(this.#options.counters, n);
      if (n === chunk.byteLength) return;
      chunk = chunk.subarray(n);
    }
    this.#queue.push(chunk.slice()); // the runtime may reuse `chunk` after this call
    this.#queued += chunk.byteLength;
    if (!this.#paused && this.#queued >= this.#options.highWatermark) {
      this.#paused = true;
      this.#options.counters.pauses++;
      this.from.pause();
    }
  }

  /** `to` can take more bytes. */
  drain(): void {
    if (this.done) return;
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      const n = this.to.write(head);
      if (n < 0) return this.#writeFailed();
      if (n > 0) {
        this.#count(this.#options.counters, n);
        this.#queued -= n;
      }
      if (n < head.byteLength) {
        this.#queue[0] = head.subarray(n);
        break;
      }
      this.#queue.shift();
    }
    if (this.#paused && this.#queued <= this.#options.lowWatermark) {
      this.#paused = false;
      this.from.resume();
    }
    if (this.#queued === 0 && this.#eof) this.#finish();
  }

  /** `from` reached end of stream. */
  eof(): void {
    if (this.done || this.#eof) return;
    this.#eof = true;
    if (this.#queued === 0) this.#finish();
  }

  #finish(): void {
    this.done = true;
    this.to.end();
    this.#onDone();
  }

  /** `to` is closed: the rest of this direction cannot be delivered. */
  #writeFailed(): void {
    this.done = true;
    this.#onDone();
  }
}

const countAToB = (c: ForwardCounters, n: number) => void (c.aToB += n);
const countBToA = (c: ForwardCounters, n: number) => void (c.bToA += n);

/** The callback fast path; handles pairs where both sides offer push I/O. */
export const pushPump: FastPath = {
  name: "push-pump",
  tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult> {
    const ioA = nativeIO(a);
    const ioB = nativeIO(b);
    if (ioA?.kind !== "push" || ioB?.kind !== "push") {
      return Promise.resolve({ handled: false, reason: "a side does not offer push I/O" });
    }
    const { promise, resolve, reject } = Promise.withResolvers<FastPathResult>();
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve({ handled: true, path: "push-pump" });
      else {
        a.close();
        b.close();
        reject(error);
      }
    };
    const checkDone = () => {
      if (aToB.done && bToA.done) settle();
    };
    const aToB = new Direction(ioA, ioB, countAToB, options, checkDone);
    const bToA = new Direction(ioB, ioA, countBToA, options, checkDone);
    const sinkFor = (reading: Direction, writing: Direction): PushSink => ({
      data: (chunk) => reading.data(chunk),
      drain: () => writing.drain(),
      end: () => reading.eof(),
      close(error) {
        if (error instanceof NetError && error.code !== "ECLOSED") return settle(error);
        // A clean close: this side sends nothing more, and takes nothing more.
        reading.eof();
        writing.done = true;
        checkDone();
      },
    });
    ioA.attach(sinkFor(aToB, bToA));
    ioB.attach(sinkFor(bToA, aToB));
    ioA.resume();
    ioB.resume();
    return promise;
  },
};
