/**
 * The reverse tunnel's transports behind one interface: a session between one client and the
 * server, with a control channel and one stream per forwarded connection. QUIC gives these
 * natively; over TLS or TCP, {@linkcode MuxSession} provides them.
 * @module
 */
import type { Conn, DialAddr, Incoming, ListenAddr, Listener, NetAddr, Protocol } from "../types.ts";
import { MuxSession } from "./mux.ts";
import type { QuicStreamPacing } from "./stream_pacing.ts";
import { decodeStreamHeader, encodeStreamHeader, type StreamHeader } from "./stream_header.ts";
import { TunnelError } from "./errors.ts";

/** Which transport carries a session. `tcp` is unencrypted and only for trusted networks and tests. */
export type TunnelTransportKind = "quic" | "tls" | "tcp";

/** A stream the server opened towards the client, with its header. */
export interface IncomingStream {
  /** Which service it is for, and the public client's address. */
  readonly header: StreamHeader;
  /** The stream's bytes. */
  readonly conn: Conn;
}

/** A session's unreliable datagrams (QUIC DATAGRAM frames, RFC 9221). */
export interface SessionDatagrams {
  /** Largest payload the peer takes now, in bytes; 0 once it takes none. */
  readonly maxSize: number;
  /** Sends one datagram; it may be lost. */
  send(data: Uint8Array): Promise<void>;
  /** The next datagram from the peer; rejects when the signal aborts or the session is gone. */
  receive(options: { signal: AbortSignal }): Promise<Uint8Array>;
}

/** One client–server session, whatever carries it. */
export interface TransportSession {
  /** The transport in use. */
  readonly kind: TunnelTransportKind;
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** The control channel (framed messages, docs/PROTOCOL.md section 2). */
  readonly control: Conn;
  /** Server side: opens a stream for one public connection. */
  openStream(header: StreamHeader, options?: { signal?: AbortSignal }): Promise<Conn>;
  /** Client side: the streams the server opens. */
  incomingStreams(): AsyncIterable<IncomingStream>;
  /** Ends the session and every stream. Idempotent. */
  close(error?: unknown): void;
  /** Resolves when the session has ended (never rejects). */
  readonly closed: Promise<void>;
  /** Why the session ended: a {@linkcode TunnelError} when the peer closed it with an error code. */
  readonly closeReason: unknown;
  /** Unreliable datagrams, where the transport has them (QUIC with RFC 9221 on both sides). */
  readonly datagrams?: SessionDatagrams | undefined;
  /**
   * The session's stream pacing (capability `stream-pacing`), where the transport can do it (QUIC;
   * the TLS/TCP mux paces by itself). Off until {@linkcode QuicStreamPacing.enable}.
   */
  readonly pacing?: QuicStreamPacing | undefined;
}

/**
 * Unsent bytes the kernel may hold for a session's socket (`TCP_NOTSENT_LOWAT`). Past this, writes
 * wait in the multiplexer's queue, where streams take turns; without it, megabytes of a bulk
 * stream queue in the socket ahead of an interactive stream's next frame.
 */
export const SESSION_NOT_SENT_LOWAT_BYTES = 128 * 1024;

/** Sets `TCP_NOTSENT_LOWAT` where libc is reachable (Linux with FFI allowed); otherwise does nothing. */
async function limitUnsentBytes(conn: Conn): Promise<void> {
  try {
    const ffi = await import("../../ffi/mod.ts");
    await ffi.optimizeTcpConn(conn, { notSentLowat: SESSION_NOT_SENT_LOWAT_BYTES });
  } catch {
    // No FFI (or the conn closed meanwhile): the session works, with more queueing in the kernel.
  }
}

/** Settings of a {@linkcode MuxTransportSession}'s multiplexer. */
export interface MuxTransportOptions {
  /**
   * Streams the session carries at once: the server's further opens fail with `TunnelError`
   * `too_many_connections`, the client resets further `OPEN`s. @default {1024}
   */
  maxStreams?: number;
}

/** A session over one TLS or TCP connection, multiplexed with {@linkcode MuxSession}. */
export class MuxTransportSession implements TransportSession {
  /** `tls` or `tcp`. */
  readonly kind: TunnelTransportKind;
  readonly #mux: MuxSession;
  readonly #conn: Conn;

