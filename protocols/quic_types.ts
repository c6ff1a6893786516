/**
 * Runtime-neutral QUIC types: a {@linkcode QuicConnection} whose bidirectional streams are
 * {@linkcode Conn}s, a {@linkcode QuicListener} that yields connections to handshake, and the
 * options both runtimes honour (Deno QUIC under `--unstable-net`, `node:quic` on Bun).
 * @module
 */
import type { Conn, Incoming, NetAddr } from "./types.ts";

/** Default UDP receive buffer asked for on every QUIC endpoint we create: 4 MiB. */
export const DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES: number = 4 * 1024 * 1024;
/** Default idle timeout of a QUIC connection, in milliseconds (the smaller of both sides' values applies). */
export const DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS = 30_000;
/** Default number of bidirectional streams the peer may have open at once on one connection. */
export const DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS = 256;
/** Default deadline of a QUIC handshake whose caller sets none, in milliseconds. */
export const DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Transport settings shared by {@linkcode QuicListenOptions} and {@linkcode QuicConnectOptions}. */
export interface QuicTransportOptions {
  /** ALPN protocols, most preferred first. QUIC requires at least one; both sides must share one. */
  alpnProtocols: readonly string[];
  /**
   * Closes a connection after this long without a packet; the smaller of both sides' values
   * applies. Bun counts whole seconds and rounds up. @default {30_000}
   */
  maxIdleTimeoutMs?: number;
  /** Sends a keep-alive packet after this long without traffic; 0 sends none. @default {0} */
  keepAliveIntervalMs?: number;
  /**
   * Bidirectional streams the peer may have open at once; more wait for credit. Bun caps it at 100
   * (its `node:quic` aborts the connection when a peer opens more), and a Bun client advertises at
   * least 50 (its `node:quic` returns stream credit only once 50 streams have ended). @default {256}
   */
  maxConcurrentBidiStreams?: number;
  /**
   * Receive buffer to give the endpoint's UDP socket (through FFI: `SO_RCVBUFFORCE` as root, else
   * `SO_RCVBUF`, which `net.core.rmem_max` caps). 0 leaves the kernel default. Without FFI (Deno
   * without `--allow-ffi`, not Linux) nothing is changed and the reason is recorded.
   * @default {4_194_304}
   */
  udpReceiveBufferBytes?: number;
  /**
   * Congestion control of the connection's sender. `"low-latency"` is BBR (quinn on Deno, ngtcp2 on
   * Bun): it keeps the data in flight near what the path delivers, so a bulk stream does not fill
   * the receiver's UDP queue ahead of other streams' packets (small requests wait less behind a
   * transfer; the transfer itself may run slower). `"throughput"` is CUBIC on Bun and quinn's
   * throughput setting on Deno; `"default"` leaves each runtime's own default (CUBIC).
   * @default {"default"}
   */
  congestionControl?: QuicCongestionControl;
}

/** Names accepted by {@linkcode QuicTransportOptions.congestionControl}. */
export type QuicCongestionControl = "default" | "throughput" | "low-latency";

/** Every {@linkcode QuicCongestionControl} value, for validation. */
export const QUIC_CONGESTION_CONTROLS: readonly QuicCongestionControl[] = ["default", "throughput", "low-latency"];

/** Options for `Runtime.listenQuic`. */
export interface QuicListenOptions extends QuicTransportOptions {
  /** IP to bind; empty or missing binds every interface (`"::"`, or `"0.0.0.0"` without IPv6). */
  hostname?: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** Certificate chain (PEM), leaf first. */
  cert: string;
  /** Private key (PEM) of the leaf. */
  key: string;
  /** Cancels a pending bind. */
  signal?: AbortSignal;
}

/** Options for `Runtime.connectQuic`. The promise resolves after the handshake. */
export interface QuicConnectOptions extends QuicTransportOptions {
  /** Host name or IP literal of the server. */
  hostname: string;
  /** UDP port of the server. */
  port: number;
  /** Name sent in SNI and checked against the certificate. @default {the hostname} */
  serverName?: string;
  /** Trusted CA certificates (PEM), added to the runtime's roots. @default {the runtime's roots} */
  caCerts?: readonly string[];
  /**
   * Skip certificate verification. Bun only; Deno always verifies and throws
   * `UnsupportedQuicOptionError`. @default {false}
   */
  insecure?: boolean;
  /** Cancels the connect; the error is the signal's reason. */
  signal?: AbortSignal;
  /** Fails with `NetError` ETIMEDOUT after this many milliseconds. @default {10_000} */
  timeoutMs?: number;
}

/** Options for {@linkcode QuicConnection.close}. */
export interface QuicCloseOptions {
  /** Application error code sent in CONNECTION_CLOSE (0 to 2^62-1). @default {0} */
  code?: number;
  /** Reason phrase sent with it (kept short: it travels in one packet). @default {""} */
  reason?: string;
}

/** Who ended a QUIC connection. */
export type QuicCloseInitiator = "local" | "peer" | "idle-timeout" | "error";

