/**
 * Internal: the one reader of a mux session. It reads the connection into large pooled buffers
 * (pull I/O), takes the runtime's callbacks (push I/O), or reads its web stream, and hands every
 * frame to the session synchronously. It never pauses: the peer's windows bound what it can send,
 * and a peer that exceeds them ends the session.
 *
 * On pull I/O, `DATA` payloads stay where they were read (streams keep views of the
 * {@linkcode ReadBuffer}); the reader goes on reading into the rest of the buffer, and only when
 * less than {@linkcode MIN_READ_BYTES} is left does it move the partial frame at the end (at most
 * one frame) to the start of the same buffer, or of a pooled one if streams still view this one.
 * @module
 */
import type { NativeIO, PullIO, PushIO } from "../_native_io.ts";
import type { Conn } from "../types.ts";
import type { PayloadOwnership } from "./_byte_queue.ts";
import { type ReadBuffer, ReadBufferPool } from "./_mux_buffers.ts";
import { TunnelError } from "./errors.ts";
import { type Frame, FRAME_HEADER_BYTES, frameHeaderProblem, FrameParser, type FrameType } from "./mux_frame.ts";

/** Size of the pooled read buffers on pull I/O. */
export const READ_BUFFER_BYTES = 256 * 1024;
/** Room a read gets at least: with less left in the buffer, the reader moves on to a fresh one. */
export const MIN_READ_BYTES = 64 * 1024;
/** Free read buffers a session keeps while busy. */
const POOLED_READ_BUFFERS = 2;
/** A read smaller than this (control traffic, an idle session) lets the free buffers go. */
const IDLE_READ_BYTES = 4096;
/** Web-stream chunks up to this size are lent to the streams as they are. */
const LEND_MAX_CHUNK_BYTES = 256 * 1024;

/** What the reader reports to its session. */
export interface ReaderHooks {
  /**
   * One frame. With `borrow`, a stream may keep a view of the payload (retaining `lease`, the
   * pooled buffer it views, if any). May throw TunnelError.
   */
  onFrame(frame: Frame, ownership: PayloadOwnership, lease: ReadBuffer | undefined): void;
  /** The connection ended (`error` undefined) or failed, or a frame was invalid. Called once. */
  onEnd(error: unknown): void;
  /** Push I/O: the connection can take more writes, or closed. */
  onDrain(): void;
  /** Push I/O: a chunk was parsed (views into it are valid until this returns). */
  onChunkEnd(): void;
}

/** The session's reader; starts at construction. */
export class MuxReader {
  #parser = new FrameParser();
  #pool = new ReadBufferPool(READ_BUFFER_BYTES, POOLED_READ_BUFFERS);
  /** Pull I/O: bytes of a partial frame at the end of the read buffer. */
  #partialBytes = 0;
  #hooks: ReaderHooks;
  #stopped = false;
  #webReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #pushDone: PromiseWithResolvers<void> | undefined;
  /** Resolves when the reader has stopped for good (no read pending). */
  readonly done: Promise<void>;

  constructor(conn: Conn, io: NativeIO | undefined, hooks: ReaderHooks) {
    this.#hooks = hooks;
    if (io?.kind === "pull") this.done = this.#pull(io);
    else if (io?.kind === "push") this.done = this.#push(io);
    else this.done = this.#web(conn);
  }

  /** Bytes held for a partial frame. */
  get bufferedBytes(): number {
    return this.#parser.bufferedBytes + this.#partialBytes;
  }

  /** Stops reading (the session closes the connection next). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#webReader?.cancel().catch(() => {});
    this.#pushDone?.resolve();
  }

  #end(error: unknown): void {
    if (this.#stopped) return;
    this.#hooks.onEnd(error);
    this.stop();
  }

  /** Parses a chunk (push I/O and web streams). */
  #feed(chunk: Uint8Array, ownership: PayloadOwnership): void {
    this.#parser.push(chunk);
    for (let frame = this.#parser.next(); frame !== undefined; frame = this.#parser.next()) {
      this.#hooks.onFrame(frame, frame.payload.buffer === chunk.buffer ? ownership : "own", undefined);
      if (this.#stopped) break;
    }
  }

  async #pull(io: PullIO): Promise<void> {
    await Promise.resolve(); // let the session finish its constructor
    const pool = this.#pool;
    let buffer = pool.get();
    let start = 0;
    let end = 0;
    try {
      while (!this.#stopped) {
        if (buffer.bytes.byteLength - end < MIN_READ_BYTES || (start === end && !buffer.shared)) {
          const rest = end - start;
          if (!buffer.shared) {
            if (rest > 0) buffer.bytes.copyWithin(0, start, end);
          } else {
            const next = pool.get();
            if (rest > 0) next.bytes.set(buffer.bytes.subarray(start, end));
            buffer.release();
            buffer = next;
          }
          start = 0;
          end = rest;
        }
        const n = await io.read(buffer.bytes.subarray(end));
        if (this.#stopped) return;
        if (n === null) return this.#end(undefined);
        end += n;
        if (n < IDLE_READ_BYTES) pool.clear();
        start = this.#parse(buffer, start, end);
        this.#partialBytes = end - start;
      }
    } catch (error) {
      this.#end(error);
    } finally {
      buffer.release();
      pool.clear();
    }
  }

  /** Hands out the complete frames in `buffer` from `start` to `end`; returns where the first incomplete one starts. */
  #parse(buffer: ReadBuffer, start: number, end: number): number {
    const bytes = buffer.bytes;
    let at = start;
    while (end - at >= FRAME_HEADER_BYTES) {
      const type = bytes[at];
      const streamId = u32(bytes, at + 1);
      const length = u32(bytes, at + 5);
      const problem = frameHeaderProblem(type, streamId, length);
      if (problem !== undefined) throw new TunnelError("protocol", `Invalid mux frame: ${problem}`);
      const frameEnd = at + FRAME_HEADER_BYTES + length;
      if (frameEnd > end) break;
      const payload = bytes.subarray(at + FRAME_HEADER_BYTES, frameEnd);
      at = frameEnd;
      this.#hooks.onFrame({ type: type as FrameType, streamId, payload }, "borrow", buffer);
      if (this.#stopped) break;
    }
    return at;
  }

  #push(io: PushIO): Promise<void> {
    this.#pushDone = Promise.withResolvers<void>();
    io.attach({
      data: (chunk) => {
        if (this.#stopped) return;
        try {
          this.#feed(chunk, "copy"); // the runtime may reuse `chunk`
          this.#hooks.onChunkEnd();
        } catch (error) {
          this.#end(error);
        }
      },
      drain: () => this.#hooks.onDrain(),
      end: () => this.#end(undefined),
      close: (error) => {
        this.#end(error);
        this.#hooks.onDrain();
      },
    });
    queueMicrotask(() => {
      if (!this.#stopped) io.resume();
    });
    return this.#pushDone.promise;
  }

  async #web(conn: Conn): Promise<void> {
    await Promise.resolve();
    try {
      const reader = this.#webReader = conn.readable.getReader();
      while (!this.#stopped) {
        const { done, value } = await reader.read();
        if (this.#stopped) return;
        if (done) return this.#end(undefined);
        this.#feed(value, value.byteLength <= LEND_MAX_CHUNK_BYTES ? "borrow" : "copy");
      }
    } catch (error) {
      this.#end(error);
    }
  }
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}
