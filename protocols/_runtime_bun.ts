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
  /** Our conn, from the `open` handler on (before it: what the dial passed as `data`). */
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
    /** The socket's first `data` (our handlers read it as the socket opens). */
    data?: NetAddr;
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

// Why a socket is paused: bits of `BunSocketConn.#pause`.
/** `pause()` was called, and `resume()` not since (or no reader resumed the conn in time). */
const BY_READER = 1;
/** Bytes arrived before a sink was there to take them; they wait in the conn's {@linkcode EarlySink}. */
const BY_EARLY = 2;
/** The conn holds the socket (a TLS server until `handshake()` is called). */
const BY_HOLD = 4;
const PAUSE_REASONS = BY_READER | BY_EARLY | BY_HOLD;
/** Set while the socket itself is paused. */
const SOCKET_PAUSED = 8;
/** Set once `resume()` was called. */
const RESUMED = 16;

/** Conns opened (or handshaken) in this turn of the event loop; see {@linkcode BunSocketConn}. */
let unread: BunSocketConn[] = [];

function pauseUnread(): void {
  const conns = unread;
  unread = [];
  for (let i = 0; i < conns.length; i++) conns[i].pauseIfUnread();
}

/** Pauses `conn` at the end of this turn unless a reader resumed it by then. */
function pauseUnlessRead(conn: BunSocketConn): void {
  if (unread.push(conn) === 1) setImmediate(pauseUnread);
}

/** A canonical dotted IPv4 literal: what Bun reports for such a peer, so it can stand in for `getpeername`. */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The address a dial may pass to its conn: only an IP literal is sure to equal what the socket reports. */
function knownPeer(hostname: string, port: number): NetAddr | undefined {
  return CANONICAL_IPV4.test(hostname) ? netAddr(hostname, port) : undefined;
}

/**
 * A Bun socket conn (TCP or TLS). It is its own {@linkcode PushIO} (prototype methods, no per-conn
 * closures) and creates streams, addresses and the `closed` promise only when asked.
 *
 * A new conn is paused (no byte is read until `resume()`) only if no reader resumed it in the
 * turn of the event loop that opened it: Bun polls a new socket first in the next turn, after the
 * immediates, so nothing is read before. Bun's `pause()` and `resume()` cost an `epoll_ctl` each
 * plus a writable wake-up (a `setsockopt` and an `epoll_ctl`); the forward pumps and the tunnel,
 * which resume at once, save these four calls per socket. Events that would still reach a conn
 * with no sink wait in an {@linkcode EarlySink} (the first bytes pause the socket) and reach the
 * sink on `resume()`, in order. Addresses given by the listener or the dial spare the
 * `getsockname` and `getpeername` calls (Bun makes one per property read).
 */
class BunSocketConn implements PushIO {
  readonly kind = "push" as const;
  protected readonly socket: BunSocket;
  /** Gets the socket's events once nothing waits in `#early`. */
  sink: PushSink = IGNORE_SINK;
  isClosed = false;
  #writeClosed = false;
  #pause = 0;
  #early: EarlySink | undefined;
  #closed?: PromiseWithResolvers<void>;
  #localAddr?: NetAddr;
  #remoteAddr?: NetAddr;
  #streams?: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

  constructor(socket: BunSocket, remoteAddr?: NetAddr, localAddr?: NetAddr) {
    this.socket = socket;
    socket.data = this;
    // Read the peer's address now (unless the dial knows it): Bun forgets it once the socket
    // closes, and errors are reported after that.
    this.#remoteAddr = remoteAddr ?? netAddr(socket.remoteAddress, socket.remotePort);
    this.#localAddr = localAddr;
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
    this.sink = sink; // what waits in #early follows on resume()
  }

  pause(): void {
    this.#pause |= BY_READER;
    this.#syncPause();
  }

  resume(): void {
    this.#pause = (this.#pause & ~BY_READER) | RESUMED;
    const early = this.#early;
    if (early !== undefined && this.sink !== IGNORE_SINK) {
      this.#early = undefined;
      this.#pause &= ~BY_EARLY;
      early.replay(this.sink); // in order: bytes, end of stream, close (the sink may pause again)
      if (this.isClosed) this.sink = IGNORE_SINK;
    }
    this.#syncPause();
  }

