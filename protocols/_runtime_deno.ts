/**
 * Internal: the Deno runtime adapter. One of the few files allowed to use `Deno.*`.
 * @module
 */
import { closeIfLate, isCancellation, isTimeoutReason } from "./_abort.ts";
import {
  connectDenoQuic,
  type DenoQuicApi,
  type DenoQuicConnLike,
  type DenoQuicEndpointLike,
  listenDenoQuic,
} from "./_quic_deno.ts";
import { NATIVE_IO, PLAIN_TCP, type PullIO } from "./_native_io.ts";
import { ReadyIncoming } from "./_ready_incoming.ts";
import { pullReadable, pullWritable } from "./_streams.ts";
import { handshakeError, withHandshakeDeadline } from "./_tls_handshake.ts";
import { formatAddr, netAddr } from "./address.ts";
import {
  NET_ERROR_TEXT,
  NetError,
  type NetErrorCode,
  type NetErrorOptions,
  UnsupportedTlsOptionError,
} from "./errors.ts";
import type {
  Runtime,
  ShutdownSignal,
  TcpConnectOptions,
  TcpListenOptions,
  TlsConnectOptions,
  TlsListenOptions,
} from "./runtime.ts";
import type { Incoming, Listener, NetAddr, ProtocolName, TcpConn, TlsConn } from "./types.ts";

function codeOf(error: unknown): NetErrorCode {
  const e = Deno.errors;
  if (error instanceof e.ConnectionRefused) return "ECONNREFUSED";
  if (error instanceof e.ConnectionReset || error instanceof e.ConnectionAborted) return "ECONNRESET";
  if (error instanceof e.BrokenPipe) return "EPIPE";
  if (error instanceof e.TimedOut) return "ETIMEDOUT";
  if (error instanceof e.AddrInUse) return "EADDRINUSE";
  if (error instanceof e.AddrNotAvailable) return "EADDRNOTAVAIL";
  if (error instanceof e.PermissionDenied || error instanceof e.NotCapable) return "EACCES";
  if (error instanceof e.NotFound) return "ENOTFOUND";
  if (error instanceof e.BadResource || error instanceof e.Interrupted || error instanceof e.NotConnected) {
    return "ECLOSED";
  }
  if (isTimeoutReason(error)) return "ETIMEDOUT";
  // Deno reports a failed name lookup as a plain Error with no class or code; this message (from
  // Rust's getaddrinfo wrapper) is the only signal, so it is matched here, once, at the boundary.
  if (error instanceof Error && error.message.startsWith("failed to lookup address information")) return "ENOTFOUND";
  return "EUNKNOWN";
}

/** Maps a Deno error to a NetError, once, at the adapter boundary. */
function mapError(error: unknown, options: NetErrorOptions, target: string): NetError {
  if (error instanceof NetError) return error;
  const code = codeOf(error);
  const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
  const verb = options.op === "dial" ? `dial "${target}" over ${options.protocol}` : `${options.op} on "${target}"`;
  return new NetError(code, `Cannot ${verb}: ${detail}`, { ...options, cause: error });
}

function toNetAddr(addr: Deno.Addr): NetAddr {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? netAddr(addr.hostname, addr.port, addr.transport)
    : netAddr("", 0);
}

/**
 * A Deno stream conn (TCP or TLS). It is its own {@linkcode PullIO} (prototype methods, no per-conn
 * closures) and creates streams, addresses and the `closed` promise only when asked: thousands of
 * idle connections each carry as little as possible.
 */
class DenoStreamConn<C extends Deno.TcpConn | Deno.TlsConn> implements PullIO {
  readonly kind = "pull" as const;
  protected readonly conn: C;
  #isClosed = false;
  #writeClosed = false;
  #closed?: PromiseWithResolvers<void>;
  #localAddr?: NetAddr;
  #remoteAddr?: NetAddr;
  #readable?: ReadableStream<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;

  constructor(conn: C) {
    this.conn = conn;
  }

  /** The protocol name used in errors. */
  get protocol(): ProtocolName {
    return "tcp";
  }

  get [NATIVE_IO](): PullIO {
    return this;
  }

