/**
 * Internal: one stream of a mux session, as a {@linkcode TunnelStream}. It holds the receive
 * queue with its window, the send queue with its credit, half-close and reset; the session's
 * reader pushes payloads in, its writer pulls frames out. For the forward engine's native pumps
 * it offers the same kind of I/O as the session's connection: pull I/O (read into a caller's
 * buffer, write resolving once copied; Deno), or push I/O ({@linkcode StreamPushIO}; Bun), so a
 * pump moves bytes between a stream and a runtime socket.
 * @module
 */
import { NATIVE_IO, type NativeIO, type PullIO } from "../_native_io.ts";
import { NetError, type NetErrorCode } from "../errors.ts";
import type { NetAddr, ProtocolName } from "../types.ts";
import { ByteQueue, type PayloadOwnership } from "./_byte_queue.ts";
import type { ReadBuffer } from "./_mux_buffers.ts";
import { type PushBatch, type PushSource, StreamPushIO } from "./_mux_push_io.ts";
import { SendQueue } from "./_send_queue.ts";
import { TUNNEL_ERROR_NUMBERS, TunnelError, type TunnelErrorCode, tunnelErrorCodeOf } from "./errors.ts";
import { FRAME_HEADER_BYTES, FrameType, MAX_DATA_BYTES, writeFrameHeader } from "./mux_frame.ts";
import type { TunnelStream } from "./mux_stream.ts";

/** Largest send credit a peer may grant (as HTTP/2). */
export const MAX_WINDOW_BYTES = 0x7fff_ffff;
/**
 * Consumed bytes, as a fraction of the window, that make a stream send `WINDOW`. A quarter keeps
 * the sender supplied with credit while the update travels (half would leave it idle for a round
 * trip whenever the receiver drains in large steps).
 */
export const WINDOW_UPDATE_FRACTION = 1 / 4;
/** Push I/O: bytes a stream's send queue takes (copied) before `write` takes no more. */
export const PUSH_SEND_BUFFER_BYTES = 256 * 1024;

/** What a stream needs from its session. */
export interface StreamHost {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly protocol: ProtocolName;
  /** The receive window each stream grants. */
  readonly windowBytes: number;
  /** Set when streams offer push I/O (the session's connection does) rather than pull I/O. */
  readonly pushBatch: PushBatch | undefined;
  /** The stream has a frame to send (data within credit, or a FIN). */
  wantSend(stream: MuxStream): void;
  /** The stream has a WINDOW increment to send; `urgent` once the application consumed bytes. */
  wantWindow(stream: MuxStream, urgent?: boolean): void;
  /** Sends RST with `code` and forgets the stream. */
  sendReset(stream: MuxStream, code: number): void;
  /** Both directions ended: forget the stream. */
  finished(stream: MuxStream): void;
  /** Closing stream 0 closes the session. */
  closeSession(error?: unknown): void;
}

/** A multiplexed stream; created by the session only. */
export class MuxStream implements TunnelStream, PullIO, PushSource {
  readonly kind = "pull" as const;
  readonly id: number;
  #host: StreamHost;
  // Receiving.
  #queue = new ByteQueue();
  #recvWindow: number;
  #unacked = 0;
  #remoteFin = false;
  #readWaiter: PromiseWithResolvers<void> | undefined;
  /** A pull read waiting for data (no async frame is kept per idle stream). */
  #pendingRead: PendingRead | undefined;
  /** In {@linkcode readsToSettle}. */
  #settleQueued = false;
  /** Reads fail with this once the queue is drained. */
  #readError: Error | undefined;
  /** The application stopped reading (close or reset): reads end, data is dropped. */
  #readEnded = false;
  // Sending.
  #send = new SendQueue();
  #credit: number;
  /** DATA bytes sent and not yet given back by a WINDOW. */
  #inFlight = 0;
  #finRequested = false;
  #finSent = false;
  #finWaiters: (() => void)[] = [];
  #writeError: Error | undefined;
  // Life cycle.
  /** close() was called: flush what is queued, send FIN, then RST. */
  #closeRequested = false;
  #done = false;
  #resetCode: TunnelErrorCode | undefined;
  /** Made on first use of `closed`: most streams are never asked. */
  #closed: PromiseWithResolvers<void> | undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #pushIO: StreamPushIO | undefined;
  /** Session bookkeeping: queued in the writer (its interactive list or its round-robin ring). */
  inRing = false;
  /** Session bookkeeping: WINDOW increment waiting to be sent. */
  windowToSend = 0;

