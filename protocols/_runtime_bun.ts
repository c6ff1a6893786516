/**
 * Internal: the Bun runtime adapter. One of the few files allowed to use `Bun.*`.
 * Bun's API is declared by shape here (no bun-types, no `declare global`).
 * @module
 */
import process from "node:process";
import { closeIfLate, isCancellation, isTimeoutReason } from "./_abort.ts";
import { NATIVE_IO, PLAIN_TCP, type PushIO, type PushSink, SOCKET_FD } from "./_native_io.ts";
import { type BunServe, serveBunHttp3 } from "./_http3_bun.ts";
import { connectBunQuic, listenBunQuic } from "./_quic_bun.ts";
import { ReadyIncoming } from "./_ready_incoming.ts";
import { pushStreams } from "./_streams.ts";
import {
  bunClientTls,
  type BunPeerCertificate,
  bunServerTls,
  type BunTlsOptions,
  EarlySink,
  handshakeVerdict,
  peerCertificate,
  type TlsRole,
} from "./_tls_bun.ts";
import { closedDuringHandshake, handshakeError, withHandshakeDeadline } from "./_tls_handshake.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode, type NetErrorOptions } from "./errors.ts";
import type {
  Runtime,
  ShutdownSignal,
  TcpConnectOptions,
  TcpListenOptions,
  TlsConnectOptions,
  TlsListenOptions,
} from "./runtime.ts";
import type { Incoming, Listener, NetAddr, ProtocolName, TcpConn, TlsConn, TlsPeerCertificate } from "./types.ts";

interface BunSocket {
  data: BunSocketConn | undefined;
  readonly fd: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  write(data: Uint8Array): number;
  end(): void;
  /** With no argument: shuts down the write half only (`shutdown(SHUT_WR)`); reading continues. */
  shutdown(): void;
  /** Closes both directions gracefully (FIN); `terminate()` would reset (RST). */
  close(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(enabled: boolean): boolean;
  setKeepAlive(enabled: boolean, delayMs?: number): boolean;
  /** TLS only: the negotiated ALPN protocol (`false` when none). */
  readonly alpnProtocol?: string | false | null;
  /** TLS only: `"TLSv1.2"`, `"TLSv1.3"`. */
  getTLSVersion?(): string | null;
  /** TLS only: the peer's certificate, or an empty object. */
  getPeerCertificate?(): BunPeerCertificate | undefined;
}

interface BunSocketHandlers {
  open?(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: unknown): void;
  error(socket: BunSocket, error: unknown): void;
  connectError?(socket: BunSocket, error: unknown): void;
  /** TLS only: the handshake finished; `success` is false when it failed or was not authorized. */
  handshake?(socket: BunSocket, success: boolean, authorizationError: unknown): void;
}

interface BunTcpServer {
  readonly port: number;
  readonly hostname: string;
  stop(closeActiveConnections?: boolean): void;
}

interface BunApi {
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
    tls?: BunTlsOptions;
    reusePort?: boolean;
  }): BunTcpServer;
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
    tls?: BunTlsOptions;
  }): Promise<BunSocket>;
}

function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

const KNOWN_CODES = new Set<string>([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EACCES",
  "ENOTFOUND",
  "EPIPE",
]);

function codeOf(error: unknown): NetErrorCode {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === "string") {
    if (KNOWN_CODES.has(code)) return code as NetErrorCode;
    if (code === "ECONNABORTED") return "ECONNRESET";
    if (code === "EAI_AGAIN" || code === "EAI_NONAME" || code === "DNSException") return "ENOTFOUND";
    if (code === "ERR_SOCKET_CLOSED" || code === "EBADF") return "ECLOSED";
  }
  if (isTimeoutReason(error)) return "ETIMEDOUT";
  return "EUNKNOWN";
}

/** Maps a Bun error to a NetError, once, at the adapter boundary. */
function mapError(error: unknown, options: NetErrorOptions, target: string): NetError {
  if (error instanceof NetError) return error;
  const code = codeOf(error);
  const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
  const verb = options.op === "dial" ? `dial "${target}" over ${options.protocol}` : `${options.op} on "${target}"`;
  return new NetError(code, `Cannot ${verb}: ${detail}`, { ...options, cause: error });
}

const IGNORE_SINK: PushSink = { data() {}, drain() {}, end() {}, close() {} };

/**
 * A Bun socket conn (TCP or TLS). It is its own {@linkcode PushIO} (prototype methods, no per-conn
 * closures) and creates streams, addresses and the `closed` promise only when asked.
 */
class BunSocketConn implements PushIO {
  readonly kind = "push" as const;
  protected readonly socket: BunSocket;
  sink: PushSink = IGNORE_SINK;
  isClosed = false;
  #writeClosed = false;
  #closed?: PromiseWithResolvers<void>;
  #localAddr?: NetAddr;
  #remoteAddr?: NetAddr;
  #streams?: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

