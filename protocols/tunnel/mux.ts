/**
 * {@linkcode MuxSession}: the TLS/TCP stream multiplexer of PROTOCOL.md section 5. Many
 * {@linkcode TunnelStream}s share one connection; each has its own credit-based flow control,
 * and one writer serves the streams round-robin, one frame at a time, with a stream that starts
 * with a small write (a request, a reply) ahead of the round, so a bulk transfer cannot starve an
 * interactive stream and a reader that stops stalls only its own stream.
 * @module
 */
import { nativeIO } from "../_native_io.ts";
import { NetError, type NetErrorCode } from "../errors.ts";
import type { Conn, NetAddr, ProtocolName } from "../types.ts";
import type { PayloadOwnership } from "./_byte_queue.ts";
import type { ReadBuffer } from "./_mux_buffers.ts";
import { PushBatch } from "./_mux_push_io.ts";
import { MuxReader } from "./_mux_reader.ts";
import { MuxStream, type StreamHost } from "./_mux_stream.ts";
import { MuxWriter } from "./_mux_writer.ts";
import { Pings } from "./_pings.ts";
import { BulkPacer } from "./_mux_pacer.ts";
import { StreamTable } from "./_stream_table.ts";
import { TUNNEL_ERROR_NUMBERS, TunnelError, tunnelErrorCodeOf } from "./errors.ts";
import { encodeFrame, type Frame, FrameType } from "./mux_frame.ts";
import type { TunnelStream } from "./mux_stream.ts";
import { MAX_STREAM_HEADER_BYTES } from "./stream_header.ts";

export type { TunnelStream } from "./mux_stream.ts";

/** The window every stream starts with in each direction (PROTOCOL.md section 5). */
export const PROTOCOL_WINDOW_BYTES = 256 * 1024;
/** Default receive window per stream. */
export const DEFAULT_INITIAL_WINDOW_BYTES: number = PROTOCOL_WINDOW_BYTES;
/** Default limit on concurrent streams (besides the control stream). */
export const DEFAULT_MAX_STREAMS = 1024;
/** Default time `close()` spends flushing queued control data before closing the connection. */
export const DEFAULT_FLUSH_TIMEOUT_MS = 2_000;
/** Largest receive window a session may be configured with. */
export const MAX_INITIAL_WINDOW_BYTES = 16 * 1024 * 1024;

/** Options for {@linkcode MuxSession}. */
export interface MuxSessionOptions {
  /** The server opens streams (even ids from 2); the client accepts them. */
  role: "client" | "server";
  /**
   * Receive window per stream, at least the protocol's 256 KiB; a larger one is granted to the
   * peer with a `WINDOW` frame when the stream starts. @default {262_144}
   */
  initialWindowBytes?: number;
  /** Concurrent streams allowed; more `OPEN`s are reset with `too_many_connections`. @default {1024} */
  maxStreams?: number;
  /** How long `close()` may spend flushing queued control-stream data. @default {2_000} */
  flushTimeoutMs?: number;
  /** Protocol named in the {@linkcode NetError}s the session creates. @default {"tls"} */
  protocol?: ProtocolName;
  /** Use the conn's native I/O when it offers it (the conn's web streams must then be untouched). @default {true} */
  nativeIO?: boolean;
}

/** Options for {@linkcode MuxSession.open} and {@linkcode MuxSession.ping}. */
export interface MuxCallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
}

/** A stream the peer opened. */
export interface IncomingStream {
  /** The `OPEN` payload: the stream header of PROTOCOL.md section 6. */
  header: Uint8Array;
  /** The stream. */
  conn: TunnelStream;
}

const MAX_CONTROL_QUEUE_BYTES = 1024 * 1024;

