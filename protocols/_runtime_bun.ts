/**
 * Internal: the Bun runtime adapter. One of the few files allowed to use `Bun.*`.
 * Bun's API is declared by shape here (no bun-types, no `declare global`).
 * @module
 */
import process from "node:process";
import { closeIfLate, isCancellation, isTimeoutReason } from "./_abort.ts";
import { NATIVE_IO, PLAIN_TCP, type PushIO, type PushSink, SOCKET_FD } from "./_native_io.ts";
import { ReadyIncoming } from "./_ready_incoming.ts";
import { pushStreams } from "./_streams.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode, type NetErrorOptions } from "./errors.ts";
import type { Runtime, ShutdownSignal, TcpConnectOptions, TcpListenOptions } from "./runtime.ts";
import type { Incoming, Listener, NetAddr, TcpConn } from "./types.ts";

interface BunSocket {
  data: BunTcpConn | undefined;
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
}

interface BunSocketHandlers {
  open?(socket: BunSocket): void;
  data(socket: BunSocket, chunk: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: unknown): void;
  error(socket: BunSocket, error: unknown): void;
  connectError?(socket: BunSocket, error: unknown): void;
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
  }): BunTcpServer;
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandlers;
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
  const verb = options.op === "dial" ? `dial "${target}" over tcp` : `${options.op} on "${target}"`;
  return new NetError(code, `Cannot ${verb}: ${detail}`, { ...options, cause: error });
}

const IGNORE_SINK: PushSink = { data() {}, drain() {}, end() {}, close() {} };

/**
 * A Bun TCP conn. It is its own {@linkcode PushIO} (prototype methods, no per-conn closures) and
 * creates streams, addresses and the `closed` promise only when asked.
 */
class BunTcpConn implements TcpConn, PushIO {
  readonly kind = "push" as const;
  /** A plain kernel TCP socket: the splice path may take it (a prototype getter: no per-conn field). */
  get [PLAIN_TCP](): true {
    return true;
  }
  #socket: BunSocket;
  sink: PushSink = IGNORE_SINK;
  isClosed = false;
  #writeClosed = false;
  #closed?: PromiseWithResolvers<void>;
  #localAddr?: NetAddr;
  #remoteAddr?: NetAddr;
  #streams?: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };

  constructor(socket: BunSocket) {
    this.#socket = socket;
    socket.data = this;
    socket.pause();
    // Read the peer's address now: Bun forgets it once the socket closes, and errors are
    // reported after that.
    this.#remoteAddr = netAddr(socket.remoteAddress, socket.remotePort);
  }

  get [NATIVE_IO](): PushIO {
    return this;
  }

  get [SOCKET_FD](): number {
    return this.#socket.fd;
  }

  get localAddr(): NetAddr {
    return this.#localAddr ??= netAddr(this.#socket.localAddress, this.#socket.localPort);
  }

  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= netAddr(this.#socket.remoteAddress, this.#socket.remotePort);
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
    this.#socket.pause();
  }

  resume(): void {
    if (!this.isClosed) this.#socket.resume();
  }

  write(data: Uint8Array): number {
    return this.isClosed ? -1 : this.#socket.write(data);
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
      protocol: "tcp",
      remoteAddr: this.remoteAddr,
    });
  }

  mapError(error: unknown): NetError {
    return mapError(error, { op: "read", protocol: "tcp", remoteAddr: this.remoteAddr }, formatAddr(this.remoteAddr));
  }

  closeWrite(): Promise<void> {
    if (this.#writeClosed || this.isClosed) return Promise.resolve();
    this.#writeClosed = true;
    this.#socket.shutdown(); // `end()` would close a dialed socket entirely (Bun ignores allowHalfOpen there)
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
    this.#socket.close();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.isClosed) this.#socket.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.isClosed) this.#socket.setKeepAlive(enabled);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Handlers shared by every socket; per-socket state lives in `socket.data`. */
function sharedHandlers(onOpen?: (conn: BunTcpConn) => void): BunSocketHandlers {
  return {
    open(socket) {
      const conn = new BunTcpConn(socket); // pauses the socket before any data is delivered
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
  };
}

function applySocketOptions(conn: TcpConn, options: { noDelay?: boolean; keepAlive?: boolean }): void {
  if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
  if (options.keepAlive !== undefined) conn.setKeepAlive(options.keepAlive);
}

/** Accepted sockets waiting for the iterator; beyond this many, new ones are refused. */
const MAX_PENDING_ACCEPTS = 4096;

class BunTcpListener implements Listener<TcpConn> {
  readonly addr: NetAddr;
  #server!: BunTcpServer;
  #pending: BunTcpConn[] = [];
  #waiter?: PromiseWithResolvers<void>;
  #isClosed = false;

  constructor(options: TcpListenOptions) {
    const hostname = options.hostname || "0.0.0.0";
    const handlers = sharedHandlers((conn) => {
      if (this.#isClosed || this.#pending.length >= MAX_PENDING_ACCEPTS) {
        conn.close();
        return;
      }
      applySocketOptions(conn, options);
      this.#pending.push(conn);
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.resolve();
    });
    try {
      this.#server = bun().listen({ hostname, port: options.port, allowHalfOpen: true, socket: handlers });
    } catch (error) {
      const localAddr = netAddr(hostname, options.port);
      throw mapError(error, { op: "listen", protocol: "tcp", localAddr }, formatAddr(localAddr));
    }
    this.addr = netAddr(this.#server.hostname, this.#server.port);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<TcpConn>> {
    while (true) {
      const conn = this.#pending.shift();
      if (conn) {
        if (conn.isClosed) continue;
        yield new ReadyIncoming<TcpConn>(conn);
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

const CLIENT_HANDLERS = sharedHandlers();

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
        }).then((socket) => socket.data ?? new BunTcpConn(socket));
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
        return Promise.resolve(new BunTcpListener(options));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    onSignal(signal: ShutdownSignal, handler: () => void): Disposable {
      process.on(signal, handler);
      return { [Symbol.dispose]: () => void process.off(signal, handler) };
    },
    args: () => process.argv.slice(2),
    exit: (code) => process.exit(code),
  };
}
