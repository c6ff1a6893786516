/**
 * Internal: the Deno runtime adapter. One of the few files allowed to use `Deno.*`.
 * @module
 */
import { closeIfLate, isCancellation, isTimeoutReason } from "./_abort.ts";
import { NATIVE_IO, type PullIO } from "./_native_io.ts";
import { pullReadable, pullWritable } from "./_streams.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode, type NetErrorOptions } from "./errors.ts";
import type { Runtime, ShutdownSignal, TcpConnectOptions, TcpListenOptions } from "./runtime.ts";
import type { Incoming, Listener, NetAddr, TcpConn } from "./types.ts";

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
  return "EUNKNOWN";
}

/** Maps a Deno error to a NetError, once, at the adapter boundary. */
function mapError(error: unknown, options: NetErrorOptions, target: string): NetError {
  if (error instanceof NetError) return error;
  const code = codeOf(error);
  const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
  const verb = options.op === "dial" ? `dial "${target}" over tcp` : `${options.op} on "${target}"`;
  return new NetError(code, `Cannot ${verb}: ${detail}`, { ...options, cause: error });
}

function toNetAddr(addr: Deno.Addr): NetAddr {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? netAddr(addr.hostname, addr.port, addr.transport)
    : netAddr("", 0);
}

class DenoTcpConn implements TcpConn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly closed: Promise<void>;
  readonly [NATIVE_IO]: PullIO;
  #conn: Deno.TcpConn;
  #isClosed = false;
  #writeClosed = false;
  #resolveClosed: () => void;
  #readable?: ReadableStream<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
    this.localAddr = toNetAddr(conn.localAddr);
    this.remoteAddr = toNetAddr(conn.remoteAddr);
    const { promise, resolve } = Promise.withResolvers<void>();
    this.closed = promise;
    this.#resolveClosed = resolve;
    const fail = (error: unknown, op: "read" | "write") =>
      this.#isClosed && op === "read"
        ? null
        : mapError(error, { op, protocol: "tcp", remoteAddr: this.remoteAddr }, formatAddr(this.remoteAddr));
    this[NATIVE_IO] = {
      kind: "pull",
      read: async (buffer) => {
        try {
          return await conn.read(buffer);
        } catch (error) {
          const mapped = fail(error, "read");
          if (mapped === null) return null;
          throw mapped;
        }
      },
      write: async (data) => {
        try {
          return await conn.write(data);
        } catch (error) {
          throw fail(error, "write");
        }
      },
      closeWrite: () => this.closeWrite(),
    };
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= pullReadable(this[NATIVE_IO], () => this.close());
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= pullWritable(this[NATIVE_IO]);
  }

  closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#isClosed) return Promise.resolve();
    this.#writeClosed = true;
    return this.#conn.closeWrite().catch(() => {});
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the runtime */ }
    this.#resolveClosed();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#isClosed) this.#conn.setNoDelay(enabled);
  }

  setKeepAlive(enabled: boolean): void {
    if (!this.#isClosed) this.#conn.setKeepAlive(enabled);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function applySocketOptions(conn: TcpConn, options: { noDelay?: boolean; keepAlive?: boolean }): void {
  if (options.noDelay !== undefined) conn.setNoDelay(options.noDelay);
  if (options.keepAlive !== undefined) conn.setKeepAlive(options.keepAlive);
}

class DenoTcpListener implements Listener<TcpConn> {
  readonly addr: NetAddr;
  #listener: Deno.TcpListener;
  #options: TcpListenOptions;
  #isClosed = false;

  constructor(listener: Deno.TcpListener, options: TcpListenOptions) {
    this.#listener = listener;
    this.#options = options;
    this.addr = toNetAddr(listener.addr);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<TcpConn>> {
    while (!this.#isClosed) {
      let raw: Deno.TcpConn;
      try {
        raw = await this.#listener.accept();
      } catch (error) {
        if (this.#isClosed) return;
        const mapped = mapError(error, { op: "accept", protocol: "tcp", localAddr: this.addr }, formatAddr(this.addr));
        if (mapped.code === "ECLOSED") return;
        throw mapped;
      }
      const conn = new DenoTcpConn(raw);
      applySocketOptions(conn, this.#options);
      yield {
        remoteAddr: conn.remoteAddr,
        handshake: () => Promise.resolve(conn),
        reject: () => conn.close(),
      };
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
          options.signal,
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
        const raw = Deno.listen({ hostname, port: options.port, transport: "tcp" });
        return Promise.resolve(new DenoTcpListener(raw, options));
      } catch (error) {
        const localAddr = netAddr(hostname, options.port);
        return Promise.reject(
          mapError(error, { op: "listen", protocol: "tcp", localAddr }, formatAddr({ hostname, port: options.port })),
        );
      }
    },
    onSignal(signal, handler) {
      if (!SIGNALS.includes(signal)) throw new TypeError(`Cannot listen for signal "${signal}"`);
      Deno.addSignalListener(signal, handler);
      return { [Symbol.dispose]: () => Deno.removeSignalListener(signal, handler) };
    },
    args: () => [...Deno.args],
    exit: (code) => Deno.exit(code),
  };
}
