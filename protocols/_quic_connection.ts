/**
 * Internal: the runtime-neutral {@linkcode QuicConnection} over a small per-runtime
 * {@linkcode QuicConnectionBackend}: stream bookkeeping, the queue of the peer's streams,
 * close codes, and a `closed` promise that never rejects.
 * @module
 */
import { formatAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode } from "./errors.ts";
import { type QuicStreamBackend, QuicStreamConn, type QuicStreamOwner } from "./_quic_stream.ts";
import { type QuicSideBackend, QuicSideChannels } from "./_quic_side_channels.ts";
import type {
  QuicCloseInfo,
  QuicCloseOptions,
  QuicConnection,
  QuicDatagramReadOptions,
  QuicStreamOptions,
  UdpReceiveBufferStatus,
} from "./quic_types.ts";
import type { Conn, NetAddr } from "./types.ts";

/** What a runtime provides for one QUIC connection after its handshake. */
export interface QuicConnectionBackend extends QuicSideBackend {
  /** The peer's UDP address. */
  readonly remoteAddr: NetAddr;
  /** Our UDP address. */
  readonly localAddr: NetAddr;
  /** The negotiated ALPN protocol. */
  readonly alpnProtocol: string | null;
  /** Opens a bidirectional stream, waiting for stream credit. Rejects with the runtime's error. */
  openStream(): Promise<QuicStreamBackend>;
  /** Starts handing the peer's bidirectional streams to `receive`; called once. */
  acceptStreams(receive: (stream: QuicStreamBackend) => void): void;
  /** Sends CONNECTION_CLOSE with an application code now. Never throws. */
  close(code: number, reason: string): void;
  /** Closes once the streams' data is delivered (Bun: graceful close; Deno: after a linger). Never throws. */
  closeGracefully(): void;
  /** Settles once, when the connection is gone; never rejects. */
  readonly closed: Promise<QuicCloseInfo>;
  /** Maps a runtime error (of a stream or of the connection) to a {@linkcode NetError}. */
  mapError(error: unknown, op: "dial" | "read" | "write"): NetError;
}

/** Largest application error code QUIC carries (a 62-bit varint; JS numbers stay exact to 2^53). */
const MAX_CLOSE_CODE = Number.MAX_SAFE_INTEGER;

/**
 * The {@linkcode NetError} of a failed QUIC operation: the runtime's own text where the code alone
 * says too little (a reset, an unknown failure), else the code's text.
 */
export function quicOpError(
  code: NetErrorCode,
  error: unknown,
  op: "dial" | "read" | "write",
  ends: { readonly remoteAddr: NetAddr; readonly localAddr: NetAddr },
): NetError {
  const detail = code === "EUNKNOWN" || code === "ECONNRESET"
    ? (error instanceof Error ? error.message : String(error))
    : NET_ERROR_TEXT[code];
  return new NetError(code, `Cannot ${op} on "${formatAddr(ends.remoteAddr)}" over quic: ${detail}`, {
    op,
    protocol: "quic",
    remoteAddr: ends.remoteAddr,
    localAddr: ends.localAddr,
    cause: error,
  });
}

/** Validates a close code. */
export function closeCode(options: QuicCloseOptions | undefined): number {
  const code = options?.code ?? 0;
  if (!Number.isInteger(code) || code < 0 || code > MAX_CLOSE_CODE) {
    throw new RangeError(
      `Cannot close the QUIC connection as 'code' must be an integer from 0 to ${MAX_CLOSE_CODE}: current value is ${code}`,
    );
  }
  return code;
}

/** A QUIC connection whose bidirectional streams are {@linkcode QuicStreamConn}s. */
export class QuicConnectionImpl implements QuicConnection, QuicStreamOwner {
  readonly #backend: QuicConnectionBackend;
  readonly #streams = new Set<QuicStreamConn>();
  readonly #incoming: QuicStreamConn[] = [];
  #waiter?: PromiseWithResolvers<void>;
  readonly #side: QuicSideChannels;
  #draining = false;
  #closeInfo: QuicCloseInfo | undefined;
  #localClose: QuicCloseInfo | undefined;
  readonly #closed: Promise<void>;
  readonly receiveBuffer: UdpReceiveBufferStatus;
  readonly alpnProtocol: string | null;
  /** Called once the connection is gone, before `closed` resolves (endpoint bookkeeping). */
  #onGone: (() => void | Promise<void>) | undefined;

