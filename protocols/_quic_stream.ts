/**
 * Internal: one bidirectional QUIC stream as a {@linkcode Conn}, over a small per-runtime
 * {@linkcode QuicStreamBackend}. The web streams are made on first access; reads are not
 * read ahead (each `pull` reads one chunk), so memory stays bounded by QUIC's flow control.
 * @module
 */
import { formatAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError } from "./errors.ts";
import type { Conn, NetAddr } from "./types.ts";

/** What a runtime provides for one bidirectional stream. */
export interface QuicStreamBackend {
  /** The next chunk, or `null` after the peer's FIN. Rejects with the runtime's error. */
  read(): Promise<Uint8Array | null>;
  /** Writes `chunk`, which the backend may keep; resolves when more may be written (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Sends FIN after what was written. */
  finish(): Promise<void>;
  /**
   * Ends the stream abortively: STOP_SENDING when `stopRead`, RESET_STREAM when `resetWrite` (or
   * FIN where the runtime cannot reset). Never throws.
   */
  abort(stopRead: boolean, resetWrite: boolean): void;
}

/** The connection a stream belongs to. */
export interface QuicStreamOwner {
  /** Our UDP address. */
  readonly localAddr: NetAddr;
  /** The peer's UDP address. */
  readonly remoteAddr: NetAddr;
  /** Maps a runtime error from a read or write to a {@linkcode NetError}, knowing the connection's state. */
  streamError(error: unknown, op: "read" | "write"): NetError;
  /** Called once, when the stream is done (closed, both directions ended, or ended by the connection). */
  streamDone(stream: QuicStreamConn): void;
}

/**
 * Decides whether a write of `bytes` may go now: `undefined` for yes, or a promise that resolves
 * when it may (see {@linkcode QuicStreamConn.gateWrites}).
 */
export type QuicWriteGate = (bytes: number) => Promise<void> | undefined;

/** A bidirectional QUIC stream. `closeWrite()` sends FIN; `close()` stops and resets what is unfinished. */
export class QuicStreamConn implements Conn {
  readonly #backend: QuicStreamBackend;
  readonly #owner: QuicStreamOwner;
  #gate: QuicWriteGate | undefined;
  #readDone = false;
  #writeDone = false;
  #isClosed = false;
  #failure: NetError | undefined;
  #closed?: PromiseWithResolvers<void>;
  #readable?: ReadableStream<Uint8Array>;
  #controller?: ReadableStreamDefaultController<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;

  /**
   * @param backend The runtime's stream.
   * @param owner The connection.
   */
  constructor(backend: QuicStreamBackend, owner: QuicStreamOwner) {
    this.#backend = backend;
    this.#owner = owner;
  }

  /** Our UDP address. */
  get localAddr(): NetAddr {
    return this.#owner.localAddr;
  }

  /** The peer's UDP address. */
  get remoteAddr(): NetAddr {
    return this.#owner.remoteAddr;
  }

  /**
   * Makes every later write wait for `gate` first (a sender's own pacing on top of QUIC flow
   * control, as the reverse tunnel's `stream-pacing` does). One gate per stream; a later call
   * replaces it.
   */
  gateWrites(gate: QuicWriteGate): void {
    this.#gate = gate;
  }

  /** True once the stream is done. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves once the stream is done. */
  get closed(): Promise<void> {
    if (!this.#closed) {
      this.#closed = Promise.withResolvers<void>();
      if (this.#isClosed) this.#closed.resolve();
    }
    return this.#closed.promise;
  }

  /** Bytes from the peer; ends at its FIN, errors with `NetError` ECONNRESET when it resets. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        if (this.#readDone) controller.close();
      },
      pull: (controller) => this.#pull(controller),
      cancel: () => this.close(),
    }, { highWaterMark: 0 });
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#readDone) return;
    let chunk: Uint8Array | null;
    try {
      chunk = await this.#backend.read();
    } catch (error) {
      if (this.#readDone) return; // closed meanwhile: the stream already ended
      this.#readDone = true;
      controller.error(this.#owner.streamError(error, "read"));
      this.#checkDone();
      return;
    }
    if (this.#readDone) return;
    if (chunk === null) {
      this.#readDone = true;
      controller.close();
      this.#checkDone();
    } else if (chunk.byteLength > 0) {
      controller.enqueue(chunk);
    }
  }

  /** Bytes to the peer; `close()` on it sends FIN. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.#write(chunk),
      close: () => this.closeWrite(),
      abort: () => this.close(),
    });
  }

  async #write(chunk: Uint8Array): Promise<void> {
    if (this.#writeDone) throw this.#failure ?? this.#closedError("write");
    const waiting = this.#gate?.(chunk.byteLength);
    if (waiting) {
      await waiting;
      if (this.#writeDone) throw this.#failure ?? this.#closedError("write");
    }
    try {
      await this.#backend.write(chunk);
    } catch (error) {
      if (this.#writeDone) throw this.#failure ?? this.#closedError("write");
      this.#writeDone = true;
      const mapped = this.#owner.streamError(error, "write");
      this.#checkDone();
      throw mapped;
    }
  }

  #closedError(op: "read" | "write"): NetError {
    const remoteAddr = this.remoteAddr;
    return new NetError("ECLOSED", `Cannot ${op} on "${formatAddr(remoteAddr)}": ${NET_ERROR_TEXT.ECLOSED}`, {
      op,
      protocol: "quic",
      remoteAddr,
      localAddr: this.localAddr,
    });
  }

  /** Sends FIN once written bytes are out; reading continues. Idempotent. */
  closeWrite(): Promise<void> {
    if (this.#writeDone) return Promise.resolve();
    this.#writeDone = true;
    return this.#backend.finish().then(() => this.#checkDone(), () => this.#checkDone());
  }

  #checkDone(): void {
    if (this.#readDone && this.#writeDone && !this.#isClosed) this.#finish();
  }

  #finish(): void {
    this.#isClosed = true;
    this.#closed?.resolve();
    this.#owner.streamDone(this);
  }

  /** Idempotent. Stops reading and resets writing where they have not ended; pending reads end. */
  close(): void {
    if (this.#isClosed) return;
    const stopRead = !this.#readDone, resetWrite = !this.#writeDone;
    this.#readDone = this.#writeDone = true;
    if (stopRead || resetWrite) this.#backend.abort(stopRead, resetWrite);
    if (stopRead) {
      try {
        this.#controller?.close();
      } catch { /* already errored or closed */ }
    }
    this.#finish();
  }

  /** Ends the stream because its connection ended: pending reads and later writes fail with `error`. */
  terminate(error: NetError): void {
    if (this.#isClosed) return;
    this.#failure = error;
    if (!this.#readDone) {
      this.#readDone = true;
      this.#controller?.error(error);
      if (!this.#controller) this.#readable = errored(error);
    }
    this.#writeDone = true;
    this.#finish();
  }

  /** Closes the stream. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function errored(error: unknown): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({ start: (c) => c.error(error) });
}
