/**
 * Internal: the Deno runtime adapter. One of the few files allowed to use `Deno.*`.
 * @module
 */
import { closeIfLate, isCancellation, isTimeoutReason } from "./_abort.ts";
import { NATIVE_IO, PLAIN_TCP, type PullIO } from "./_native_io.ts";
import { ReadyIncoming } from "./_ready_incoming.ts";
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
  const verb = options.op === "dial" ? `dial "${target}" over tcp` : `${options.op} on "${target}"`;
  return new NetError(code, `Cannot ${verb}: ${detail}`, { ...options, cause: error });
}

function toNetAddr(addr: Deno.Addr): NetAddr {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? netAddr(addr.hostname, addr.port, addr.transport)
    : netAddr("", 0);
}

/**
 * A Deno TCP conn. It is its own {@linkcode PullIO} (prototype methods, no per-conn closures) and
 * creates streams, addresses and the `closed` promise only when asked: thousands of idle
 * connections each carry as little as possible.
 */
class DenoTcpConn implements TcpConn, PullIO {
  readonly kind = "pull" as const;
  /** A plain kernel TCP socket: the splice path may take it (a prototype getter: no per-conn field). */
  get [PLAIN_TCP](): true {
    return true;
  }
  #conn: Deno.TcpConn;
  #isClosed = false;
  #writeClosed = false;
  #closed?: PromiseWithResolvers<void>;
  #localAddr?: NetAddr;
  #remoteAddr?: NetAddr;
  #readable?: ReadableStream<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  get [NATIVE_IO](): PullIO {
    return this;
  }

  get localAddr(): NetAddr {
    return this.#localAddr ??= toNetAddr(this.#conn.localAddr);
  }

  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= toNetAddr(this.#conn.remoteAddr);
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
    return mapError(error, { op, protocol: "tcp", remoteAddr }, formatAddr(remoteAddr));
  }

  // read/write return the runtime's promise with one error mapper attached (no async frame per
  // pending call: every idle connection has two reads pending).
  read(buffer: Uint8Array): Promise<number | null> {
    return this.#conn.read(buffer).catch(this.#onReadError);
  }

  write(data: Uint8Array): Promise<number> {
    return this.#conn.write(data).catch(this.#onWriteError);
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
    return this.#conn.closeWrite().catch(() => {});
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the runtime */ }
    this.#closed?.resolve();
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
      yield new ReadyIncoming<TcpConn>(conn);
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