/**
 * A multiplexed session over one connection. Stream 0 ({@linkcode MuxSession.control}) carries
 * the control channel; the server opens a stream per forwarded connection with
 * {@linkcode MuxSession.open}, and the client takes them from {@linkcode MuxSession.accept}.
 *
 * A malformed frame from the peer ends the session: {@linkcode MuxSession.closeReason} is then a
 * {@linkcode TunnelError} coded `protocol`. Background loops never throw.
 *
 * @example Open a stream on the server, accept it on the client
 * ```ts ignore
 * import { MuxSession } from "./mux.ts";
 * await using server = new MuxSession(serverConn, { role: "server" });
 * await using client = new MuxSession(clientConn, { role: "client" });
 * const opened = await server.open(header);
 * for await (const { header, conn } of client.accept()) {
 *   // decodeStreamHeader(header), connect the local target, forward(conn, target)
 * }
 * ```
 */
export class MuxSession implements AsyncDisposable {
  /** Stream 0: the control channel. Closing it closes the session. */
  readonly control: TunnelStream;
  readonly #conn: Conn;
  readonly #role: "client" | "server";
  readonly #windowBytes: number;
  readonly #flushTimeoutMs: number;
  readonly #protocol: ProtocolName;
  readonly #controlStream: MuxStream;
  readonly #streams: StreamTable;
  readonly #pings = new Pings();
  readonly #pacer = new BulkPacer();
  /** Sequence number of the pacing `PING` awaited, if any. */
  #pacingSeq: number | undefined;
  readonly #host: StreamHost;
  readonly #writer: MuxWriter;
  readonly #reader: MuxReader;
  readonly #pushBatch: PushBatch | undefined;
  #closing = false;
  #connClosed = false;
  #closeReason: unknown;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = Promise.withResolvers<void>();