  /** Pauses the socket for `reason` (one of the `BY_*` bits). */
  protected holdFor(reason: number): void {
    this.#pause |= reason;
    this.#syncPause();
  }

  /** Lifts `reason`; the socket resumes once no reason is left. */
  protected releaseFor(reason: number): void {
    this.#pause &= ~reason;
    this.#syncPause();
  }

  /** Pauses or resumes the socket itself to match the reasons, with no call when it already does. */
  #syncPause(): void {
    const wanted = (this.#pause & PAUSE_REASONS) !== 0;
    if (wanted === ((this.#pause & SOCKET_PAUSED) !== 0) || this.isClosed) return;
    this.#pause ^= SOCKET_PAUSED;
    if (wanted) this.socket.pause();
    else this.socket.resume();
  }

  /** The end of the turn that opened the conn (see the class comment). */
  pauseIfUnread(): void {
    if ((this.#pause & RESUMED) === 0) this.pause();
  }

  /**
   * True if events wait in the early sink: bytes the kernel no longer has, or an end or close
   * that a sink attached later (the splice path's) would never hear of.
   */
  protected get holdsEarlyEvents(): boolean {
    return this.#early !== undefined;
  }

  /** The socket delivered bytes (from the shared handlers). */
  onData(chunk: Uint8Array): void {
    if (this.#early === undefined && this.sink !== IGNORE_SINK) return this.sink.data(chunk);
    (this.#early ??= new EarlySink()).data(chunk);
    this.holdFor(BY_EARLY);
  }

  /** The peer half-closed (from the shared handlers). */
  onEnd(): void {
    if (this.#early === undefined && this.sink !== IGNORE_SINK) return this.sink.end();
    (this.#early ??= new EarlySink()).end();
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
    if (this.#early !== undefined || sink === IGNORE_SINK) {
      (this.#early ??= new EarlySink()).close(error); // the close follows the early bytes
      return;
    }
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
  constructor(socket: BunSocket, remoteAddr?: NetAddr, localAddr?: NetAddr) {
    super(socket, remoteAddr, localAddr);
    pauseUnlessRead(this);
  }

  /**
   * A plain kernel TCP socket: the splice path may take it (a prototype getter: no per-conn
   * field), unless events wait in the conn (early bytes would not reach the other side, an early
   * end or close would not reach the splice path).
   */
  get [PLAIN_TCP](): boolean {
    return this.isClosed || !this.holdsEarlyEvents; // a closed conn: the fd lookup says so
  }

  get [SOCKET_FD](): number {
    return this.socket.fd;
  }
}

/**
 * A Bun TLS conn. Bytes that arrive after its handshake and before a reader attaches wait in the
 * conn's {@linkcode EarlySink}, like any Bun conn's; it is push I/O like TCP (the native pump takes
 * it) but not a plain socket, so the splice path leaves it alone.
 */
class BunTlsConn extends BunSocketConn implements TlsConn {
  readonly #role: TlsRole;
  #handshake = Promise.withResolvers<void>();
  #done = false;
  alpnProtocol: string | null = null;
  tlsVersion: string | undefined;
  peerCertificate: TlsPeerCertificate | null = null;

  constructor(socket: BunSocket, role: TlsRole, remoteAddr?: NetAddr, localAddr?: NetAddr) {
    super(socket, remoteAddr, localAddr);
    this.#role = role;
    if (role.side === "server") this.holdFor(BY_HOLD); // a server waits for handshake() to read the ClientHello
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
    const alpn = this.socket.alpnProtocol;
    this.alpnProtocol = typeof alpn === "string" && alpn !== "" ? alpn : null;
    this.tlsVersion = this.socket.getTLSVersion?.() ?? undefined;
    this.peerCertificate = peerCertificate(raw, presented && success && !authorizationError);
    pauseUnlessRead(this); // as a new conn: no byte is read until a reader resumes it
    this.#handshake.resolve();
  }

  /** Lets the handshake read (a server conn stays paused until then). */
  startHandshake(): void {
    if (!this.#done) this.releaseFor(BY_HOLD);
  }

  override markClosed(error?: unknown): void {
    if (!this.#done) {
      this.#done = true;
      this.#handshake.reject(error ?? closedDuringHandshake());
    }
    super.markClosed(error);
  }
}

/**
 * Handlers shared by every socket of a listener (or of all TCP dials); per-socket state lives in
 * `socket.data`. `create` makes the conn when the socket opens.
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
    data: (socket, chunk) => socket.data?.onData(chunk),
    drain: (socket) => socket.data?.sink.drain(),
    end: (socket) => socket.data?.onEnd(),
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

/**
 * Applies the options to a conn that just opened. Bun turns `TCP_NODELAY` on for every socket it
 * opens (accepted, dialed, TLS), so only turning it off costs a call.
 */
function applySocketOptions(conn: TcpConn, options: { noDelay?: boolean; keepAlive?: boolean }): void {
  if (options.noDelay === false) conn.setNoDelay(false);
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
  /** The local address of every accepted conn, when the listener is bound to one IPv4 address. */
  #local: NetAddr | undefined;

  constructor(
    options: TcpListenOptions,
    protocol: ProtocolName,
    create: (socket: BunSocket, localAddr: NetAddr | undefined) => S,
    wrap: (conn: S, listener: BunListener<S, C>) => Incoming<C>,
    tls?: BunTlsOptions,
  ) {
    const hostname = options.hostname || "0.0.0.0";
    this.#wrap = (conn) => wrap(conn, this);
    const handlers = sharedHandlers((socket) => create(socket, this.#local), (conn) => {
      if (this.#isClosed || this.#pending.length >= MAX_PENDING_ACCEPTS) {
        conn.close();
        return;
      }
      if (conn instanceof BunTcpConn) applySocketOptions(conn, options);
      else if (options.noDelay === false) conn.setNoDelay(false);
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
    const bound = knownPeer(this.#server.hostname, this.#server.port);
    this.#local = bound?.hostname === "0.0.0.0" ? undefined : bound;
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

/** The peer address a dial passed as the socket's first `data` (see {@linkcode knownPeer}), read as it opens. */
function dialedPeer(socket: BunSocket): NetAddr | undefined {
  const first: unknown = socket.data;
  return first instanceof BunSocketConn ? undefined : first as NetAddr | undefined;
}

const CLIENT_HANDLERS = sharedHandlers((socket) => new BunTcpConn(socket, dialedPeer(socket)));

async function connectTls(options: TlsConnectOptions): Promise<TlsConn> {
  const remoteAddr = netAddr(options.hostname, options.port);
  const role: TlsRole = { side: "client", insecure: options.insecure === true };
  let phase: "connect" | "handshake" = "connect";
  let conn: BunTlsConn | undefined;
  let cancelled = false;
  const peer = knownPeer(options.hostname, options.port);
  const run = async (): Promise<TlsConn> => {
    const socket = await bun().connect({
      hostname: options.hostname,
      port: options.port,
      allowHalfOpen: true,
      socket: sharedHandlers((s) => new BunTlsConn(s, role, peer)),
      tls: bunClientTls(options),
    });
    conn = socket.data as BunTlsConn | undefined ?? new BunTlsConn(socket, role, peer);
    if (cancelled) conn.close();
    phase = "handshake";
    applySocketOptions(conn, options);
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
      (socket, localAddr) => new BunTlsConn(socket, role, undefined, localAddr),
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
        const peer = knownPeer(options.hostname, options.port);
        const pending = bun().connect({
          hostname: options.hostname,
          port: options.port,
          allowHalfOpen: true,
          socket: CLIENT_HANDLERS,
          data: peer,
        }).then((socket) => socket.data instanceof BunTcpConn ? socket.data : new BunTcpConn(socket, peer));
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
          new BunListener<BunTcpConn, TcpConn>(
            options,
            "tcp",
            (socket, localAddr) => new BunTcpConn(socket, undefined, localAddr),
            (conn) => new ReadyIncoming<TcpConn>(conn),
          ),
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