  get localAddr(): NetAddr {
    return this.#localAddr ??= toNetAddr(this.conn.localAddr);
  }

  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= toNetAddr(this.conn.remoteAddr);
  }

  get closed(): Promise<void> {
    if (!this.#closed) {
      this.#closed = Promise.withResolvers<void>();
      if (this.#isClosed) this.#closed.resolve();
    }
    return this.#closed.promise;
  }

  #fail(error: unknown, op: "read" | "write"): NetError {
    const remoteAddr = this.remoteAddr;
    return mapError(error, { op, protocol: this.protocol, remoteAddr }, formatAddr(remoteAddr));
  }

  // read/write return the runtime's promise with one error mapper attached (no async frame per
  // pending call: every idle connection has two reads pending).
  read(buffer: Uint8Array): Promise<number | null> {
    return this.conn.read(buffer).catch(this.#onReadError);
  }

  write(data: Uint8Array): Promise<number> {
    return this.conn.write(data).catch(this.#onWriteError);
  }

  #onReadError = (error: unknown): null => {
    if (this.#isClosed) return null; // we closed it: a pending read just ends
    throw this.#fail(error, "read");
  };

  #onWriteError = (error: unknown): never => {
    throw this.#fail(error, "write");
  };

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= pullReadable(this, () => this.close());
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= pullWritable(this);
  }

  closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#isClosed) return Promise.resolve();
    this.#writeClosed = true;
    return this.conn.closeWrite().catch(() => {});
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.conn.close();
    } catch { /* already closed by the runtime */ }
    this.#closed?.resolve();
  }

  /** True once `close()` ran. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** A Deno TCP conn. */
class DenoTcpConn extends DenoStreamConn<Deno.TcpConn> implements TcpConn {
  /** A plain kernel TCP socket: the splice path may take it (a prototype getter: no per-conn field). */
  get [PLAIN_TCP](): true {
    return true;
  }

  setNoDelay(enabled: boolean): void {
    if (!this.isClosed) this.conn.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.isClosed) this.conn.setKeepAlive(enabled);
  }
}

/**
 * A Deno TLS conn after its handshake. It offers the same pull I/O as TCP (the native pump takes
 * it) but is not a plain socket, so the splice path leaves it alone. Deno reports neither the TLS
 * version nor the peer's certificate.
 */
class DenoTlsConn extends DenoStreamConn<Deno.TlsConn> implements TlsConn {
  readonly alpnProtocol: string | null;

  constructor(conn: Deno.TlsConn, alpnProtocol: string | null) {
    super(conn);
    this.alpnProtocol = alpnProtocol;
  }

  override get protocol(): ProtocolName {
    return "tls";
  }

  get tlsVersion(): undefined {
    return undefined;
  }

  get peerCertificate(): undefined {
    return undefined;
  }
}

function applySocketOptions(conn: TcpConn, options: { noDelay?: boolean; keepAlive?: boolean }): void {
  if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
  if (options.keepAlive !== undefined) conn.setKeepAlive(options.keepAlive);
}

/** Accepts raw Deno conns and wraps each in an {@linkcode Incoming}. */
class DenoListener<R extends Deno.TcpConn | Deno.TlsConn, C extends TcpConn | TlsConn> implements Listener<C> {
  readonly addr: NetAddr;
  #listener: Deno.Listener<R, Deno.NetAddr>;
  #protocol: ProtocolName;
  #wrap: (raw: R, listener: DenoListener<R, C>) => Incoming<C>;
  #isClosed = false;

