/**
 * Internal: the one writer of a mux session. It fills a batch buffer with frames, in this order:
 * queued control frames (OPEN, RST, PING), the PONGs owed, WINDOW updates, the control stream's
 * data, then the interactive streams (each one frame, up to half a batch), then the data streams
 * round-robin, one frame each per turn; then it writes the batch to the connection with a single
 * call. Whatever is queued while a write is in flight goes into the next batch, so small frames
 * coalesce under load and go out at once when idle (on push I/O, at the end of the event loop's
 * turn, with everything else that turn queued). Batches that the connection takes at once
 * (push I/O) follow each other synchronously up to {@linkcode YIELD_AFTER_BYTES}, then the writer
 * yields to the event loop.
 *
 * A stream is *interactive* when it starts sending with no more queued than one frame carries (a
 * request, a reply, a keystroke): it goes ahead of the streams already taking turns, so a small
 * frame waits behind at most the batch in flight, never behind a round of bulk frames. If it has
 * more to send after that frame, it joins the round-robin like any other stream, so priority
 * cannot be kept by writing a lot.
 * @module
 */
import type { NativeIO, PullIO, PushIO } from "../_native_io.ts";
import { NetError } from "../errors.ts";
import type { Conn } from "../types.ts";
import { FRAME_HEADER_BYTES, FrameType, MAX_DATA_BYTES, writeFrameHeader } from "./mux_frame.ts";
import type { MuxStream } from "./_mux_stream.ts";
import type { BulkPacer } from "./_mux_pacer.ts";

/** Size of a batch: the most one write to the connection carries. */
export const BATCH_BYTES = 256 * 1024;
/**
 * Bytes the writer writes in one go while the connection takes them at once (push I/O); past
 * this it lets the event loop run (other sockets' callbacks, an interactive stream's next write)
 * before the next batch. Many bulk streams together hold megabytes of credit.
 */
export const YIELD_AFTER_BYTES = 1024 * 1024;
/** Bytes of interactive frames one batch carries at most; the round-robin streams get the rest. */
export const INTERACTIVE_BATCH_BYTES = BATCH_BYTES / 2;
/** Unsent PONGs kept at most; older ones are dropped. */
export const MAX_QUEUED_PONGS = 16;
/** An interactive stream with less than this in flight starts (or continues) bulk pacing. */
const INTERACTIVE_IN_FLIGHT_BYTES = 64 * 1024;
const WINDOW_FRAME_BYTES = FRAME_HEADER_BYTES + 4;
const RST_FRAME_BYTES = FRAME_HEADER_BYTES + 2;

/** What the writer reports to its session. */
export interface WriterHooks {
  /** Nothing left to write. */
  onIdle(): void;
  /** A write failed; the writer is dead. */
  onError(error: unknown): void;
  /** A batch carried round-robin (bulk) frames: the session may add a pacing `PING`. */
  onBulkFrames(): void;
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
  #pongs: Uint8Array[] = [];
  #windows = new Set<MuxStream>();
  #controlStream: MuxStream | undefined;
  /** Streams that started sending with at most one frame queued: served before the ring. */
  #interactive = new StreamQueue();
  #ring = new StreamQueue();
  #writing = false;
  #alive = true;
  #flushing = false;
  #finalRst: number | undefined;
  #loopDone: PromiseWithResolvers<void> | undefined;
  #drain: PromiseWithResolvers<void> | undefined;
  readonly #resume = (): void => this.#run();
  readonly #failed = (error: unknown): void => this.#fail(error);

  #pacer: BulkPacer;