  /**
   * Starts a session over `conn`, which it owns from now on.
   *
   * @param conn The connection (TLS in production; any {@linkcode Conn} works).
   * @param options The role and limits.
   * @throws {TypeError} If `role` is neither `"client"` nor `"server"`.
   * @throws {RangeError} If `initialWindowBytes`, `maxStreams` or `flushTimeoutMs` is out of range.
   */
  constructor(conn: Conn, options: MuxSessionOptions) {
    const {
      role,
      initialWindowBytes = DEFAULT_INITIAL_WINDOW_BYTES,
      maxStreams = DEFAULT_MAX_STREAMS,
      flushTimeoutMs = DEFAULT_FLUSH_TIMEOUT_MS,
      protocol = "tls",
      nativeIO: useNative = true,
    } = options;
    validate(role, initialWindowBytes, maxStreams, flushTimeoutMs);
    this.#conn = conn;
    this.#role = role;
    this.#windowBytes = initialWindowBytes;
    this.#flushTimeoutMs = flushTimeoutMs;
    this.#protocol = protocol;
    this.#streams = new StreamTable(role, maxStreams);
    const io = useNative ? nativeIO(conn) : undefined;
    this.#pushBatch = io?.kind === "push" ? new PushBatch() : undefined;
    this.#host = this.#makeHost();
    this.#writer = new MuxWriter(conn, io, {
      onIdle: () => this.#onWriterIdle(),
      onError: (error) => this.#shutdown(error, false, undefined),
      onBulkFrames: () => this.#pacingPing(),
    }, this.#pacer);
    this.#controlStream = new MuxStream(this.#host, 0, PROTOCOL_WINDOW_BYTES);
    this.control = this.#controlStream;
    this.#grantExtraWindow(this.#controlStream);
    this.#reader = new MuxReader(conn, io, {
      onFrame: (frame, ownership, lease) => this.#onFrame(frame, ownership, lease),
      onEnd: (error) => this.#onReadEnd(error),
      onDrain: () => this.#writer.drained(),
      onChunkEnd: () => this.#pushBatch?.flush(),
    });
  }

  #makeHost(): StreamHost {
    const conn = this.#conn;
    return {
      get localAddr(): NetAddr {
        return conn.localAddr;
      },
      get remoteAddr(): NetAddr {
        return conn.remoteAddr;
      },
      protocol: this.#protocol,
      windowBytes: this.#windowBytes,
      pushBatch: this.#pushBatch,
      wantSend: (stream) => this.#writer.wantSend(stream),
      wantWindow: (stream, urgent) => this.#writer.wantWindow(stream, urgent),
      sendReset: (stream, code) => {
        this.#streams.delete(stream.id);
        this.#queueControl(encodeFrame(FrameType.RST, stream.id, u16(code)));
      },
      finished: (stream) => {
        if (stream.id !== 0) this.#streams.delete(stream.id);
      },
      closeSession: (error) => this.close(error),
    };
  }

  #grantExtraWindow(stream: MuxStream): void {
    const extra = this.#windowBytes - PROTOCOL_WINDOW_BYTES;
    if (extra > 0) {
      stream.windowToSend += extra;
      this.#writer.wantWindow(stream);
    }
  }

  /**
   * Bytes each bulk stream may have in flight while the session paces bulk streams beside
   * interactive ones (see docs/PROTOCOL.md section 9); `Infinity` while it does not.
   */
  get pacingLimitBytes(): number {
    return this.#pacer.limit;
  }

  /** Streams open now, besides the control stream. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Why the session ended: `undefined` while open and after a plain `close()`, else the error. */
  get closeReason(): unknown {
    return this.#closeReason;
  }

  /** Resolves once the session ended and its connection is closed. Never rejects. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /** Bytes the session holds: received data not yet read, a partial frame, queued control frames. */
  get bufferedBytes(): number {
    let n = this.#controlStream.queuedBytes + this.#reader.bufferedBytes + this.#writer.queuedControlBytes;
    for (const stream of this.#streams.values()) n += stream.queuedBytes;
    return n;
  }

  #closedError(op: "read" | "write", what: string): NetError {
    return new NetError("ECLOSED", `Cannot ${what}: the tunnel session is closed`, {
      op,
      protocol: this.#protocol,
      remoteAddr: this.#conn.remoteAddr,
      cause: this.#closeReason,
    });
  }

  /**
   * Opens a stream to the client (server role only), sending `OPEN` with `header` as payload.
   *
   * @param header The stream header (PROTOCOL.md section 6), 1 to 294 bytes.
   * @param options Cancellation.
   * @returns The stream; data may be written at once.
   * @throws {TypeError} In the client role.
   * @throws {RangeError} If the header is empty or too long.
   * @throws {TunnelError} Coded `too_many_connections` at the `maxStreams` limit.
   * @throws {NetError} Coded `ECLOSED` once the session is closed.
   */
  open(header: Uint8Array, options: MuxCallOptions = {}): Promise<TunnelStream> {
    try {
      if (this.#role !== "server") {
        throw new TypeError("Cannot open a tunnel stream: only the server role opens streams");
      }
      options.signal?.throwIfAborted();
      if (this.#closing) throw this.#closedError("write", "open a tunnel stream");
      if (header.byteLength < 1 || header.byteLength > MAX_STREAM_HEADER_BYTES) {
        throw new RangeError(
          `Cannot open a tunnel stream as the header must be 1 to ${MAX_STREAM_HEADER_BYTES} bytes: current length is ${header.byteLength}`,
        );
      }
      const stream = new MuxStream(this.#host, this.#streams.nextId(), PROTOCOL_WINDOW_BYTES);
      this.#streams.add(stream);
      this.#queueControl(encodeFrame(FrameType.OPEN, stream.id, header));
      this.#grantExtraWindow(stream);
      return Promise.resolve(stream);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Yields the streams the server opens (client role). Ends when the session closes.
   *
   * @returns An iterator of incoming streams with their headers.
   * @throws {TypeError} In the server role.
   */
  accept(): AsyncIterableIterator<IncomingStream> {
    if (this.#role !== "client") throw new TypeError("Cannot accept tunnel streams: only the client role accepts");
    return this.#streams.accept();
  }

  /**
   * Measures the round trip with a `PING` frame (a transport keep-alive, apart from the control
   * channel's heartbeats).
   *
   * @param options Cancellation (rejects with the signal's reason).
   * @returns The round-trip time in milliseconds.
   * @throws {NetError} Coded `ECLOSED` if the session is or gets closed first.
   */
  async ping(options: MuxCallOptions = {}): Promise<number> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (this.#closing) throw this.#closedError("write", "ping");
    const { seq, payload, rttMs } = this.#pings.create();
    const onAbort = () => this.#pings.cancel(seq, signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.#queueControl(encodeFrame(FrameType.PING, 0, payload));
      return await rttMs;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Sends a `PING` whose round trip steers the pacing of bulk streams, when the pacer asks for one. */
  #pacingPing(): void {
    const now = performance.now();
    if (this.#closing || !this.#pacer.wantPing(now)) return;
    if (this.#pacingSeq !== undefined) this.#pings.cancel(this.#pacingSeq, undefined); // unanswered: given up
    const { seq, payload, rttMs } = this.#pings.create();
    this.#pacingSeq = seq;
    rttMs.then((rtt) => this.#pacingPingDone(seq, rtt), () => this.#pacingPingDone(seq, undefined));
    this.#queueControl(encodeFrame(FrameType.PING, 0, payload));
  }

  #pacingPingDone(seq: number, rttMs: number | undefined): void {
    if (seq !== this.#pacingSeq) return; // given up: a newer one is awaited
    this.#pacingSeq = undefined;
    if (rttMs === undefined) this.#pacer.lost();
    else this.#pacer.sample(rttMs, performance.now());
  }

  #queueControl(frame: Uint8Array): void {
    if (this.#closing) return;
    this.#writer.queueControl(frame);
    if (this.#writer.queuedControlBytes > MAX_CONTROL_QUEUE_BYTES) {
      const detail = `the peer does not read (${MAX_CONTROL_QUEUE_BYTES} bytes of control frames queued)`;
      this.#shutdown(new TunnelError("protocol", `Tunnel session closed: ${detail}`), false, undefined);
    }
  }

  // ---- Incoming frames ----

  #lookup(frame: Frame): MuxStream | undefined {
    return frame.streamId === 0 ? this.#controlStream : this.#streams.lookup(frame.type, frame.streamId);
  }

  /** Handles one frame; a stream may keep a view of a `DATA` payload (see `ByteQueue`). Throws TunnelError. */
  #onFrame(frame: Frame, ownership: PayloadOwnership, lease: ReadBuffer | undefined): void {
    if (this.#closing) return;
    const { type, streamId: id, payload } = frame;
    switch (type) {
      case FrameType.DATA:
        this.#lookup(frame)?.onData(payload, ownership, lease);
        break;
      case FrameType.OPEN:
        this.#onOpen(id, payload);
        break;
      case FrameType.FIN:
        this.#lookup(frame)?.onFin();
        break;
      case FrameType.RST: {
        const code = (payload[0] << 8) | payload[1];
        if (id === 0) this.#shutdown(this.#peerReset(code), false, undefined);
        else this.#lookup(frame)?.onReset(code);
        break;
      }
      case FrameType.WINDOW: {
        const increment = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
        if (increment === 0) throw violation(`WINDOW with increment 0 on stream ${id}`);
        this.#lookup(frame)?.onWindow(increment);
        break;
      }
      case FrameType.PING:
        if (id !== 0) throw violation(`PING on stream ${id} (must be 0)`);
        this.#writer.queuePong(encodeFrame(FrameType.PONG, 0, payload));
        break;
      case FrameType.PONG:
        if (id !== 0) throw violation(`PONG on stream ${id} (must be 0)`);
        this.#pings.answer(payload);
        break;
    }
  }

  #onOpen(id: number, header: Uint8Array): void {
    if (!this.#streams.checkOpen(id)) {
      this.#queueControl(encodeFrame(FrameType.RST, id, u16(TUNNEL_ERROR_NUMBERS.too_many_connections)));
      return;
    }
    const stream = new MuxStream(this.#host, id, PROTOCOL_WINDOW_BYTES);
    this.#streams.add(stream);
    this.#grantExtraWindow(stream);
    this.#streams.pushIncoming({ header: header.slice(), conn: stream });
  }

  /** The reason for an `RST` on stream 0: the peer ended the session. */
  #peerReset(code: number): unknown {
    if (code !== 0) {
      const name = tunnelErrorCodeOf(code);
      return new TunnelError(name, `Tunnel session reset by peer (${name})`);
    }
    return new NetError("ECONNRESET", "Tunnel session reset by peer", {
      op: "read",
      protocol: this.#protocol,
      remoteAddr: this.#conn.remoteAddr,
    });
  }

  #onReadEnd(error: unknown): void {
    if (this.#closing) return;
    if (error instanceof TunnelError) return this.#shutdown(error, true, error.number);
    const reason = error ?? new NetError("ECLOSED", "Tunnel session ended: the peer closed the connection", {
      op: "read",
      protocol: this.#protocol,
      remoteAddr: this.#conn.remoteAddr,
    });
    this.#shutdown(reason, false, undefined);
  }

  // ---- Closing ----

  /**
   * Ends the session: ends every stream, flushes data already queued on the control stream (for
   * up to `flushTimeoutMs`), tells the peer why with an `RST` on stream 0 when `error` is given,
   * and closes the connection. Idempotent.
   *
   * @param error Why; becomes {@linkcode MuxSession.closeReason}. A {@linkcode TunnelError}'s code
   * is sent to the peer; any other error is sent as `internal`.
   */
  close(error?: unknown): void {
    const code = error === undefined
      ? undefined
      : error instanceof TunnelError
      ? error.number
      : TUNNEL_ERROR_NUMBERS.internal;
    this.#shutdown(error, true, code);
  }

  #shutdown(reason: unknown, flush: boolean, rstCode: number | undefined): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#closeReason = reason;
    const code = this.#streamErrorCode();
    for (const stream of this.#streams.end()) stream.onSessionEnd(reason, code);
    this.#controlStream.endReads(reason, code);
    this.#pings.failAll(this.#closedError("read", "ping"));
    if (flush && this.#writer.alive) {
      this.#writer.startFlush(this.#controlStream, rstCode);
      this.#flushTimer = setTimeout(() => this.#closeConn(), this.#flushTimeoutMs);
    } else {
      this.#closeConn();
    }
  }

  /** Streams of a session that ended fail with ECLOSED after a plain close, else ECONNRESET. */
  #streamErrorCode(): NetErrorCode {
    return this.#closeReason === undefined ? "ECLOSED" : "ECONNRESET";
  }

  #onWriterIdle(): void {
    if (this.#closing) this.#closeConn();
  }

  #closeConn(): void {
    if (this.#connClosed) return;
    this.#connClosed = true;
    clearTimeout(this.#flushTimer);
    this.#controlStream.onSessionEnd(this.#closeReason, this.#streamErrorCode());
    this.#reader.stop();
    this.#writer.stop();
    this.#conn.close();
    Promise.all([this.#reader.done, this.#writer.done]).then(() => this.#closed.resolve());
  }

  /** Closes the session (as `close()`) and waits until it ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }
}

function validate(role: string, initialWindowBytes: number, maxStreams: number, flushTimeoutMs: number): void {
  if (role !== "client" && role !== "server") {
    throw new TypeError(`Cannot create MuxSession as 'role' must be "client" or "server": current value is ${role}`);
  }
  if (
    !Number.isInteger(initialWindowBytes) || initialWindowBytes < PROTOCOL_WINDOW_BYTES ||
    initialWindowBytes > MAX_INITIAL_WINDOW_BYTES
  ) {
    throw new RangeError(
      `Cannot create MuxSession as 'initialWindowBytes' must be an integer from ${PROTOCOL_WINDOW_BYTES} to ${MAX_INITIAL_WINDOW_BYTES}: current value is ${initialWindowBytes}`,
    );
  }
  if (!Number.isInteger(maxStreams) || maxStreams < 1) {
    throw new RangeError(
      `Cannot create MuxSession as 'maxStreams' must be a positive integer: current value is ${maxStreams}`,
    );
  }
  if (!(flushTimeoutMs >= 0 && flushTimeoutMs < Infinity)) {
    throw new RangeError(
      `Cannot create MuxSession as 'flushTimeoutMs' must be a non-negative number: current value is ${flushTimeoutMs}`,
    );
  }
}

function violation(detail: string): TunnelError {
  return new TunnelError("protocol", `Invalid mux frame: ${detail}`);
}

function u16(n: number): Uint8Array {
  return new Uint8Array([n >>> 8, n & 0xff]);
}
