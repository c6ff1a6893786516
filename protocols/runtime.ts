/**
 * The runtime services the engine needs, one implementation per runtime, loaded lazily.
 * @module
 */
import type { QuicConnection, QuicConnectOptions, QuicListener, QuicListenOptions } from "./quic_types.ts";
import type { ListenAddr, Listener, NetAddr, SocketOptions, TcpConn, TlsConn } from "./types.ts";

/** Options for {@linkcode Runtime.connectTcp}. */
export interface TcpConnectOptions extends SocketOptions {
  /** Host name or IP literal. */
  hostname: string;
  /** Port. */
  port: number;
  /** Cancels the connect. */
  signal?: AbortSignal;
  /** Fails the connect with ETIMEDOUT after this many milliseconds. */
  timeoutMs?: number;
}

/** Options for {@linkcode Runtime.listenTcp}. */
export interface TcpListenOptions extends ListenAddr, SocketOptions {
  /**
   * Set `SO_REUSEPORT`, so several listeners (one per worker thread or process) can bind the same
   * port and the kernel spreads new connections over them. Deno honours it only under
   * `--unstable-net` (`"unstable": ["net"]` in deno.json) and ignores it otherwise: a second
   * listener on the port then fails with EADDRINUSE. @default {false}
   */
  reusePort?: boolean;
}

/** A TLS protocol version: `"1.2"` allows TLS 1.2 and 1.3, `"1.3"` only TLS 1.3. */
export type TlsMinVersion = "1.2" | "1.3";

/** Whether a TLS server asks clients for a certificate (Go's `tls.ClientAuthType`, simplified). */
export type TlsClientAuth = "none" | "optional" | "require";

/** Options for {@linkcode Runtime.connectTls}. The promise resolves after the handshake. */
export interface TlsConnectOptions extends TcpConnectOptions {
  /** Name sent in SNI and checked against the server's certificate. @default {the hostname} */
  serverName?: string;
  /**
   * Trusted CA certificates (PEM). Deno adds them to its built-in roots; Bun uses them instead of its
   * built-in roots. @default {the runtime's roots}
   */
  caCerts?: string[];
  /** Skip certificate verification. Bun only; Deno throws `UnsupportedTlsOptionError`. @default {false} */
  insecure?: boolean;
  /** ALPN protocols to offer, most preferred first. @default {none} */
  alpnProtocols?: string[];
  /** Client certificate chain (PEM) for mutual TLS; needs `key`. */
  cert?: string;
  /** Private key (PEM) of `cert`. */
  key?: string;
}

/** Options for {@linkcode Runtime.listenTls}. */
export interface TlsListenOptions extends TcpListenOptions {
  /** Certificate chain (PEM), leaf first. */
  cert: string;
  /** Private key (PEM) of the leaf. */
  key: string;
  /** ALPN protocols to accept, most preferred first. @default {none} */
  alpnProtocols?: string[];
  /** Lowest TLS version accepted. `"1.3"` needs Bun. @default {"1.2"} */
  minVersion?: TlsMinVersion;
  /** Whether to ask clients for a certificate. Anything but `"none"` needs Bun. @default {"none"} */
  clientAuth?: TlsClientAuth;
  /** CAs (PEM) that client certificates must chain to; required unless `clientAuth` is `"none"`. */
  clientCaCerts?: string[];
  /**
   * Set `SO_REUSEPORT` so a second listener (with a new certificate) can bind the same port before
   * this one closes. Deno honours it only under `--unstable-net` and ignores it otherwise.
   * @default {false}
   */
  reusePort?: boolean;
}

/** Options for {@linkcode Runtime.serveHttp3}. */
export interface Http3ServeOptions {
  /** IP to bind; empty binds every interface. */
  hostname?: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** Certificate chain (PEM), leaf first. */
  cert: string;
  /** Private key (PEM) of the leaf. */
  key: string;
  /** Closes a connection idle for this long, in milliseconds (whole seconds on Bun). */
  idleTimeoutMs?: number;
  /** Answers one request; `remoteAddr` is the client's UDP address. */
  fetch(request: Request, info: { remoteAddr: NetAddr | undefined }): Promise<Response>;
}