  constructor(
    listener: Deno.Listener<R, Deno.NetAddr>,
    protocol: ProtocolName,
    wrap: (raw: R, listener: DenoListener<R, C>) => Incoming<C>,
  ) {
    this.#listener = listener;
    this.#protocol = protocol;
    this.#wrap = wrap;
    this.addr = toNetAddr(listener.addr);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<C>> {
    while (!this.#isClosed) {
      let raw: R;
      try {
        raw = await this.#listener.accept();
      } catch (error) {
        if (this.#isClosed) return;
        const context = { op: "accept" as const, protocol: this.#protocol, localAddr: this.addr };
        const mapped = mapError(error, context, formatAddr(this.addr));
        if (mapped.code === "ECLOSED") return;
        throw mapped;
      }
      yield this.#wrap(raw, this);
    }
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function closeQuietly(resource: { close(): void } | undefined): void {
  try {
    resource?.close();
  } catch { /* already closed, or consumed by startTls */ }
}

/** An accepted TLS conn; its handshake runs in {@linkcode DenoTlsIncoming.handshake}, off the accept loop. */
class DenoTlsIncoming implements Incoming<TlsConn> {
  readonly #raw: Deno.TlsConn;
  readonly #localAddr: NetAddr;
  #remoteAddr?: NetAddr;

  constructor(raw: Deno.TlsConn, localAddr: NetAddr) {
    this.#raw = raw;
    this.#localAddr = localAddr;
  }

  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= toNetAddr(this.#raw.remoteAddr);
  }

  async handshake(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<TlsConn> {
    const raw = this.#raw;
    try {
      const info = await withHandshakeDeadline(raw.handshake(), () => closeQuietly(raw), options);
      return new DenoTlsConn(raw, info.alpnProtocol);
    } catch (error) {
      closeQuietly(raw);
      throw handshakeError(error, {
        side: "accept",
        remoteAddr: this.remoteAddr,
        localAddr: this.#localAddr,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
      });
    }
  }

  reject(): void {
    closeQuietly(this.#raw);
  }
}

/** `Deno.connectTls` reads the SNI name from this (unstable, undocumented) key when it differs from `hostname`. */
const SERVER_NAME_KEY = Symbol.for("unstableServerName");

/** True when `--unstable-net` (or `"unstable": ["net"]`) is on; only then may `reusePort` be passed. */
function unstableNet(): boolean {
  return "QuicEndpoint" in Deno;
}

const NO_MUTUAL_TLS = "Deno.listenTls cannot request client certificates, and node:tls on Deno loses the " +
  "peer's end of stream when a paused socket resumes (measured on Deno 2.9), so it is not used; terminate " +
  'mutual TLS on Bun or in front of the tunnel, or use clientAuth "none"';
const NO_MIN_VERSION =
  'Deno.listenTls always accepts TLS 1.2 and 1.3 and has no version setting; use "1.2" or run on Bun';
const NO_INSECURE = "Deno.connectTls always verifies the server's certificate chain; pass the server's CA " +
  "(caFile) instead, or run Deno with --unsafely-ignore-certificate-errors";

async function connectTls(options: TlsConnectOptions): Promise<TlsConn> {
  if (options.insecure) throw new UnsupportedTlsOptionError("insecure", "deno", NO_INSECURE);
  const { hostname, port } = options;
  const serverName = options.serverName || hostname;
  const caCerts = options.caCerts ?? [];
  const alpnProtocols = options.alpnProtocols?.length ? [...options.alpnProtocols] : undefined;
  let current: { close(): void } | undefined;
  let cancelled = false;
  let phase: "connect" | "handshake" = "connect";
  const hold = <T extends { close(): void }>(resource: T): T => {
    current = resource;
    if (cancelled) {
      closeQuietly(resource);
      throw new DOMException("The handshake was cancelled", "AbortError");
    }
    return resource;
  };
  const run = async (): Promise<TlsConn> => {
    let tls: Deno.TlsConn;
    if (options.cert !== undefined || options.key !== undefined) {
      // Deno.startTls takes no client certificate, so dial with connectTls (it resolves after TCP connect).
      const connectOptions: Deno.ConnectTlsOptions & Deno.TlsCertifiedKeyPem & { [SERVER_NAME_KEY]?: string } = {
        hostname,
        port,
        caCerts,
        alpnProtocols,
        cert: options.cert ?? "",
        key: options.key ?? "",
      };
      if (serverName !== hostname) connectOptions[SERVER_NAME_KEY] = serverName;
      tls = hold(await Deno.connectTls(connectOptions));
    } else {
      const tcp = hold(await Deno.connect({ hostname, port, transport: "tcp" }));
      if (options.noDelay !== undefined) tcp.setNoDelay(options.noDelay);
      if (options.keepAlive !== undefined) tcp.setKeepAlive(options.keepAlive);
      phase = "handshake";
      tls = hold(await Deno.startTls(tcp, { hostname: serverName, caCerts, alpnProtocols }));
    }
    phase = "handshake";
    const info = await tls.handshake();
    return new DenoTlsConn(tls, info.alpnProtocol);
  };
  const remoteAddr = netAddr(hostname, port);
  try {
    return await withHandshakeDeadline(run(), () => {
      cancelled = true;
      closeQuietly(current);
    }, options);
  } catch (error) {
    if (isCancellation(error, options.signal)) throw error;
    if (phase === "connect" && !isTimeoutReason(error)) {
      const mapped = mapError(error, { op: "dial", protocol: "tls", remoteAddr }, formatAddr(options));
      // connectTls may already report the handshake (InvalidData, UnexpectedEof): not a connect error.
      if (mapped.code !== "EUNKNOWN") throw mapped;
    }
    throw handshakeError(error, { side: "dial", remoteAddr, signal: options.signal, timeoutMs: options.timeoutMs });
  }
}

function listenTls(options: TlsListenOptions): Promise<Listener<TlsConn>> {
  if (options.clientAuth !== undefined && options.clientAuth !== "none") {
    return Promise.reject(new UnsupportedTlsOptionError("clientAuth", "deno", NO_MUTUAL_TLS));
  }
  if (options.minVersion === "1.3") {
    return Promise.reject(new UnsupportedTlsOptionError("minVersion", "deno", NO_MIN_VERSION));
  }
  const hostname = options.hostname || "0.0.0.0";
  const alpnProtocols = options.alpnProtocols?.length ? [...options.alpnProtocols] : undefined;
  try {
    const raw = Deno.listenTls({
      hostname,
      port: options.port,
      cert: options.cert,
      key: options.key,
      alpnProtocols,
      ...(options.reusePort && unstableNet() ? { reusePort: true } : {}),
    });
    const listener = new DenoListener<Deno.TlsConn, TlsConn>(
      raw,
      "tls",
      (conn, owner) => new DenoTlsIncoming(conn, owner.addr),
    );
    return Promise.resolve(listener);
  } catch (error) {
    const localAddr = netAddr(hostname, options.port);
    return Promise.reject(
      mapError(error, { op: "listen", protocol: "tls", localAddr }, formatAddr({ hostname, port: options.port })),
    );
  }
}

/** Deno's QUIC entry points for `_quic_deno.ts`, or `undefined` without `--unstable-net`. */
function denoQuic(): DenoQuicApi | undefined {
  if (!unstableNet()) return undefined;
  return {
    createEndpoint: (options) => new Deno.QuicEndpoint(options) as unknown as DenoQuicEndpointLike,
    connect: (options) =>
      Deno.connectQuic({
        ...options,
        endpoint: options.endpoint as unknown as Deno.QuicEndpoint,
      }) as unknown as Promise<DenoQuicConnLike>,
    codeOf,
  };
}

const SIGNALS: readonly ShutdownSignal[] = ["SIGINT", "SIGTERM"];

/** Creates the Deno adapter. */
export function createDenoRuntime(): Runtime {
  return {
    name: "deno",
    async connectTcp(options: TcpConnectOptions): Promise<TcpConn> {
      const target = formatAddr(options);
      try {
        const raw = await closeIfLate(
          Deno.connect({ hostname: options.hostname, port: options.port, transport: "tcp" }),
          { signal: options.signal, timeoutMs: options.timeoutMs },
        );
        const conn = new DenoTcpConn(raw);
        applySocketOptions(conn, options);
        return conn;
      } catch (error) {
        if (isCancellation(error, options.signal)) throw error;
        const remoteAddr = netAddr(options.hostname, options.port);
        throw mapError(error, { op: "dial", protocol: "tcp", remoteAddr }, target);
      }
    },
    listenTcp(options: TcpListenOptions): Promise<Listener<TcpConn>> {
      const hostname = options.hostname || "0.0.0.0";
      try {
        const raw = Deno.listen({
          hostname,
          port: options.port,
          transport: "tcp",
          ...(options.reusePort && unstableNet() ? { reusePort: true } : {}),
        });
        return Promise.resolve(
          new DenoListener<Deno.TcpConn, TcpConn>(raw, "tcp", (conn) => {
            const tcp = new DenoTcpConn(conn);
            applySocketOptions(tcp, options);
            return new ReadyIncoming<TcpConn>(tcp);
          }),
        );
      } catch (error) {
        const localAddr = netAddr(hostname, options.port);
        return Promise.reject(
          mapError(error, { op: "listen", protocol: "tcp", localAddr }, formatAddr({ hostname, port: options.port })),
        );
      }
    },
    connectTls,
    listenTls,
    listenQuic: (options) => listenDenoQuic(denoQuic(), options),
    connectQuic: (options) => connectDenoQuic(denoQuic(), options),
    onSignal(signal, handler) {
      if (!SIGNALS.includes(signal)) throw new TypeError(`Cannot listen for signal "${signal}"`);
      Deno.addSignalListener(signal, handler);
      return { [Symbol.dispose]: () => Deno.removeSignalListener(signal, handler) };
    },
    args: () => [...Deno.args],
    exit: (code) => Deno.exit(code),
  };
}