  constructor(conn: Conn, io: NativeIO | undefined, hooks: WriterHooks, pacer: BulkPacer) {
    this.#conn = conn;
    this.#io = io;
    this.#hooks = hooks;
    this.#pacer = pacer;
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

  /**
   * A stream has data or a FIN to send. Stream 0 is served before the others; a stream that was
   * not waiting and has at most one frame's worth queued is interactive (see the module doc).
   */
  wantSend(stream: MuxStream): void {
    if (stream.id === 0) {
      this.#controlStream = stream;
    } else {
      if (this.#flushing) return;
      if (!stream.inRing) {
        stream.inRing = true;
        if (stream.sendBacklog <= MAX_DATA_BYTES) this.#interactive.push(stream);
        else this.#ring.push(stream);
      }
    }
    this.#schedule();
  }

  /**
   * A stream has a WINDOW increment to send. `urgent`: the application just consumed the bytes,
   * so the writer, if idle, starts at once on pull I/O (in the middle of a large read, the peer
   * gets its credit back before the rest of the read is handed out); push I/O batches it at the
   * end of the turn like everything else.
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

  /**
   * Queues a PONG: every PING gets its own (a peer may have a probe and a caller's ping out at
   * once). Past {@linkcode MAX_QUEUED_PONGS} unsent, the oldest is dropped: a flood of PINGs costs
   * the flooder answers, not our memory.
   */
  queuePong(frame: Uint8Array): void {
    if (this.#flushing) return;
    if (this.#pongs.push(frame) > MAX_QUEUED_PONGS) this.#pongs.shift();
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
    this.#pongs = [];
    this.#windows.clear();
    for (const stream of [...this.#ring.drain(), ...this.#interactive.drain()]) stream.inRing = false;
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
    // Push I/O (Bun): at the end of this turn of the event loop, so what every socket event of the
    // turn queued (OPEN frames of a burst of connections, replies) leaves in one TLS record and
    // one write: -20% CPU per tunneled connection, and shorter round trips beside a bulk transfer.
    // Otherwise a microtask later, so whatever else this task queues joins the same batch.
    if (this.#io?.kind === "push") setImmediate(this.#resume);
    else if (now) this.#run();
    else queueMicrotask(this.#resume);
  }

  /**
   * Fills and writes batches until nothing is left; a write that completes at once (push I/O)
   * continues synchronously, up to {@linkcode YIELD_AFTER_BYTES}, then after a macrotask.
   */
  #run(): void {
    if (!this.#alive) { // stopped while a write or a yield was pending
      this.#writing = false;
      this.#loopDone?.resolve();
      return;
    }
    let written = 0;
    try {
      while (true) {
        if (written >= YIELD_AFTER_BYTES) {
          setImmediate(this.#resume);
          return;
        }
        const n = this.#fill(this.#out);
        if (n === 0) break;
        const pending = this.#write(n);
        if (pending) {
          pending.then(this.#resume, this.#failed);
          return;
        }
        written += n;
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
      while (stream?.sendable() && limit - at > FRAME_HEADER_BYTES) at += stream.emit(out, at, limit - at);
      if (!stream?.sendable() && this.#finalRst !== undefined && limit - at >= RST_FRAME_BYTES) {
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
    while (this.#pongs.length > 0) {
      const pong = this.#pongs[0];
      if (limit - at < pong.byteLength) return at;
      out.set(pong, at);
      at += pong.byteLength;
      this.#pongs.shift();
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
    while (control?.sendable() && limit - at > FRAME_HEADER_BYTES) at += control.emit(out, at, limit - at);
    at = this.#serve(this.#interactive, out, at, Math.min(limit, at + INTERACTIVE_BATCH_BYTES));
    const bulkStart = at;
    at = this.#serve(this.#ring, out, at, limit);
    if (at > bulkStart && this.#pacer.pacing) this.#hooks.onBulkFrames();
    return at;
  }

  /**
   * One frame from each stream of `queue` in turn, up to `limit`; a stream with more to send
   * goes (back) to the end of the ring, so the ring's streams take turns until the batch is full.
   * Ring streams keep to the pacer's in-flight limit; a stream held back by it or by the credit
   * leaves the queues until a WINDOW frees it.
   */
  #serve(queue: StreamQueue, out: Uint8Array, at: number, limit: number): number {
    const interactive = queue === this.#interactive;
    while (limit - at > FRAME_HEADER_BYTES) {
      const stream = queue.shift();
      if (!stream) break;
      stream.inRing = false;
      const inFlight = interactive ? Infinity : this.#pacer.limitFor(stream.id);
      if (!stream.sendable(inFlight)) continue;
      // A bulk stream whose source ran dry for a moment lands here too, with its window in flight.
      if (interactive && stream.inFlight < INTERACTIVE_IN_FLIGHT_BYTES) {
        this.#pacer.noteInteractive(stream.id, performance.now());
      }
      at += stream.emit(out, at, limit - at, inFlight);
      if (stream.sendable(inFlight)) {
        stream.inRing = true;
        this.#ring.push(stream);
      }
    }
    return at;
  }

  /** No more writes after the current one. */
  stop(): void {
    this.#alive = false;
    this.drained();
  }
}

/** A FIFO of streams: an array with a moving head, compacted as it goes. */
class StreamQueue {
  #items: (MuxStream | undefined)[] = [];
  #head = 0;

  push(stream: MuxStream): void {
    this.#items.push(stream);
  }

  shift(): MuxStream | undefined {
    if (this.#head === this.#items.length) return undefined;
    const stream = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 256 && this.#head * 2 >= this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return stream;
  }

  /** Empties the queue; returns what it held. */
  drain(): MuxStream[] {
    const rest = this.#items.slice(this.#head) as MuxStream[];
    this.#items = [];
    this.#head = 0;
    return rest;
  }
}

async function writePull(io: PullIO, out: Uint8Array, n: number): Promise<void> {
  for (let off = 0; off < n;) off += await io.write(off === 0 && n === out.byteLength ? out : out.subarray(off, n));
}
