/**
 * In-memory conns with native I/O, so the multiplexer's pull and push paths run on every runtime:
 * scripted conns driven by a test (for fuzzing), and linked pairs (for sessions).
 * @module
 */
import { netAddr } from "../../../protocols/address.ts";
import { NATIVE_IO, type PullIO, type PushIO, type PushSink } from "../../../protocols/_native_io.ts";
import { NetError } from "../../../protocols/errors.ts";
import type { Conn, NetAddr } from "../../../protocols/types.ts";

const ADDR: NetAddr = netAddr("127.0.0.1", 0);
const IGNORE: PushSink = { data() {}, drain() {}, end() {}, close() {} };

function closedError(op: "read" | "write"): NetError {
  return new NetError("ECLOSED", `Cannot ${op}: closed`, { op, protocol: "tcp" });
}

function noStreams(): never {
  throw new Error("this test conn offers native I/O only");
}

/** What every conn here shares: addresses, `closed`, disposal; no web streams. */
abstract class TestConn implements Conn {
  readonly localAddr: NetAddr = ADDR;
  readonly remoteAddr: NetAddr = ADDR;
  isClosed = false;
  #closed = Promise.withResolvers<void>();
  get readable(): ReadableStream<Uint8Array> {
    return noStreams();
  }
  get writable(): WritableStream<Uint8Array> {
    return noStreams();
  }
  get closed(): Promise<void> {
    return this.#closed.promise;
  }
  abstract closeWrite(): Promise<void>;
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#closed.resolve();
    this.onClose();
  }
  protected onClose(): void {}
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Pull I/O whose reads return what `push()` delivered, cut at random sizes by `split` (a function
 * of the room the reader offers); writes are counted. `end()` ends the reads.
 */
export class ScriptedPullConn extends TestConn implements PullIO {
  readonly kind = "pull" as const;
  written = 0;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #waiter: PromiseWithResolvers<void> | undefined;
  #split: (room: number) => number;

  constructor(split: (room: number) => number = (room) => room) {
    super();
    this.#split = split;
  }

  get [NATIVE_IO](): PullIO {
    return this;
  }

  push(bytes: Uint8Array): void {
    if (this.isClosed || bytes.byteLength === 0) return;
    this.#chunks.push(bytes.slice());
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended || this.isClosed) return null;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
    const want = Math.max(1, Math.min(buffer.byteLength, this.#split(buffer.byteLength)));
    let n = 0;
    while (n < want && this.#chunks.length > 0) {
      const head = this.#chunks[0];
      const take = Math.min(want - n, head.byteLength);
      buffer.set(head.subarray(0, take), n);
      n += take;
      if (take === head.byteLength) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(take);
    }
    return n;
  }

  write(data: Uint8Array): Promise<number> {
    if (this.isClosed) return Promise.reject(closedError("write"));
    this.written += data.byteLength;
    return Promise.resolve(data.byteLength);
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  protected override onClose(): void {
    this.#wake();
  }
}

/** Two pull conns joined back to back; reads return random amounts (down to 1 byte). */
export function pullConnPair(random: () => number): [ScriptedPullConn, ScriptedPullConn] {
  const split = (room: number) => (random() < 0.5 ? room : 1 + Math.floor(random() * room));
  const a = new LinkedPullConn(split, random);
  const b = new LinkedPullConn(split, random);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class LinkedPullConn extends ScriptedPullConn {
  peer!: LinkedPullConn;
  readonly #random: () => number;
  constructor(split: (room: number) => number, random: () => number) {
    super(split);
    this.#random = random;
  }
  override write(data: Uint8Array): Promise<number> {
    if (this.isClosed || this.peer.isClosed) return Promise.reject(closedError("write"));
    // Like a socket: a write may be short.
    const short = data.byteLength > 1 && this.#random() < 0.3;
    const n = short ? 1 + Math.floor(this.#random() * data.byteLength) : data.byteLength;
    this.peer.push(data.subarray(0, n));
    return Promise.resolve(n);
  }
  override closeWrite(): Promise<void> {
    this.peer.end();
    return Promise.resolve();
  }
  protected override onClose(): void {
    super.onClose();
    this.peer.close();
  }
}

/**
 * Push I/O, as a runtime socket: starts paused; `push()` delivers bytes to the sink (queued while
 * paused); writes are counted (or passed to a linked peer), taking at most `capacity` bytes a call.
 */
export class ScriptedPushConn extends TestConn implements PushIO {
  readonly kind = "push" as const;
  written = 0;
  peer: ScriptedPushConn | undefined;
  #sink: PushSink = IGNORE;
  #paused = true;
  #queue: Uint8Array[] = [];
  #ended = false;
  #endDelivered = false;
  #flushing = false;

  get [NATIVE_IO](): PushIO {
    return this;
  }

  attach(sink: PushSink): void {
    this.#sink = sink;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    queueMicrotask(() => this.#flush());
  }

  /** Bytes from the far side (copied: like a runtime, the caller may reuse them). */
  push(bytes: Uint8Array): void {
    if (this.isClosed || bytes.byteLength === 0) return;
    this.#queue.push(bytes.slice());
    this.#flush();
  }

  /** The far side half-closed: the sink gets `end()` after the bytes before it. */
  endInput(): void {
    this.#ended = true;
    this.#flush();
  }

  /** PushIO: half-closes our side (a linked peer sees the end after our last write). */
  end(): void {
    const peer = this.peer;
    if (peer) queueMicrotask(() => peer.endInput());
  }

  #flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (!this.#paused && !this.isClosed && this.#queue.length > 0) this.#sink.data(this.#queue.shift()!);
    } finally {
      this.#flushing = false;
    }
    if (this.#ended && this.#queue.length === 0 && !this.#endDelivered && !this.isClosed && !this.#paused) {
      this.#endDelivered = true;
      this.#sink.end();
    }
  }

  write(data: Uint8Array): number {
    if (this.isClosed) return -1;
    this.written += data.byteLength;
    if (this.peer) {
      const peer = this.peer;
      const copy = data.slice();
      queueMicrotask(() => peer.push(copy)); // delivered later, as by a socket
    }
    return data.byteLength;
  }

  closeWrite(): Promise<void> {
    this.end();
    return Promise.resolve();
  }

  protected override onClose(): void {
    const sink = this.#sink;
    this.#sink = IGNORE;
    sink.close();
    sink.drain();
    if (this.peer && !this.peer.isClosed) queueMicrotask(() => this.peer!.close());
  }
}

/** Two push conns joined back to back. */
export function pushConnPair(): [ScriptedPushConn, ScriptedPushConn] {
  const a = new ScriptedPushConn();
  const b = new ScriptedPushConn();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