/** How a QUIC connection ended. */
export interface QuicCloseInfo {
  /** The application error code (0 for a clean close, an idle timeout or a transport error). */
  readonly code: number;
  /** The reason phrase, or the runtime's error text for `"error"`. */
  readonly reason: string;
  /**
   * `"local"`: we closed it; `"peer"`: the peer sent CONNECTION_CLOSE; `"idle-timeout"`: no
   * packets for the idle timeout (Deno reports this; Bun reports it as `"peer"` with code 0);
   * `"error"`: a transport or endpoint failure.
   */
  readonly initiator: QuicCloseInitiator;
}

/** What was done to an endpoint's UDP receive buffer. */
export interface UdpReceiveBufferStatus {
  /** The size asked for, in bytes (0: nothing asked). */
  readonly requestedBytes: number;
  /** True when the kernel accepted it. */
  readonly applied: boolean;
  /** `SO_RCVBUF` read back after the change (the kernel reports twice the size set), when known. */
  readonly kernelBytes?: number;
  /** True when `SO_RCVBUFFORCE` was used (root), false for `SO_RCVBUF` (capped by `net.core.rmem_max`). */
  readonly forced?: boolean;
  /**
   * Why nothing was applied (no FFI, no such socket, the kernel refused), or, when `applied`, that
   * the kernel capped the size (`net.core.rmem_max` without root). For logs.
   */
  readonly reason?: string;
}

/** Options for {@linkcode QuicConnection.openStream}. */
export interface QuicStreamOptions {
  /** Cancels waiting for stream credit; a stream that arrives later is reset. */
  signal?: AbortSignal;
}

/** Options for {@linkcode QuicConnection.readDatagram}. */
export interface QuicDatagramReadOptions {
  /** Stops waiting; the datagram that arrives later stays queued. */
  signal?: AbortSignal;
}

/**
 * A QUIC connection after its handshake. Each bidirectional stream is a {@linkcode Conn}:
 * `closeWrite()` sends FIN, `close()` stops and resets what has not finished.
 */
export interface QuicConnection extends AsyncDisposable {
  /** The peer's UDP address. */
  readonly remoteAddr: NetAddr;
  /** Our UDP address (the endpoint's; `::`/`0.0.0.0` when bound to every interface). */
  readonly localAddr: NetAddr;
  /** The ALPN protocol both sides agreed on. */
  readonly alpnProtocol: string | null;
  /** What was done to the UDP receive buffer of this connection's endpoint. */
  readonly receiveBuffer: UdpReceiveBufferStatus;
  /** How the connection ended; `undefined` while it is open. */
  readonly closeInfo: QuicCloseInfo | undefined;
  /** Resolves once the connection is gone (never rejects). */
  readonly closed: Promise<void>;
  /**
   * Opens a bidirectional stream, waiting for stream credit when the peer's limit is reached.
   * @throws {NetError} ECLOSED when the connection is closed.
   */
  openStream(options?: QuicStreamOptions): Promise<Conn>;
  /**
   * The peer's bidirectional streams, in arrival order; ends when the connection closes. Calling it
   * again (or iterating twice at once) shares one queue: each stream is yielded once.
   */
  incomingStreams(): AsyncIterable<Conn>;
  /**
   * Opens a unidirectional stream (we write, the peer reads), waiting for stream credit.
   * `close()` on the writable sends FIN; `abort()` resets it (Deno 2.9 cannot reset a stream and
   * sends FIN instead).
   * @throws {NetError} ECLOSED (or the connection's reason) when the connection is gone.
   */
  openUniStream(options?: QuicStreamOptions): Promise<WritableStream<Uint8Array>>;
  /**
   * The peer's unidirectional streams, in arrival order; ends when the connection is gone.
   * Cancelling one sends STOP_SENDING. Several iterators share one queue.
   */
  incomingUniStreams(): AsyncIterable<ReadableStream<Uint8Array>>;
  /**
   * Largest datagram payload (RFC 9221) the peer takes now, in bytes; 0 when it takes none or the
   * connection is gone.
   */
  readonly maxDatagramSize: number;
  /**
   * Sends one unreliable datagram (RFC 9221): it may be lost, and arrives whole or not at all.
   * @throws {RangeError} When `data` is larger than `maxDatagramSize`.
   * @throws {NetError} When the connection is gone.
   */
  sendDatagram(data: Uint8Array): Promise<void>;
  /**
   * The next datagram from the peer. Received datagrams are kept from the first call on, up to 256
   * unread (older ones are dropped first).
   * @throws {NetError} When the connection is gone and no datagram is left.
   */
  readDatagram(options?: QuicDatagramReadOptions): Promise<Uint8Array>;
  /** Closes at once with CONNECTION_CLOSE; open streams end with `NetError` ECLOSED. Idempotent. */
  close(options?: QuicCloseOptions): void;
}

/** Yields QUIC connections to handshake (each {@linkcode Incoming.handshake} runs off the accept loop). */
export interface QuicListener extends AsyncIterable<Incoming<QuicConnection>>, AsyncDisposable {
  /** The bound UDP address (with the real port when 0 was asked for). */
  readonly addr: NetAddr;
  /** What was done to the UDP receive buffer of the listening endpoint. */
  readonly receiveBuffer: UdpReceiveBufferStatus;
  /**
   * Stops accepting (the iterator ends); connections already accepted stay open, and the endpoint
   * closes when the last of them does. Idempotent.
   */
  stop(): void;
  /** Stops accepting and closes the endpoint now: every connection gets CONNECTION_CLOSE with `code`. */
  close(options?: QuicCloseOptions): void;
}
