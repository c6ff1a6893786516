/**
 * Internal: the one reader of a mux session. It reads the connection with a large buffer (pull
 * I/O), takes the runtime's callbacks (push I/O), or reads its web stream, and hands every frame
 * to the session synchronously. It never pauses: the peer's windows bound what it can send, and
 * a peer that exceeds them ends the session.
 * @module
 */
import type { NativeIO, PullIO, PushIO } from "../_native_io.ts";
import type { Conn } from "../types.ts";
import type { PayloadOwnership } from "./_byte_queue.ts";
import { type Frame, FrameParser } from "./mux_frame.ts";

/** Size of each read on pull I/O. */
export const READ_BUFFER_BYTES = 64 * 1024;
/** A read at least this large lends its buffer to the streams (no copy); smaller reads are copied. */
const LEND_MIN_READ_BYTES = 16 * 1024;
/** Web-stream chunks up to this size are lent to the streams as they are. */
const LEND_MAX_CHUNK_BYTES = 256 * 1024;

/** What the reader reports to its session. */
export interface ReaderHooks {
  /** One frame; returns true if a stream kept a view of the payload. May throw TunnelError. */
  onFrame(frame: Frame, ownership: PayloadOwnership): boolean;
  /** The connection ended (`error` undefined) or failed, or a frame was invalid. Called once. */
  onEnd(error: unknown): void;
  /** Push I/O: the connection can take more writes, or closed. */
  onDrain(): void;
}

/** The session's reader; starts at construction. */
export class MuxReader {
  #parser = new FrameParser();
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
    return this.#parser.bufferedBytes;
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

  /** Parses a chunk; returns true if a stream kept a view into it. */
  #feed(chunk: Uint8Array, ownership: PayloadOwnership): boolean {
    this.#parser.push(chunk);
    let lent = false;
    for (let frame = this.#parser.next(); frame !== undefined; frame = this.#parser.next()) {
      const own: PayloadOwnership = frame.payload.buffer === chunk.buffer ? ownership : "own";
      if (this.#hooks.onFrame(frame, own) && own === "borrow") lent = true;
      if (this.#stopped) break;
    }
    return lent;
  }

  async #pull(io: PullIO): Promise<void> {
    await Promise.resolve(); // let the session finish its constructor
    let buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (!this.#stopped) {
        const n = await io.read(buffer);
        if (this.#stopped) return;
        if (n === null) return this.#end(undefined);
        if (this.#feed(buffer.subarray(0, n), n >= LEND_MIN_READ_BYTES ? "borrow" : "copy")) {
          buffer = new Uint8Array(READ_BUFFER_BYTES);
        }
      }
    } catch (error) {
      this.#end(error);
    }
  }

  #push(io: PushIO): Promise<void> {
    this.#pushDone = Promise.withResolvers<void>();
    io.attach({
      data: (chunk) => {
        if (this.#stopped) return;
        try {
          this.#feed(chunk, "copy"); // the runtime may reuse `chunk`
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