  constructor(host: StreamHost, id: number, sendCredit: number) {
    this.#host = host;
    this.id = id;
    this.#recvWindow = host.windowBytes;
    this.#credit = sendCredit;
  }

  get [NATIVE_IO](): NativeIO {
    const batch = this.#host.pushBatch;
    return batch ? (this.#pushIO ??= new StreamPushIO(this, batch)) : this;
  }

  get localAddr(): NetAddr {
    return this.#host.localAddr;
  }

  get remoteAddr(): NetAddr {
    return this.#host.remoteAddr;
  }

  get closed(): Promise<void> {
    if (this.#done && !this.#closed) return Promise.resolve();
    return (this.#closed ??= Promise.withResolvers<void>()).promise;
  }

  get resetCode(): TunnelErrorCode | undefined {
    return this.#resetCode;
  }

  /** Bytes received and not yet read. */
  get queuedBytes(): number {
    return this.#queue.bytes;
  }

  // ---- Frames from the peer (called by the session; a TunnelError ends the session) ----

  onData(payload: Uint8Array, ownership: PayloadOwnership, lease?: ReadBuffer): void {
    if (this.#remoteFin) throw violation(`DATA after FIN on stream ${this.id}`);
    if (payload.byteLength > this.#recvWindow) {
      throw violation(
        `DATA on stream ${this.id} exceeds the receive window (${payload.byteLength} bytes, ${this.#recvWindow} allowed)`,
      );
    }
    this.#recvWindow -= payload.byteLength;
    if (this.#readEnded) return; // nobody reads any more: count it, drop it
    if (this.#pushIO?.ready && this.#queue.bytes === 0) {
      // Push I/O with nothing queued: the sink takes the payload where it is (it keeps no view).
      this.#pushIO.collect(payload);
      this.#consumed(payload.byteLength);
      return;
    }
    this.#queue.push(payload, ownership, lease);
    this.#wakeReader();
  }

  onFin(): void {
    if (this.#remoteFin) throw violation(`second FIN on stream ${this.id}`);
    this.#remoteFin = true;
    this.#wakeReader();
    if (this.#finSent) this.#finish();
  }

  /**
   * The peer reset the stream; writes fail. If the peer had sent its FIN, what it sent stays
   * readable (it closed after finishing); otherwise unread data is discarded, as TCP does.
   */
  onReset(code: number): void {
    this.#resetCode = code === 0 ? undefined : tunnelErrorCodeOf(code);
    const detail = this.#resetCode ? `reset by peer (${this.#resetCode})` : "reset by peer";
    const cause = this.#resetCode ? new TunnelError(this.#resetCode, `Tunnel stream ${this.id} ${detail}`) : undefined;
    this.#failWrites(this.#error("ECONNRESET", "write", detail, cause));
    if (!this.#remoteFin) {
      this.#queue.clear();
      this.#failReads(this.#error("ECONNRESET", "read", detail, cause));
    }
    this.#finish();
  }

  onWindow(increment: number): void {
    if (this.#credit + increment > MAX_WINDOW_BYTES) {
      throw violation(`WINDOW on stream ${this.id} raises the credit past ${MAX_WINDOW_BYTES} bytes`);
    }
    this.#credit += increment;
    this.#inFlight = Math.max(0, this.#inFlight - increment);
    // Out of the writer's queues: blocked by the credit or by the pacing limit.
    if (!this.inRing && this.#send.bytes > 0) this.#host.wantSend(this);
  }

  /** The session is closing: reads fail once the data received so far is read; queued writes may still flush. */
  endReads(reason: unknown, code: NetErrorCode): void {
    if (!this.#remoteFin) this.#failReads(this.#error(code, "read", "the tunnel session is closed", reason));
  }

  /** The session ended: writes fail; received data stays readable, then reads fail (or end after a FIN). */
  onSessionEnd(reason: unknown, code: NetErrorCode): void {
    if (this.#done) return;
    this.#failWrites(this.#error(code, "write", "the tunnel session is closed", reason));
    this.endReads(reason, code);
    this.#finish();
  }

  #error(code: NetErrorCode, op: "read" | "write", detail: string, cause?: unknown): NetError {
    return new NetError(code, `Cannot ${op} on tunnel stream ${this.id}: ${detail}`, {
      op,
      protocol: this.#host.protocol,
      remoteAddr: this.#host.remoteAddr,
      cause,
    });
  }

  #failWrites(error: NetError): void {
    this.#writeError ??= error;
    this.#send.fail(this.#writeError);
    for (const resolve of this.#finWaiters.splice(0)) resolve();
    this.#pushIO?.roomAgain(); // a refused sink's next write learns the stream is closed
  }

  #failReads(error: NetError): void {
    if (this.#readEnded) return;
    this.#readError ??= error;
    this.#wakeReader();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#host.finished(this);
    this.#closed?.resolve();
  }

  // ---- Application reads ----

  #wakeReader(): void {
    const waiter = this.#readWaiter;
    this.#readWaiter = undefined;
    waiter?.resolve();
    if (this.#pendingRead && !this.#settleQueued) {
      this.#settleQueued = true;
      // Settled a microtask later, as an awaiting reader would have run: every payload of the
      // session's current read is queued by then and goes out in one copy.
      if (readsToSettle.push(this) === 1) queueMicrotask(settleReads);
    }
    this.#pushIO?.wake();
  }

  /** Session internal ({@linkcode settleReads}): completes the pending pull read if it can. */
  settleRead(): void {
    this.#settleQueued = false;
    const pending = this.#pendingRead;
    if (!pending) return;
    if (this.#queue.bytes > 0) {
      this.#pendingRead = undefined;
      pending.resolve(this.#readMore(pending.buffer));
    } else if (this.#readError) {
      this.#pendingRead = undefined;
      pending.reject(this.#readError);
    } else if (this.#remoteFin || this.#readEnded) {
      this.#pendingRead = undefined;
      pending.resolve(null);
    }
  }

  /**
   * The application took `n` bytes: grant them back once a {@linkcode WINDOW_UPDATE_FRACTION} of
   * the window was consumed, at once (the writer coalesces what accrues while it is busy).
   */
  #consumed(n: number): void {
    if (this.#remoteFin || this.#done) return;
    this.#unacked += n;
    if (this.#unacked >= this.#host.windowBytes * WINDOW_UPDATE_FRACTION) {
      this.#recvWindow += this.#unacked;
      this.windowToSend += this.#unacked;
      this.#unacked = 0;
      this.#host.wantWindow(this, true);
    }
  }

  /** Resolves to the next chunk (a view the caller keeps) of at most `max` bytes, or `null` at the end. */
  async #next(max: number): Promise<Uint8Array | null> {
    while (true) {
      const chunk = this.#queue.take(max, true);
      if (chunk) {
        this.#consumed(chunk.byteLength);
        return chunk;
      }
      if (this.#readError) throw this.#readError;
      if (this.#remoteFin || this.#readEnded) return null;
      this.#readWaiter ??= Promise.withResolvers<void>();
      await this.#readWaiter.promise;
    }
  }

  /** {@linkcode PullIO.read}: copies up to `buffer.byteLength` bytes; `null` at the end. */
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#queue.bytes > 0) return Promise.resolve(this.#readMore(buffer));
    if (this.#readError) return Promise.reject(this.#readError);
    if (this.#remoteFin || this.#readEnded) return Promise.resolve(null);
    if (this.#pendingRead) {
      return Promise.reject(new TypeError(`Cannot read tunnel stream ${this.id}: a read is already pending`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<number | null>();
    this.#pendingRead = { buffer, resolve, reject };
    return promise;
  }

  #readMore(target: Uint8Array): number {
    const n = this.#queue.readInto(target);
    if (n > 0) this.#consumed(n);
    return n;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.#next(Infinity);
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
  }

  // ---- Application writes ----

  #enqueue(data: Uint8Array, retain: boolean): Promise<void> {
    if (this.#writeError) return Promise.reject(this.#writeError);
    if (this.#finRequested) {
      const detail = this.#closeRequested ? "the stream is closed" : "the write side is closed (closeWrite was called)";
      return Promise.reject(this.#error("EPIPE", "write", detail));
    }
    if (data.byteLength === 0) return Promise.resolve();
    const written = this.#send.enqueue(data, retain);
    if (this.#credit > 0) this.#host.wantSend(this);
    return written;
  }

  /** {@linkcode PullIO.write}: resolves once all of `data` was handed to the session writer. */
  async write(data: Uint8Array): Promise<number> {
    await this.#enqueue(data, false);
    return data.byteLength;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.#enqueue(chunk, true),
      close: () => this.closeWrite(),
      abort: () => this.#resetWith(0, "the stream was aborted"),
    });
  }

  /** Sends FIN after the queued data; resolves once the FIN is handed to the writer. */
  closeWrite(): Promise<void> {
    if (this.#finSent || this.#writeError) return Promise.resolve();
    this.#finRequested = true;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#finWaiters.push(resolve);
    if (this.#send.bytes === 0) this.#host.wantSend(this);
    return promise;
  }

  // ---- The session writer ----

  /** Bytes queued to send (within credit or not). */
  get sendBacklog(): number {
    return this.#send.bytes;
  }

  /** DATA bytes sent that the peer has not given back yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True if {@linkcode MuxStream.emit} would write a frame now, with at most `limit` bytes in flight. */
  sendable(limit = Infinity): boolean {
    if (this.#send.bytes > 0) return this.#credit > 0 && this.#inFlight < this.#pacedLimit(limit);
    return this.#finRequested && !this.#finSent;
  }

  /**
   * A pacing limit, raised to what keeps WINDOW frames coming: the peer returns credit once a
   * {@linkcode WINDOW_UPDATE_FRACTION} of its window is consumed (credit plus bytes in flight is
   * that window), so a sender held below that would wait for ever.
   */
  #pacedLimit(limit: number): number {
    if (limit === Infinity) return limit;
    return Math.max(limit, Math.ceil((this.#credit + this.#inFlight) * WINDOW_UPDATE_FRACTION) + MAX_DATA_BYTES);
  }

  /**
   * Writes one frame into `out` at `at`, in at most `space` bytes: DATA of up to 16 KiB within
   * the credit (and with at most `limit` bytes in flight), or the FIN once the data is out.
   * Returns the bytes written.
   */
  emit(out: Uint8Array, at: number, space: number, limit = Infinity): number {
    if (this.#send.bytes > 0) {
      const room = this.#pacedLimit(limit) - this.#inFlight;
      const n = Math.min(MAX_DATA_BYTES, this.#credit, room, space - FRAME_HEADER_BYTES, this.#send.bytes);
      if (n <= 0) return 0;
      writeFrameHeader(out, at, FrameType.DATA, this.id, n);
      this.#send.copyOut(out, at + FRAME_HEADER_BYTES, n);
      this.#credit -= n;
      this.#inFlight += n;
      if (this.#pushIO && this.#send.bytes <= PUSH_SEND_BUFFER_BYTES / 2) this.#pushIO.roomAgain();
      return FRAME_HEADER_BYTES + n;
    }
    if (!this.#finRequested || this.#finSent || space < FRAME_HEADER_BYTES) return 0;
    writeFrameHeader(out, at, FrameType.FIN, this.id, 0);
    this.#finSent = true;
    for (const resolve of this.#finWaiters.splice(0)) resolve();
    if (this.#remoteFin) this.#finish();
    else if (this.#closeRequested) this.#resetWith(0, "the stream is closed"); // FIN first, then RST
    return FRAME_HEADER_BYTES;
  }

  // ---- Push I/O (PushSource, for StreamPushIO) ----

  takeForSink(): Uint8Array | undefined {
    const chunk = this.#queue.take(Infinity, false);
    if (chunk) this.#consumed(chunk.byteLength);
    return chunk;
  }

  get readFailure(): Error | undefined {
    return this.#readError;
  }

  get remoteFinished(): boolean {
    return this.#remoteFin;
  }

  pushWrite(data: Uint8Array): number {
    if (this.#writeError || this.#finRequested) return -1;
    const n = Math.min(PUSH_SEND_BUFFER_BYTES - this.#send.bytes, data.byteLength);
    if (n <= 0) return 0;
    const part = n === data.byteLength ? data : data.subarray(0, n);
    // A copy: the caller may reuse `data` once we return, and the session writer batches what the
    // event loop's turn queued before it writes.
    this.#send.enqueueCopy(part);
    if (this.#credit > 0) this.#host.wantSend(this);
    return n;
  }

  // ---- Closing ----

  /** Aborts both directions and tells the peer (`RST` with `code`, 0 for no error). */
  #resetWith(code: number, detail: string): void {
    if (this.id === 0) {
      return this.#host.closeSession(code === 0 ? undefined : new TunnelError(tunnelErrorCodeOf(code), detail));
    }
    this.#readEnded = true;
    this.#pushIO?.detach();
    this.#queue.clear();
    this.#wakeReader();
    if (this.#done) return;
    this.#failWrites(this.#error("ECLOSED", "write", detail));
    this.#host.sendReset(this, code);
    this.#finish();
  }

  reset(code: TunnelErrorCode): void {
    this.#resetWith(TUNNEL_ERROR_NUMBERS[code], `the stream was reset (${code})`);
  }

  /**
   * Closes the stream as closing a TCP socket does: with unread data it resets at once;
   * otherwise it stops reading, settles pending writes, flushes them, sends FIN, then `RST` (0)
   * so the peer stops sending. The peer reads everything up to the FIN. Idempotent.
   */
  close(): void {
    if (this.id === 0) return this.#host.closeSession();
    const unread = this.#queue.bytes > 0;
    this.#readEnded = true;
    this.#pushIO?.detach();
    this.#queue.clear();
    this.#wakeReader();
    if (this.#done || this.#closeRequested) return;
    this.#closeRequested = true;
    if (unread || this.#finSent || this.#writeError) return this.#resetWith(0, "the stream is closed");
    this.#finRequested = true;
    this.#send.settleAll(); // Conn.close() settles pending writes; their bytes still go out
    if (this.#send.bytes === 0 || this.#credit > 0) this.#host.wantSend(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** A pull read waiting for data. */
interface PendingRead {
  readonly buffer: Uint8Array;
  readonly resolve: (n: number | null) => void;
  readonly reject: (error: unknown) => void;
}

/** Streams whose pending pull read may complete; settled together in one microtask. */
const readsToSettle: MuxStream[] = [];

function settleReads(): void {
  for (let i = 0; i < readsToSettle.length; i++) readsToSettle[i].settleRead();
  readsToSettle.length = 0;
}

function violation(detail: string): TunnelError {
  return new TunnelError("protocol", `Invalid mux frame: ${detail}`);
}
