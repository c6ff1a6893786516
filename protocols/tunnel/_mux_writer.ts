/**
 * Internal: the one writer of a mux session. It fills a batch buffer with frames, in this order:
 * queued control frames (OPEN, RST, PING), the latest PONG, WINDOW updates, the control stream's
 * data, then the data streams round-robin, one frame each per turn; then it writes the batch to
 * the connection with a single call. Whatever is queued while a write is in flight goes into the
 * next batch, so small frames coalesce under load and go out at once when idle.
 * @module
 */
import type { NativeIO, PullIO, PushIO } from "../_native_io.ts";
import { NetError } from "../errors.ts";
import type { Conn } from "../types.ts";
import { FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from "./mux_frame.ts";
import type { MuxStream } from "./_mux_stream.ts";

/** Size of a batch: the most one write to the connection carries. */
export const BATCH_BYTES = 256 * 1024;
const WINDOW_FRAME_BYTES = FRAME_HEADER_BYTES + 4;
const RST_FRAME_BYTES = FRAME_HEADER_BYTES + 2;

/** What the writer reports to its session. */
export interface WriterHooks {
  /** Nothing left to write. */
  onIdle(): void;
  /** A write failed; the writer is dead. */
  onError(error: unknown): void;
}

/** The session's writer. */
export class MuxWriter {
  #conn: Conn;
  #io: NativeIO | undefined;
  #hooks: WriterHooks;
  #webWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #out = new Uint8Array(BATCH_BYTES);
  #control: Uint8Array[] = [];
  #controlHead = 0;
  #controlBytes = 0;
  #pong: Uint8Array | undefined;
  #windows = new Set<MuxStream>();
  #controlStream: MuxStream | undefined;
  #ring: (MuxStream | undefined)[] = [];
  #ringHead = 0;
  #writing = false;
  #alive = true;
  #flushing = false;
  #finalRst: number | undefined;
  #loopDone: PromiseWithResolvers<void> | undefined;
  #drain: PromiseWithResolvers<void> | undefined;
  readonly #resume = (): void => this.#run();
  readonly #failed = (error: unknown): void => this.#fail(error);

  constructor(conn: Conn, io: NativeIO | undefined, hooks: WriterHooks) {
    this.#conn = conn;
    this.#io = io;
    this.#hooks = hooks;
  }

  /** False once a write failed. */
  get alive(): boolean {
    return this.#alive;
  }

  /** Resolves when the current write loop (if any) has ended. */
  get done(): Promise<void> {
    return this.#loopDone?.promise ?? Promise.resolve();
  }

  /** Bytes of control frames waiting. */
  get queuedControlBytes(): number {
    return this.#controlBytes;
  }

  /** A stream has data or a FIN to send. Stream 0 is served before the others. */
  wantSend(stream: MuxStream, now = false): void {
    if (stream.id === 0) {
      this.#controlStream = stream;
    } else {
      if (this.#flushing) return;
      if (!stream.inRing) {
        stream.inRing = true;
        this.#ring.push(stream);
      }
    }
    this.#schedule(now);
  }

  /**
   * A stream has a WINDOW increment to send. `urgent`: the application just consumed the bytes,
   * so the writer, if idle, starts at once (in the middle of a large read, the peer gets its
   * credit back before the rest of the read is handed out).
   */
  wantWindow(stream: MuxStream, urgent = false): void {
    if (this.#flushing) return;
    this.#windows.add(stream);
    this.#schedule(urgent);
  }

  /** Queues a complete control frame. */
  queueControl(frame: Uint8Array): void {
    if (this.#flushing) return;
    this.#control.push(frame);
    this.#controlBytes += frame.byteLength;
    this.#schedule();
  }

  /** Sets the PONG to send; a newer one replaces an unsent one. */
  setPong(frame: Uint8Array): void {
    if (this.#flushing) return;
    this.#pong = frame;
    this.#schedule();
  }

  /** Closing: drop everything but the control stream's data, then send `RST(0, rstCode)` if given. */
  startFlush(controlStream: MuxStream, rstCode: number | undefined): void {
    this.#flushing = true;
    this.#controlStream = controlStream;
    this.#finalRst = rstCode;
    this.#control = [];
    this.#controlHead = 0;
    this.#controlBytes = 0;
    this.#pong = undefined;
    this.#windows.clear();
    for (let i = this.#ringHead; i < this.#ring.length; i++) this.#ring[i]!.inRing = false;
    this.#ring = [];
    this.#ringHead = 0;
    if (this.#writing) return;
    this.#schedule();
  }

  /** The connection can take more writes (push I/O), or closed. */
  drained(): void {
    const waiter = this.#drain;
    this.#drain = undefined;
    waiter?.resolve();
  }

  #schedule(now = false): void {
    if (this.#writing || !this.#alive) return;
    this.#writing = true;
    this.#loopDone = Promise.withResolvers<void>();
    // Otherwise a microtask later, so whatever else this task queues joins the same batch.
    if (now) this.#run();
    else queueMicrotask(this.#resume);
  }

  /** Fills and writes batches until nothing is left; a write that completes at once (push I/O) continues synchronously. */
  #run(): void {
    try {
      while (true) {
        const n = this.#fill(this.#out);
        if (n === 0) break;
        const pending = this.#write(n);
        if (pending) {
          pending.then(this.#resume, this.#failed);
          return;
        }
      }
    } catch (error) {
      return this.#fail(error);
    }
    this.#writing = false;
    this.#loopDone?.resolve();
    this.#hooks.onIdle();
  }

  #fail(error: unknown): void {
    this.#alive = false;
    this.#writing = false;
    this.#loopDone?.resolve();
    this.#hooks.onError(error);
  }

  /** Writes the batch; returns a promise unless it was written at once. */
  #write(n: number): Promise<void> | undefined {
    const io = this.#io;
    if (io?.kind === "pull") return writePull(io, this.#out, n);
    if (io?.kind === "push") return this.#writePush(io, this.#out, 0, n);
    this.#webWriter ??= this.#conn.writable.getWriter();
    // A generic sink may keep the chunk: give it its own copy, keep the batch buffer.
    return this.#webWriter.write(this.#out.slice(0, n));
  }

  /** Writes `out[off, n)` to push I/O: synchronously while the socket takes it, then after each `drain`. */
  #writePush(io: PushIO, out: Uint8Array, off: number, n: number): Promise<void> | undefined {
    while (off < n) {
      const written = io.write(out.subarray(off, n));
      if (written < 0) {
        throw new NetError("ECLOSED", "Cannot write on tunnel session: connection is closed", {
          op: "write",
          protocol: "tcp",
          remoteAddr: this.#conn.remoteAddr,
        });
      }
      off += written;
      if (off < n) {
        this.#drain ??= Promise.withResolvers<void>();
        const resume = off;
        return this.#drain.promise.then(() => this.#writePush(io, out, resume, n));
      }
    }
    return undefined;
  }

  #fill(out: Uint8Array): number {
    const limit = out.byteLength;
    let at = 0;
    if (this.#flushing) {
      const stream = this.#controlStream;
      while (stream?.sendable && limit - at > FRAME_HEADER_BYTES) at += stream.emit(out, at, limit - at);
      if (!stream?.sendable && this.#finalRst !== undefined && limit - at >= RST_FRAME_BYTES) {
        writeFrameHeader(out, at, FrameType.RST, 0, 2);
        out[at + FRAME_HEADER_BYTES] = this.#finalRst >>> 8;
        out[at + FRAME_HEADER_BYTES + 1] = this.#finalRst & 0xff;
        at += RST_FRAME_BYTES;
        this.#finalRst = undefined;
      }
      return at;
    }
    while (this.#controlHead < this.#control.length) {
      const frame = this.#control[this.#controlHead];
      if (limit - at < frame.byteLength) return at;
      out.set(frame, at);
      at += frame.byteLength;
      this.#controlBytes -= frame.byteLength;
      this.#controlHead++;
    }
    this.#control.length = 0;
    this.#controlHead = 0;
    if (this.#pong) {
      if (limit - at < this.#pong.byteLength) return at;
      out.set(this.#pong, at);
      at += this.#pong.byteLength;
      this.#pong = undefined;
    }
    for (const stream of this.#windows) {
      if (limit - at < WINDOW_FRAME_BYTES) return at;
      const increment = stream.windowToSend;
      stream.windowToSend = 0;
      this.#windows.delete(stream);
      if (increment === 0) continue;
      writeFrameHeader(out, at, FrameType.WINDOW, stream.id, 4);
      new DataView(out.buffer, out.byteOffset + at + FRAME_HEADER_BYTES, 4).setUint32(0, increment);
      at += WINDOW_FRAME_BYTES;
    }
    const control = this.#controlStream;
    while (control?.sendable && limit - at > FRAME_HEADER_BYTES) at += control.emit(out, at, limit - at);
    while (this.#ringHead < this.#ring.length && limit - at > FRAME_HEADER_BYTES) {
      const stream = this.#ring[this.#ringHead]!;
      this.#ring[this.#ringHead++] = undefined;
      stream.inRing = false;
      if (!stream.sendable) continue;
      at += stream.emit(out, at, limit - at);
      if (stream.sendable) {
        stream.inRing = true;
        this.#ring.push(stream);
      }
    }
    if (this.#ringHead === this.#ring.length) {
      this.#ring.length = 0;
      this.#ringHead = 0;
    } else if (this.#ringHead >= 256 && this.#ringHead * 2 >= this.#ring.length) {
      this.#ring.splice(0, this.#ringHead);
      this.#ringHead = 0;
    }
    return at;
  }

  /** No more writes after the current one. */
  stop(): void {
    this.#alive = false;
    this.drained();
  }
}

async function writePull(io: PullIO, out: Uint8Array, n: number): Promise<void> {
  for (let off = 0; off < n;) off += await io.write(off === 0 && n === out.byteLength ? out : out.subarray(off, n));
}
