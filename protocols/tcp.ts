/**
 * The `tcp` protocol: plain TCP listen and dial through the runtime adapter.
 * @module
 */
import { ANY_HOST, ANY_HOST_V4, formatAddr, netAddr } from "./address.ts";
import { NetError } from "./errors.ts";
import { defaultRuntime, type Runtime } from "./runtime.ts";
import type { DialAddr, DialOptions, ListenAddr, Listener, ListenOptions, Protocol, TcpConn } from "./types.ts";

/** Options for {@linkcode TcpProtocol.listen}. */
export interface TcpListenerOptions extends ListenOptions {
  /**
   * `SO_REUSEPORT`: several listeners (worker threads, processes) share the port and the kernel
   * spreads connections over them. Deno honours it only under `--unstable-net`. @default {false}
   */
  reusePort?: boolean;
}

/** Default `TCP_NODELAY` for conns made by {@linkcode TcpProtocol}. */
export const DEFAULT_NO_DELAY = true;

/** Options for {@linkcode TcpProtocol}. */
export interface TcpProtocolOptions {
  /** The runtime adapter to use. @default {the adapter for the running runtime} */
  runtime?: Runtime;
}

/**
 * Plain TCP. Listeners accept IPv4, IPv6 (`"::"`, `"::1"`) and host names; dials resolve names.
 *
 * @example Dial a TCP server
 * ```ts ignore
 * import { TcpProtocol } from "@ts-tunnel/tunnel/protocols";
 * await using conn = await new TcpProtocol().dial({ hostname: "127.0.0.1", port: 80 }, { timeoutMs: 5_000 });
 * ```
 */
export class TcpProtocol implements Protocol {
  /** Always `"tcp"`. */
  readonly name = "tcp" as const;
  #runtime: Promise<Runtime>;

  /**
   * Creates the protocol.
   *
   * @param options The runtime to use.
   */
  constructor(options: TcpProtocolOptions = {}) {
    this.#runtime = options.runtime ? Promise.resolve(options.runtime) : defaultRuntime();
  }

  /**
   * Binds a TCP listener.
   * @throws {NetError} EADDRINUSE, EACCES or EADDRNOTAVAIL.
   */
  async listen(addr: ListenAddr, options: TcpListenerOptions = {}): Promise<Listener<TcpConn>> {
    const runtime = await this.#runtime;
    options.signal?.throwIfAborted();
    const listen = (hostname: string) =>
      runtime.listenTcp({
        hostname,
        port: addr.port,
        noDelay: options.noDelay ?? DEFAULT_NO_DELAY,
        keepAlive: options.keepAlive,
        ...(options.reusePort ? { reusePort: true } : {}),
      });
    if (addr.hostname) return await listen(addr.hostname);
    // No host (Go's ":8080"): every interface, dual-stack; IPv4 only where the machine has no IPv6.
    try {
      return await listen(ANY_HOST);
    } catch (error) {
      if (error instanceof NetError && (error.code === "EADDRNOTAVAIL" || error.code === "EUNKNOWN")) {
        return await listen(ANY_HOST_V4);
      }
      throw error;
    }
  }

  /**
   * Opens a TCP connection.
   * @throws {NetError} ECONNREFUSED, ENOTFOUND, or ETIMEDOUT when `timeoutMs` passes first.
   */
  async dial(addr: DialAddr, options: DialOptions = {}): Promise<TcpConn> {
    const runtime = await this.#runtime;
    const { timeoutMs, signal } = options;
    try {
      return await runtime.connectTcp({
        hostname: addr.hostname,
        port: addr.port,
        signal,
        timeoutMs,
        noDelay: options.noDelay ?? DEFAULT_NO_DELAY,
        keepAlive: options.keepAlive,
      });
    } catch (error) {
      if (error instanceof NetError && error.code === "ETIMEDOUT" && timeoutMs) {
        throw new NetError("ETIMEDOUT", `Cannot dial "${formatAddr(addr)}" over tcp: timed out after ${timeoutMs} ms`, {
          op: "dial",
          protocol: "tcp",
          remoteAddr: netAddr(addr.hostname, addr.port),
          cause: error,
        });
      }
      throw error;
    }
  }
}