  constructor(socket: BunSocket, paused = true) {
    this.socket = socket;
    socket.data = this;
    if (paused) socket.pause();
    // Read the peer's address now: Bun forgets it once the socket closes, and errors are
    // reported after that.
    this.#remoteAddr = netAddr(socket.remoteAddress, socket.remotePort);
  }

  /** The protocol name used in errors. */
  get protocol(): ProtocolName {
    return "tcp";
  }

  get [NATIVE_IO](): PushIO {
    return this;
  }

  get localAddr(): NetAddr {
    return this.#localAddr ??= netAddr(this.socket.localAddress, this.socket.localPort);
  }

  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= netAddr(this.socket.remoteAddress, this.socket.remotePort);
  }

  get closed(): Promise<void> {
    if (!this.#closed) {
      this.#closed = Promise.withResolvers<void>();
      if (this.isClosed) this.#closed.resolve();
    }
    return this.#closed.promise;
  }

  attach(sink: PushSink): void {
    this.sink = sink;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.isClosed) this.socket.resume();
  }

  write(data: Uint8Array): number {
    return this.isClosed ? -1 : this.socket.write(data);
  }

  end(): void {
    void this.closeWrite();
  }

  #getStreams() {
    return this.#streams ??= pushStreams(this, () => this.close(), () => this.closedError("write"));
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#getStreams().readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#getStreams().writable;
  }

  closedError(op: "read" | "write"): NetError {
    return new NetError("ECLOSED", `Cannot ${op} on "${formatAddr(this.remoteAddr)}": ${NET_ERROR_TEXT.ECLOSED}`, {
      op,
      protocol: this.protocol,
      remoteAddr: this.remoteAddr,
    });
  }

  mapError(error: unknown): NetError {
    const context = { op: "read" as const, protocol: this.protocol, remoteAddr: this.remoteAddr };
    return mapError(error, context, formatAddr(this.remoteAddr));
  }

  closeWrite(): Promise<void> {
    if (this.#writeClosed || this.isClosed) return Promise.resolve();
    this.#writeClosed = true;
    this.socket.shutdown(); // `end()` would close a dialed socket entirely (Bun ignores allowHalfOpen there)
    return Promise.resolve();
  }

  /** Called by the socket's close handler, and by close(). */
  markClosed(error?: unknown): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#closed?.resolve();
    const sink = this.sink;
    this.sink = IGNORE_SINK;
    sink.close(error);
  }

  close(): void {
    if (this.isClosed) return;
    this.markClosed();
    this.socket.close();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.isClosed) this.socket.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.isClosed) this.socket.setKeepAlive(enabled);
  }

  /** TLS only: the handshake finished. */
  onHandshake(_success: boolean, _authorizationError: unknown): void {}

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** A Bun TCP conn. */
class BunTcpConn extends BunSocketConn implements TcpConn {
  /** A plain kernel TCP socket: the splice path may take it (a prototype getter: no per-conn field). */
  get [PLAIN_TCP](): true {
    return true;
  }

  get [SOCKET_FD](): number {
    return this.socket.fd;
  }
}

/**
 * A Bun TLS conn. Until its handshake completes it keeps early bytes in an {@linkcode EarlySink};
 * afterwards it is push I/O like TCP (the native pump takes it) but not a plain socket, so the
 * splice path leaves it alone.
 */
class BunTlsConn extends BunSocketConn implements TlsConn {
  readonly #role: TlsRole;
  #early: EarlySink | undefined = new EarlySink();
  #attached: PushSink | undefined;
  #handshake = Promise.withResolvers<void>();
  #done = false;
  alpnProtocol: string | null = null;
  tlsVersion: string | undefined;
  peerCertificate: TlsPeerCertificate | null = null;

  constructor(socket: BunSocket, role: TlsRole) {
    super(socket, role.side === "server"); // a server waits for handshake() to read the ClientHello
    this.#role = role;
    this.sink = this.#early!;
    this.#handshake.promise.catch(() => {});
  }

  override get protocol(): ProtocolName {
    return "tls";
  }

  /** Resolves once the handshake succeeded; rejects with the reason it failed. */
  get handshakeDone(): Promise<void> {
    return this.#handshake.promise;
  }

