/**
 * The connection vocabulary every protocol shares: {@linkcode Conn}, {@linkcode Listener},
 * {@linkcode Protocol} and addresses.
 * @module
 */

/** go-tunnel's protocol names, plus `tls`. */
export type ProtocolName = "tcp" | "tls" | "http2" | "http3" | "quic";

/** A network address. */
export interface NetAddr {
  /** `tcp` for stream sockets, `udp` for QUIC. */
  readonly transport: "tcp" | "udp";
  /** An IP literal (without brackets) or a host name. */
  readonly hostname: string;
  /** The port, 0 to 65535. */
  readonly port: number;
}

/** Where to listen. An empty or missing hostname means every interface. */
export interface ListenAddr {
  /** Host or IP to bind; `""`/`undefined` binds every interface, IPv6 and IPv4 (`"::"`). @default {"::"} */
  readonly hostname?: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
}

/** Where to dial. */
export interface DialAddr {
  /** Host name or IP literal. */
  readonly hostname: string;
  /** Port, 1 to 65535. */
  readonly port: number;
}

/** A bidirectional byte stream. Every protocol produces these. */
export interface Conn extends AsyncDisposable {
  /** Bytes from the peer. Created on first access. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer. Created on first access. */
  readonly writable: WritableStream<Uint8Array>;
  /** Our end of the connection. */
  readonly localAddr: NetAddr;
  /** The peer's end of the connection. */
  readonly remoteAddr: NetAddr;
  /** Half-close: signals end of stream to the peer; reading continues. Idempotent. */
  closeWrite(): Promise<void>;
  /** Idempotent. Pending reads and writes reject with a NetError coded "ECLOSED" or end. */
  close(): void;
  /** Resolves once the connection is fully closed (both the runtime resource and our wrapper). */
  readonly closed: Promise<void>;
}

/** A {@linkcode Conn} over a TCP socket, with the socket knobs users expect. */
export interface TcpConn extends Conn {
  /** Sets `TCP_NODELAY` (disables Nagle's algorithm). */
  setNoDelay(enabled: boolean): void;
  /** Enables or disables `SO_KEEPALIVE`. */
  setKeepAlive(enabled: boolean): void;
}

/** The certificate a TLS peer presented, as far as the runtime reports it. */
export interface TlsPeerCertificate {
  /** Subject distinguished name, e.g. `"CN=test-client"`. */
  readonly subject: string;
  /** Issuer distinguished name, e.g. `"CN=Example CA"`. */
  readonly issuer: string;
  /** Serial number in upper-case hex, e.g. `"27B1CACCB57B0325"`. */
  readonly serialNumber: string;
  /** True when the certificate chains to a trusted CA (and, seen from a client, matches the server name). */
  readonly verified: boolean;
}

/** A {@linkcode Conn} over TLS, after its handshake. */
export interface TlsConn extends Conn {
  /** The ALPN protocol both sides agreed on, or `null` when none was negotiated. */
  readonly alpnProtocol: string | null;
  /** `"TLSv1.2"` or `"TLSv1.3"`; `undefined` where the runtime does not report it (Deno). */
  readonly tlsVersion: string | undefined;
  /**
   * The peer's certificate: on a dialed conn the server's, on an accepted conn the client's (mutual
   * TLS). `null` when the peer presented none; `undefined` where the runtime does not report it (Deno).
   */
  readonly peerCertificate: TlsPeerCertificate | null | undefined;
}

/** Yields accepted connections that have not been handshaken yet. `close()` is idempotent. */
export interface Listener<C extends Conn = Conn> extends AsyncIterable<Incoming<C>>, AsyncDisposable {
  /** The bound address (with the real port when 0 was asked for). */
  readonly addr: NetAddr;
  /** Stops accepting; the iterator ends. Accepted connections stay open. */
  close(): void;
}

/**
 * An accepted connection; `handshake` runs off the accept loop, under a deadline. `C` is a
 * {@linkcode Conn} for stream protocols, or a whole connection (a QUIC connection) whose streams
 * are conns.
 */
export interface Incoming<C = Conn> {
  /**
   * The peer's address, known before any handshake for TCP and TLS. QUIC runtimes reveal it only
   * after the handshake: until then it reads as port 0 with an empty hostname.
   */
  readonly remoteAddr: NetAddr;
  /**
   * Runs the protocol handshake (a no-op for TCP) and resolves to the usable connection.
   * `timeoutMs` bounds the handshake; protocols without one ignore it (and create no timer).
   */
  handshake(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<C>;
  /** Closes the connection without handshaking. */
  reject(): void;
}

/** Socket options applied when listening or dialing. `undefined` keeps the runtime default. */
export interface SocketOptions {
  /** `TCP_NODELAY`. @default {true} */
  noDelay?: boolean;
  /** `SO_KEEPALIVE`. @default {undefined} */
  keepAlive?: boolean;
}

/** Options for {@linkcode Protocol.listen}. */
export interface ListenOptions extends SocketOptions {
  /** Cancels a pending bind. */
  signal?: AbortSignal;
}

/** Options for {@linkcode Protocol.dial}. */
export interface DialOptions extends SocketOptions {
  /** Cancels the dial; the error is the signal's reason. */
  signal?: AbortSignal;
  /** Fails the dial with ETIMEDOUT after this many milliseconds. @default {undefined} */
  timeoutMs?: number;
}

/** A transport that accepts and opens {@linkcode Conn}s. */
export interface Protocol {
  /** The go-tunnel name of this protocol. */
  readonly name: ProtocolName;
  /** Binds a listener. */
  listen(addr: ListenAddr, options?: ListenOptions): Promise<Listener>;
  /** Opens a connection. */
  dial(addr: DialAddr, options?: DialOptions): Promise<Conn>;
}