/** A running HTTP/3 server of the runtime ({@linkcode Runtime.serveHttp3}). */
export interface Http3ServerHandle {
  /** The bound UDP address, with the real port. */
  readonly addr: NetAddr;
  /** Stops accepting; without `force`, in-flight requests finish first, with it they end now. */
  stop(force: boolean): Promise<void>;
}

/** Signals the CLI handles. */
export type ShutdownSignal = "SIGINT" | "SIGTERM";

/** Runtime services the engine needs; one implementation per runtime. */
export interface Runtime {
  /** `"deno"` or `"bun"` (or a test double's name). */
  readonly name: string;
  /** Opens a TCP connection. @throws {NetError} */
  connectTcp(options: TcpConnectOptions): Promise<TcpConn>;
  /** Binds a TCP listener. @throws {NetError} */
  listenTcp(options: TcpListenOptions): Promise<Listener<TcpConn>>;
  /**
   * Opens a TLS connection and completes its handshake.
   * @throws {NetError} EHANDSHAKE when the handshake fails, ETIMEDOUT after `timeoutMs`.
   * @throws {UnsupportedTlsOptionError} For an option this runtime cannot honour.
   */
  connectTls(options: TlsConnectOptions): Promise<TlsConn>;
  /**
   * Binds a TLS listener; each accepted conn handshakes in `Incoming.handshake`.
   * @throws {NetError} EADDRINUSE and the like.
   * @throws {UnsupportedTlsOptionError} For an option this runtime cannot honour.
   */
  listenTls(options: TlsListenOptions): Promise<Listener<TlsConn>>;
  /**
   * Binds a QUIC endpoint and listens; each connection handshakes in `Incoming.handshake`. The
   * endpoint's UDP receive buffer is raised (see `udpReceiveBufferBytes`). Optional so test
   * doubles may leave it out; the Deno and Bun adapters implement it.
   * @throws {NetError} EADDRINUSE and the like.
   * @throws {UnsupportedProtocolError} When the runtime has no QUIC (Deno without `--unstable-net`, Bun without `node:quic`).
   */
  listenQuic?(options: QuicListenOptions): Promise<QuicListener>;
  /**
   * Opens a QUIC connection and completes its handshake.
   * @throws {NetError} EHANDSHAKE when the handshake fails (untrusted certificate, no common ALPN), ETIMEDOUT after `timeoutMs`.
   * @throws {UnsupportedQuicOptionError} For an option this runtime cannot honour (`insecure` on Deno).
   * @throws {UnsupportedProtocolError} When the runtime has no QUIC.
   */
  connectQuic?(options: QuicConnectOptions): Promise<QuicConnection>;
  /**
   * Serves HTTP/3 with the runtime's own server (Bun's `Bun.serve({ http3: true })`), handing each
   * request to `options.fetch`. Optional: Deno has no HTTP/3 server (the `http3` protocol runs its
   * own framing over `listenQuic` there).
   * @throws {NetError} EADDRINUSE and the like.
   */
  serveHttp3?(options: Http3ServeOptions): Promise<Http3ServerHandle>;
  /** Calls `handler` on each delivery of `signal` until disposed. */
  onSignal(signal: ShutdownSignal, handler: () => void): Disposable;
  /** The command-line arguments after the script. */
  args(): string[];
  /** Ends the process. */
  exit(code: number): never;
}

let current: Promise<Runtime> | undefined;

/**
 * Resolves to the adapter for the runtime in use, loading only that adapter.
 *
 * @returns The Deno or Bun runtime adapter.
 */
export function defaultRuntime(): Promise<Runtime> {
  current ??= "Bun" in globalThis
    ? import("./_runtime_bun.ts").then((m) => m.createBunRuntime())
    : import("./_runtime_deno.ts").then((m) => m.createDenoRuntime());
  return current;
}