  override onHandshake(success: boolean, authorizationError: unknown): void {
    if (this.#done) return;
    this.#done = true;
    const raw = this.socket.getPeerCertificate?.();
    const presented = raw !== undefined && raw !== null && raw.serialNumber !== undefined;
    const failure = handshakeVerdict(this.#role, success, authorizationError, presented);
    if (failure !== undefined) {
      this.#handshake.reject(new Error(failure));
      this.close();
      return;
    }
    this.socket.pause(); // starts paused, like every push conn; early bytes wait in the EarlySink
    const alpn = this.socket.alpnProtocol;
    this.alpnProtocol = typeof alpn === "string" && alpn !== "" ? alpn : null;
    this.tlsVersion = this.socket.getTLSVersion?.() ?? undefined;
    this.peerCertificate = peerCertificate(raw, presented && success && !authorizationError);
    this.#handshake.resolve();
  }

  /** Lets the handshake read (a server conn stays paused until then). */
  startHandshake(): void {
    if (!this.isClosed && !this.#done) this.socket.resume();
  }

  override attach(sink: PushSink): void {
    if (this.#early) this.#attached = sink; // delivered on resume(), after the early bytes
    else super.attach(sink);
  }

  override resume(): void {
    const early = this.#early;
    if (early) {
      this.#early = undefined;
      const sink = this.#attached ?? IGNORE_SINK;
      this.#attached = undefined;
      if (!this.isClosed) this.sink = sink;
      early.replay(sink); // in order: bytes, end of stream, close
    }
    super.resume();
  }

  override markClosed(error?: unknown): void {
    if (!this.#done) {
      this.#done = true;
      this.#handshake.reject(error ?? closedDuringHandshake());
    }
    if (this.#early) this.sink = this.#early; // the close follows the early bytes
    super.markClosed(error);
  }
}

/**
 * Handlers shared by every socket of a listener (or of all TCP dials); per-socket state lives in
 * `socket.data`. `create` makes the conn when the socket opens (TCP: paused at once).
 */
function sharedHandlers<C extends BunSocketConn>(
  create: (socket: BunSocket) => C,
  onOpen?: (conn: C) => void,
): BunSocketHandlers {
  return {
    open(socket) {
      const conn = create(socket);
      onOpen?.(conn);
    },
    data: (socket, chunk) => socket.data?.sink.data(chunk),
    drain: (socket) => socket.data?.sink.drain(),
    end: (socket) => socket.data?.sink.end(),
    close(socket, error) {
      const conn = socket.data;
      conn?.markClosed(error === undefined || error === null ? undefined : conn.mapError(error));
    },
    error(socket, error) {
      const conn = socket.data;
      conn?.markClosed(conn.mapError(error));
    },
    handshake: (socket, success, authorizationError) => socket.data?.onHandshake(success, authorizationError),
  };
}

function applySocketOptions(conn: TcpConn, options: { noDelay?: boolean; keepAlive?: boolean }): void {
  if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
  if (options.keepAlive !== undefined) conn.setKeepAlive(options.keepAlive);
}

/** Accepted sockets waiting for the iterator; beyond this many, new ones are refused. */
const MAX_PENDING_ACCEPTS = 4096;

/** A server socket whose handshake runs in {@linkcode BunTlsIncoming.handshake}, off the accept loop. */
class BunTlsIncoming implements Incoming<TlsConn> {
  readonly #conn: BunTlsConn;
  readonly #localAddr: NetAddr;

  constructor(conn: BunTlsConn, localAddr: NetAddr) {
    this.#conn = conn;
    this.#localAddr = localAddr;
  }

  get remoteAddr(): NetAddr {
    return this.#conn.remoteAddr;
  }

  async handshake(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<TlsConn> {
    const conn = this.#conn;
    try {
      conn.startHandshake();
      await withHandshakeDeadline(conn.handshakeDone, () => conn.close(), options);
      return conn;
    } catch (error) {
      conn.close();
      throw handshakeError(error, {
        side: "accept",
        remoteAddr: conn.remoteAddr,
        localAddr: this.#localAddr,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
      });
    }
  }

  reject(): void {
    this.#conn.close();
  }
}

/** A Bun listener; `wrap` turns each accepted conn into an {@linkcode Incoming}. */
class BunListener<S extends BunSocketConn, C extends TcpConn | TlsConn> implements Listener<C> {
  readonly addr: NetAddr;
  #server!: BunTcpServer;
  #pending: S[] = [];
  #waiter?: PromiseWithResolvers<void>;
  #isClosed = false;
  #wrap: (conn: S) => Incoming<C>;

  constructor(
    options: TcpListenOptions,
    protocol: ProtocolName,
    create: (socket: BunSocket) => S,
    wrap: (conn: S, listener: BunListener<S, C>) => Incoming<C>,
    tls?: BunTlsOptions,
  ) {
    const hostname = options.hostname || "0.0.0.0";
    this.#wrap = (conn) => wrap(conn, this);
    const handlers = sharedHandlers(create, (conn) => {
      if (this.#isClosed || this.#pending.length >= MAX_PENDING_ACCEPTS) {
        conn.close();
        return;
      }
      if (conn instanceof BunTcpConn) applySocketOptions(conn, options);
      else if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
      this.#pending.push(conn);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.resolve();
    });
    try {
      this.#server = bun().listen({
        hostname,
        port: options.port,
        allowHalfOpen: true,
        socket: handlers,
        ...(tls ? { tls } : {}),
        ...(options.reusePort ? { reusePort: true } : {}),
      });
    } catch (error) {
      const localAddr = netAddr(hostname, options.port);
      throw mapError(error, { op: "listen", protocol, localAddr }, formatAddr(localAddr));
    }
    this.addr = netAddr(this.#server.hostname, this.#server.port);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<C>> {
    while (true) {
      const conn = this.#pending.shift();
      if (conn) {
        if (conn.isClosed) continue;
        yield this.#wrap(conn);
        continue;
      }
      if (this.#isClosed) return;
      this.#waiter = Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#server.stop(false);
    for (const conn of this.#pending.splice(0)) conn.close();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

const newTcpConn = (socket: BunSocket) => new BunTcpConn(socket);
const CLIENT_HANDLERS = sharedHandlers(newTcpConn);

async function connectTls(options: TlsConnectOptions): Promise<TlsConn> {
  const remoteAddr = netAddr(options.hostname, options.port);
  const role: TlsRole = { side: "client", insecure: options.insecure === true };
  let phase: "connect" | "handshake" = "connect";
  let conn: BunTlsConn | undefined;
  let cancelled = false;
  const run = async (): Promise<TlsConn> => {
    const socket = await bun().connect({
      hostname: options.hostname,
      port: options.port,
      allowHalfOpen: true,
      socket: sharedHandlers((s) => new BunTlsConn(s, role)),
      tls: bunClientTls(options),
    });
    conn = socket.data as BunTlsConn | undefined ?? new BunTlsConn(socket, role);
    if (cancelled) conn.close();
    phase = "handshake";
    if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
    if (options.keepAlive !== undefined) conn.setKeepAlive(options.keepAlive);
    await conn.handshakeDone;
    return conn;
  };
  try {
    return await withHandshakeDeadline(run(), () => {
      cancelled = true;
      conn?.close();
    }, options);
  } catch (error) {
    conn?.close();
    if (isCancellation(error, options.signal)) throw error;
    if (phase === "connect" && !isTimeoutReason(error)) {
      throw mapError(error, { op: "dial", protocol: "tls", remoteAddr }, formatAddr(options));
    }
    throw handshakeError(error, { side: "dial", remoteAddr, signal: options.signal, timeoutMs: options.timeoutMs });
  }
}

function listenTls(options: TlsListenOptions): Promise<Listener<TlsConn>> {
  const role: TlsRole = { side: "server", clientAuth: options.clientAuth ?? "none" };
  try {
    const listener = new BunListener<BunTlsConn, TlsConn>(
      options,
      "tls",
      (socket) => new BunTlsConn(socket, role),
      (conn, owner) => new BunTlsIncoming(conn, owner.addr),
      bunServerTls(options),
    );
    return Promise.resolve(listener);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Creates the Bun adapter. */
export function createBunRuntime(): Runtime {
  return {
    name: "bun",
    async connectTcp(options: TcpConnectOptions): Promise<TcpConn> {
      const target = formatAddr(options);
      const remoteAddr = netAddr(options.hostname, options.port);
      try {
        const pending = bun().connect({
          hostname: options.hostname,
          port: options.port,
          allowHalfOpen: true,
          socket: CLIENT_HANDLERS,
        }).then((socket) => (socket.data as BunTcpConn | undefined) ?? new BunTcpConn(socket));
        const conn = await closeIfLate(pending, { signal: options.signal, timeoutMs: options.timeoutMs });
        applySocketOptions(conn, options);
        return conn;
      } catch (error) {
        if (isCancellation(error, options.signal)) throw error;
        throw mapError(error, { op: "dial", protocol: "tcp", remoteAddr }, target);
      }
    },
    listenTcp(options: TcpListenOptions): Promise<Listener<TcpConn>> {
      try {
        return Promise.resolve(
          new BunListener<BunTcpConn, TcpConn>(options, "tcp", newTcpConn, (conn) => new ReadyIncoming<TcpConn>(conn)),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    },
    connectTls,
    listenTls,
    listenQuic: listenBunQuic,
    connectQuic: connectBunQuic,
    serveHttp3: (options) =>
      serveBunHttp3((o) => (globalThis as unknown as { Bun: { serve: BunServe } }).Bun.serve(o), options),
    onSignal(signal: ShutdownSignal, handler: () => void): Disposable {
      process.on(signal, handler);
      return { [Symbol.dispose]: () => void process.off(signal, handler) };
    },
    args: () => process.argv.slice(2),
    exit: (code) => process.exit(code),
  };
}
