/**
 * The reverse tunnel over QUIC: the control channel is the first client-initiated bidirectional
 * stream, and every forwarded connection is one server-initiated bidirectional stream that starts
 * with the stream header (docs/PROTOCOL.md sections 1 and 6). Flow control, half-close and resets
 * are QUIC's own.
 * @module
 */
import type { Conn, DialAddr, Incoming, ListenAddr, NetAddr } from "../types.ts";
import { TUNNEL_ERROR_NUMBERS, TunnelError, tunnelErrorCodeOf } from "./errors.ts";
import { decodeStreamHeader, encodeStreamHeader, MAX_STREAM_HEADER_BYTES, type StreamHeader } from "./stream_header.ts";
import { HEARTBEAT_DATAGRAM_BYTES } from "./_session_heartbeat.ts";
import { QuicStreamPacing } from "./stream_pacing.ts";
import type {
  IncomingStream,
  PendingSession,
  SessionDatagrams,
  SessionDialer,
  SessionListener,
  TransportSession,
} from "./transport.ts";

/** The QUIC connection a runtime adapter provides (see `Runtime.listenQuic` / `connectQuic`). */
export interface QuicConnectionLike {
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Opens a bidirectional stream. */
  openStream(options?: { signal?: AbortSignal }): Promise<Conn>;
  /** The peer's bidirectional streams. */
  incomingStreams(): AsyncIterable<Conn>;
  /** Closes the connection with an application error code. */
  close(options?: { code?: number; reason?: string }): void;
  /** Resolves when the connection is gone (never rejects). */
  readonly closed: Promise<void>;
  /** How it ended (the peer's application code and reason), once closed. */
  readonly closeInfo?: { readonly code: number; readonly reason: string; readonly initiator: string } | undefined;
  /** Largest datagram payload (RFC 9221) the peer takes now; 0 or missing: no datagrams (heartbeats stay on the control stream). */
  readonly maxDatagramSize?: number;
  /** Sends one datagram. */
  sendDatagram?(data: Uint8Array): Promise<void>;
  /** The next datagram from the peer. */
  readDatagram?(options?: { signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A QUIC listener from a runtime adapter. */
export interface QuicListenerLike extends AsyncIterable<Incoming<QuicConnectionLike>> {
  /** The bound UDP address. */
  readonly addr: NetAddr;
  /** Stops accepting. */
  close(): void;
}

/** Reads a stream's header, then hands out a Conn whose readable continues right after it. */
async function readHeader(stream: Conn, signal?: AbortSignal): Promise<{ header: StreamHeader; conn: Conn }> {
  const reader = stream.readable.getReader();
  let buffered = new Uint8Array(0);
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      const decoded = decodeStreamHeader(buffered);
      if (decoded) {
        const rest = buffered.subarray(decoded.length);
        return { header: decoded.header, conn: prefixed(stream, reader, rest) };
      }
      if (buffered.byteLength > MAX_STREAM_HEADER_BYTES) {
        throw new TunnelError("protocol", "Cannot accept a stream: its header is too long");
      }
      const { done, value } = await reader.read();
      if (done) throw new TunnelError("protocol", "Cannot accept a stream: it ended inside its header");
      const next = new Uint8Array(buffered.byteLength + value.byteLength);
      next.set(buffered);
      next.set(value, buffered.byteLength);
      buffered = next;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** `stream` with `rest` (bytes read past the header) delivered first, then the rest of the reader. */
function prefixed(stream: Conn, reader: ReadableStreamDefaultReader<Uint8Array>, rest: Uint8Array): Conn {
  let pending: Uint8Array | undefined = rest.byteLength > 0 ? rest : undefined;
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return {
    readable,
    get writable() {
      return stream.writable;
    },
    localAddr: stream.localAddr,
    remoteAddr: stream.remoteAddr,
    closeWrite: () => stream.closeWrite(),
    close: () => stream.close(),
    closed: stream.closed,
    [Symbol.asyncDispose]: () => stream[Symbol.asyncDispose](),
  };
}

/** A tunnel session on one QUIC connection. */
export class QuicTransportSession implements TransportSession {
  /** Always `"quic"`. */
  readonly kind = "quic" as const;
  /** The control stream. */
  readonly control: Conn;
  /** Pacing of bulk streams, once both sides negotiated `stream-pacing`. */
  readonly pacing: QuicStreamPacing = new QuicStreamPacing();
  readonly #conn: QuicConnectionLike;
  #closed = false;

  private constructor(conn: QuicConnectionLike, control: Conn) {
    this.#conn = conn;
    this.control = control;
    conn.closed.then(() => this.pacing.close());
  }

  /** Client side: opens the control stream (the first bidirectional stream). */
  static async client(conn: QuicConnectionLike): Promise<QuicTransportSession> {
    return new QuicTransportSession(conn, await conn.openStream());
  }

  /** Server side: waits for the client's first bidirectional stream, the control stream. */
  static async server(conn: QuicConnectionLike, signal: AbortSignal): Promise<QuicTransportSession> {
    const streams = conn.incomingStreams()[Symbol.asyncIterator]();
    const onAbort = () => conn.close({ code: TUNNEL_ERROR_NUMBERS.protocol, reason: "no control stream in time" });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const first = await streams.next();
      if (first.done) throw new TunnelError("protocol", "Cannot start a session: the connection closed first");
      return new QuicTransportSession(conn, first.value);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The peer's address. */
  get remoteAddr(): NetAddr {
    return this.#conn.remoteAddr;
  }

  /** Resolves when the connection is gone. */
  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  /** A TunnelError when the peer closed the connection with one of our error codes. */
  get closeReason(): unknown {
    const info = this.#conn.closeInfo;
    if (!info || info.initiator !== "peer" || info.code === 0) return undefined;
    return new TunnelError(
      tunnelErrorCodeOf(info.code),
      info.reason || `the peer closed the session (code ${info.code})`,
    );
  }

  /**
   * The connection's datagrams, when both sides negotiated RFC 9221 and the peer takes at least a
   * heartbeat datagram; otherwise `undefined`.
   */
  get datagrams(): SessionDatagrams | undefined {
    const conn = this.#conn;
    const { sendDatagram, readDatagram } = conn;
    if (!sendDatagram || !readDatagram || (conn.maxDatagramSize ?? 0) < HEARTBEAT_DATAGRAM_BYTES) return undefined;
    return {
      get maxSize() {
        return conn.maxDatagramSize ?? 0;
      },
      send: (data) => sendDatagram.call(conn, data),
      receive: (options) => readDatagram.call(conn, options),
    };
  }

  /** Opens a stream and writes its header. */
  async openStream(header: StreamHeader, options?: { signal?: AbortSignal }): Promise<Conn> {
    const stream = await this.#conn.openStream(options);
    this.pacing.track(stream);
    const writer = stream.writable.getWriter();
    try {
      await writer.write(encodeStreamHeader(header));
    } catch (error) {
      stream.close();
      throw error;
    } finally {
      writer.releaseLock();
    }
    return stream;
  }

  /** The server's streams, each with its header read; a stream with a bad header is closed and skipped. */
  async *incomingStreams(): AsyncIterable<IncomingStream> {
    for await (const stream of this.#conn.incomingStreams()) {
      this.pacing.track(stream);
      const headerDeadline = AbortSignal.timeout(10_000);
      try {
        yield await readHeader(stream, headerDeadline);
      } catch {
        stream.close();
      }
    }
  }

  /** Closes the connection with the error's code. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    const code = error instanceof TunnelError ? TUNNEL_ERROR_NUMBERS[error.code] : 0;
    this.#conn.close({ code, reason: error instanceof Error ? error.message.slice(0, 100) : "" });
  }
}

/** How a runtime listens for QUIC connections (the adapter's `listenQuic`, bound to options). */
export type QuicListen = (addr: ListenAddr) => Promise<QuicListenerLike>;
/** How a runtime opens a QUIC connection (the adapter's `connectQuic`, bound to options). */
export type QuicConnect = (
  addr: DialAddr,
  options: { signal: AbortSignal; timeoutMs: number },
) => Promise<QuicConnectionLike>;

/**
 * Listens for tunnel sessions over QUIC.
 *
 * @param listen Binds the QUIC listener (certificate and ALPN `ts-tunnel/1` already applied).
 * @param addr Where to listen (UDP).
 * @returns The listener.
 */
export async function listenQuicSessions(listen: QuicListen, addr: ListenAddr): Promise<SessionListener> {
  const listener = await listen(addr);
  const pending = (incoming: Incoming<QuicConnectionLike>): PendingSession => ({
    remoteAddr: incoming.remoteAddr,
    async establish({ signal, timeoutMs }) {
      const conn = await incoming.handshake({ signal, timeoutMs });
      return await QuicTransportSession.server(conn, signal);
    },
    reject: () => incoming.reject(),
  });
  return {
    kind: "quic",
    addr: listener.addr,
    close: () => listener.close(),
    async *[Symbol.asyncIterator]() {
      for await (const incoming of listener) yield pending(incoming);
    },
  };
}

/**
 * Dials tunnel sessions over QUIC.
 *
 * @param connect Opens a QUIC connection (CA, server name and ALPN already applied).
 * @returns The dialer.
 */
export function quicDialer(connect: QuicConnect): SessionDialer {
  return {
    kind: "quic",
    async dial(addr, options) {
      const conn = await connect(addr, options);
      try {
        return await QuicTransportSession.client(conn);
      } catch (error) {
        conn.close({ code: TUNNEL_ERROR_NUMBERS.internal });
        throw error;
      }
    },
  };
}