  /**
   * Wraps a connection that has finished its TLS handshake (if any).
   *
   * @param conn The connection.
   * @param kind Which transport it is.
   * @param role Which end we are.
   * @param options The multiplexer's stream limit.
   * @throws {RangeError} If `maxStreams` is not a positive integer.
   */
  constructor(conn: Conn, kind: "tls" | "tcp", role: "client" | "server", options: MuxTransportOptions = {}) {
    this.kind = kind;
    this.#conn = conn;
    this.#mux = new MuxSession(conn, { role, maxStreams: options.maxStreams });
    void limitUnsentBytes(conn);
  }

  /** The peer's address. */
  get remoteAddr(): NetAddr {
    return this.#conn.remoteAddr;
  }

  /** Stream 0. */
  get control(): Conn {
    return this.#mux.control;
  }

  /** Resolves when the session has ended. */
  get closed(): Promise<void> {
    return this.#mux.closed;
  }

  /** The mux's close reason (a TunnelError when the peer reset the session with a code). */
  get closeReason(): unknown {
    return this.#mux.closeReason;
  }

  /** Opens a stream whose OPEN frame carries the header. */
  openStream(header: StreamHeader, options?: { signal?: AbortSignal }): Promise<Conn> {
    return this.#mux.open(encodeStreamHeader(header), options);
  }

  /** Incoming streams; a stream with a malformed header is reset and skipped. */
  async *incomingStreams(): AsyncIterable<IncomingStream> {
    for await (const { header, conn } of this.#mux.accept()) {
      let decoded;
      try {
        decoded = decodeStreamHeader(header);
      } catch {
        decoded = undefined;
      }
      if (!decoded || decoded.length !== header.byteLength) {
        conn.close();
        this.close(new TunnelError("protocol", "Cannot accept a stream: its header is malformed"));
        return;
      }
      yield { header: decoded.header, conn };
    }
  }

  /** Ends the session. */
  close(error?: unknown): void {
    this.#mux.close(error);
  }
}

/** A session being accepted: the peer is known, nothing is established yet. */
export interface PendingSession {
  /** The peer's address. */
  readonly remoteAddr: NetAddr;
  /** Runs the transport handshake (TLS or QUIC) and sets up the session, under the deadline. */
  establish(options: { signal: AbortSignal; timeoutMs: number }): Promise<TransportSession>;
  /** Refuses the session without a handshake. */
  reject(): void;
}

/** Where a server's sessions arrive, on one transport. */
export interface SessionListener extends AsyncIterable<PendingSession> {
  /** The transport. */
  readonly kind: TunnelTransportKind;
  /** The bound address. */
  readonly addr: NetAddr;
  /** Stops accepting. Idempotent. */
  close(): void;
}

/** Opens sessions to a server, on one transport. */
export interface SessionDialer {
  /** The transport. */
  readonly kind: TunnelTransportKind;
  /** Connects (and handshakes) to `addr`. */
  dial(addr: DialAddr, options: { signal: AbortSignal; timeoutMs: number }): Promise<TransportSession>;
}

/**
 * Listens for multiplexed sessions over a stream protocol (TLS, or TCP).
 *
 * @param protocol The protocol (a TLS protocol carrying the server certificate, or TCP).
 * @param addr Where to listen.
 * @param kind `tls` or `tcp`, as reported by the sessions.
 * @param options Settings of each session's multiplexer.
 * @returns The listener.
 */
export async function listenMuxSessions(
  protocol: Protocol,
  addr: ListenAddr,
  kind: "tls" | "tcp",
  options: MuxTransportOptions = {},
): Promise<SessionListener> {
  const listener: Listener = await protocol.listen(addr);
  const pending = (incoming: Incoming): PendingSession => ({
    remoteAddr: incoming.remoteAddr,
    async establish({ signal, timeoutMs }) {
      const conn = await incoming.handshake({ signal, timeoutMs });
      return new MuxTransportSession(conn, kind, "server", options);
    },
    reject: () => incoming.reject(),
  });
  return {
    kind,
    addr: listener.addr,
    close: () => listener.close(),
    async *[Symbol.asyncIterator]() {
      for await (const incoming of listener) yield pending(incoming);
    },
  };
}

/**
 * Dials multiplexed sessions over a stream protocol (TLS, or TCP).
 *
 * @param protocol The protocol (a TLS protocol that verifies the server, or TCP).
 * @param kind `tls` or `tcp`.
 * @param options Settings of each session's multiplexer.
 * @returns The dialer.
 */
export function muxDialer(protocol: Protocol, kind: "tls" | "tcp", options: MuxTransportOptions = {}): SessionDialer {
  return {
    kind,
    async dial(addr, { signal, timeoutMs }) {
      const conn = await protocol.dial(addr, { signal, timeoutMs });
      return new MuxTransportSession(conn, kind, "client", options);
    },
  };
}