  /**
   * @param backend The runtime's connection.
   * @param receiveBuffer The status of its endpoint's receive buffer.
   * @param onGone Runs once the connection is gone, before `closed` resolves.
   */
  constructor(
    backend: QuicConnectionBackend,
    receiveBuffer: UdpReceiveBufferStatus,
    onGone?: () => void | Promise<void>,
  ) {
    this.#backend = backend;
    this.receiveBuffer = receiveBuffer;
    this.alpnProtocol = backend.alpnProtocol;
    this.#onGone = onGone;
    this.#side = new QuicSideChannels(backend, {
      streamError: (error, op) => this.streamError(error, op),
      connectionError: (op) => this.#connectionError(op),
      isGone: () => this.#closeInfo !== undefined || this.#localClose !== undefined,
    });
    this.#closed = backend.closed.then((info) => this.#gone(info));
    backend.acceptStreams((stream) => this.#receive(stream));
  }

  /** The peer's UDP address. */
  get remoteAddr(): NetAddr {
    return this.#backend.remoteAddr;
  }

  /** Our UDP address. */
  get localAddr(): NetAddr {
    return this.#backend.localAddr;
  }

  /** How the connection ended, once it has. */
  get closeInfo(): QuicCloseInfo | undefined {
    return this.#closeInfo;
  }

  /** Resolves once the connection is gone. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Streams open now (opened by either side, not yet done). */
  get activeStreams(): number {
    return this.#streams.size;
  }

  async #gone(info: QuicCloseInfo): Promise<void> {
    this.#closeInfo = this.#localClose ?? info;
    const error = this.#connectionError("read");
    for (const stream of [...this.#streams]) stream.terminate(error);
    this.#streams.clear();
    for (const stream of this.#incoming.splice(0)) stream.terminate(error);
    this.#side.end(error);
    this.#wake();
    const onGone = this.#onGone;
    this.#onGone = undefined;
    try {
      await onGone?.();
    } catch { /* bookkeeping only */ }
  }

  /** The error open streams end with once the connection is gone. */
  #connectionError(op: "read" | "write" | "dial"): NetError {
    const info = this.#closeInfo;
    const code: NetErrorCode = info?.initiator === "idle-timeout"
      ? "ETIMEDOUT"
      : info?.initiator === "peer" && info.code !== 0
      ? "ECONNRESET"
      : "ECLOSED";
    const target = formatAddr(this.remoteAddr);
    const why = info?.initiator === "idle-timeout"
      ? "idle timeout"
      : info?.initiator === "peer"
      ? `closed by the peer with code ${info.code}${info.reason ? ` (${info.reason})` : ""}`
      : info?.initiator === "error"
      ? info.reason
      : NET_ERROR_TEXT.ECLOSED;
    return new NetError(code, `Cannot ${op} on "${target}" over quic: ${why}`, {
      op,
      protocol: "quic",
      remoteAddr: this.remoteAddr,
      localAddr: this.localAddr,
    });
  }

  /** Maps a stream's error; once the connection is gone, the connection's reason wins. */
  streamError(error: unknown, op: "read" | "write"): NetError {
    if (this.#closeInfo || this.#localClose) return this.#connectionError(op);
    return this.#backend.mapError(error, op);
  }

  /** A stream finished; a draining connection closes after its last stream. */
  streamDone(stream: QuicStreamConn): void {
    this.#streams.delete(stream);
    if (this.#draining && this.#streams.size === 0 && !this.#closeInfo) this.#backend.closeGracefully();
  }

  #receive(backend: QuicStreamBackend): void {
    const stream = new QuicStreamConn(backend, this);
    if (this.#closeInfo || this.#localClose || this.#draining) {
      stream.close(); // refused: STOP_SENDING and RESET_STREAM
      return;
    }
    this.#streams.add(stream);
    this.#incoming.push(stream);
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  /**
   * Opens a bidirectional stream.
   * @throws {NetError} ECLOSED (or the connection's reason) when the connection is gone.
   */
  async openStream(options: QuicStreamOptions = {}): Promise<Conn> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (this.#closeInfo || this.#localClose || this.#draining) throw this.#connectionError("write");
    const pending = this.#backend.openStream();
    let backend: QuicStreamBackend;
    if (signal) {
      const { promise: aborted, reject } = Promise.withResolvers<never>();
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        backend = await Promise.race([pending, aborted]);
      } catch (error) {
        pending.then((late) => late.abort(true, true), () => {});
        if (error === signal.reason) throw error;
        throw this.streamError(error, "write");
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    } else {
      try {
        backend = await pending;
      } catch (error) {
        throw this.streamError(error, "write");
      }
    }
    const stream = new QuicStreamConn(backend, this);
    if (this.#closeInfo || this.#localClose) {
      stream.close();
      throw this.#connectionError("write");
    }
    this.#streams.add(stream);
    return stream;
  }

  /**
   * The peer's bidirectional streams; ends when the connection closes or drains. Several
   * iterators share one queue: each stream goes to one of them.
   */
  async *incomingStreams(): AsyncIterable<Conn> {
    while (true) {
      const next = this.#incoming.shift();
      if (next) {
        if (!next.isClosed) yield next;
        continue;
      }
      if (this.#closeInfo || this.#localClose || this.#draining) return;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  /**
   * Opens a unidirectional stream (we write, the peer reads), waiting for stream credit.
   * @throws {NetError} ECLOSED (or the connection's reason) when the connection is gone.
   */
  openUniStream(options?: QuicStreamOptions): Promise<WritableStream<Uint8Array>> {
    return this.#side.openUniStream(options);
  }

  /** The peer's unidirectional streams, in arrival order; ends when the connection is gone. */
  incomingUniStreams(): AsyncIterable<ReadableStream<Uint8Array>> {
    return this.#side.incomingUniStreams();
  }

  /** Largest datagram payload the peer takes now; 0 when it takes none (or the connection is gone). */
  get maxDatagramSize(): number {
    return this.#side.maxDatagramSize;
  }

  /**
   * Sends one unreliable datagram (RFC 9221).
   * @throws {RangeError} When `data` is larger than {@linkcode QuicConnectionImpl.maxDatagramSize}.
   * @throws {NetError} When the connection is gone.
   */
  sendDatagram(data: Uint8Array): Promise<void> {
    return this.#side.sendDatagram(data);
  }

  /**
   * The next datagram the peer sent (up to 256 unread are kept).
   * @throws {NetError} When the connection is gone and no datagram is left.
   */
  readDatagram(options?: QuicDatagramReadOptions): Promise<Uint8Array> {
    return this.#side.readDatagram(options);
  }

  /**
   * Stops taking the peer's new streams (they are refused) and closes the connection gracefully
   * once the open ones are done. Idempotent.
   */
  drain(): void {
    if (this.#draining || this.#closeInfo || this.#localClose) return;
    this.#draining = true;
    for (const stream of this.#incoming.splice(0)) stream.close();
    this.#wake();
    if (this.#streams.size === 0) this.#backend.closeGracefully();
  }

  /** Closes now with CONNECTION_CLOSE; open streams end with ECLOSED. Idempotent. */
  close(options?: QuicCloseOptions): void {
    const code = closeCode(options);
    if (this.#closeInfo || this.#localClose) return;
    const reason = options?.reason ?? "";
    this.#localClose = { code, reason, initiator: "local" };
    const error = this.#connectionError("read");
    for (const stream of [...this.#streams]) stream.terminate(error);
    for (const stream of this.#incoming.splice(0)) stream.terminate(error);
    this.#side.end(error);
    this.#wake();
    this.#backend.close(code, reason);
  }

  /** Closes the connection (code 0) and waits until it is gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#closed;
  }
}
