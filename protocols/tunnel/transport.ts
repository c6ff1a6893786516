/**
 * The reverse tunnel's transports behind one interface: a session between one client and the
 * server, with a control channel and one stream per forwarded connection. QUIC gives these
 * natively; over TLS or TCP, {@linkcode MuxSession} provides them.
 * @module
 */
import type { Conn, NetAddr } from "../types.ts";
import { MuxSession } from "./mux.ts";
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
   */
  constructor(conn: Conn, kind: "tls" | "tcp", role: "client" | "server") {
    this.kind = kind;
    this.#conn = conn;
    this.#mux = new MuxSession(conn, { role });
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
