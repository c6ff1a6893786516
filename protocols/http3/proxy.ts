/**
 * {@linkcode Http3Proxy}: an HTTP/3 reverse proxy to one HTTP/1.1 or h2c target, with the same
 * public API on Deno (our HTTP/3 framing and QPACK over Deno QUIC) and Bun (`Bun.serve` with
 * `http3: true`).
 * @module
 */
import { type NetError, ServerClosedError, UnsupportedProtocolError } from "../errors.ts";
import { formatAddr } from "../address.ts";
import { H2cUpstream } from "../http2/_upstream_h2c.ts";
import { Http1Upstream, type Upstream } from "../http2/_upstream.ts";
import { defaultRuntime, type Http3ServerHandle, type Runtime } from "../runtime.ts";
import type { NetAddr } from "../types.ts";
import type { Http3Context, Http3Counters } from "./_context.ts";
import { proxyFetch } from "./_fetch_bridge.ts";
import { type ResolvedHttp3ProxyOptions, resolveHttp3ProxyOptions } from "./_resolve.ts";
import { drainDeadline, QuicHttp3Server } from "./_server.ts";
import type { Http3ProxyOptions } from "./options.ts";

/** Counters of an {@linkcode Http3Proxy}. */
export interface Http3ProxyStats {
  /** Client connections accepted (QUIC; 0 on Bun, whose server does not report them). */
  readonly connections: number;
  /** Client connections open now (QUIC; 0 on Bun). */
  readonly activeConnections: number;
  /** Requests received. */
  readonly requests: number;
  /** Requests in progress. */
  readonly activeRequests: number;
  /** Request body bytes received from clients. */
  readonly bytesIn: number;
  /** Response body bytes sent to clients. */
  readonly bytesOut: number;
  /** Exchanges that failed on the upstream side (the client got 502, 504 or a cut-off response). */
  readonly upstreamErrors: number;
  /** Request streams refused after GOAWAY. */
  readonly rejectedStreams: number;
  /** Connections closed for an HTTP/3 protocol violation (a bad control stream, QPACK, frames). */
  readonly connectionErrors: number;
}

/** Options for {@linkcode Http3Proxy.close}. */
export interface Http3ProxyCloseOptions {
  /** How long in-flight requests may finish after GOAWAY. @default {the `closeTimeoutMs` option} */
  timeoutMs?: number;
  /** Aborting it ends the wait at once: the connections still open are closed. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * A reverse proxy speaking HTTP/3 to clients and HTTP/1.1 or h2c to one target. Bodies stream both
 * ways with backpressure; hop-by-hop fields go and `X-Forwarded-For/-Proto/-Host` and `Forwarded`
 * come, as in `Http2Proxy`; an unreachable or slow target gives 502 or 504 with a short text body.
 *
 * On Deno it runs its own HTTP/3 over Deno QUIC (needs `--unstable-net`): SETTINGS with a QPACK
 * dynamic table capacity of 0, the client's control and QPACK streams checked (a violation closes
 * that connection only), request and response trailers passed, GOAWAY on close. Deno cannot reset a
 * stream with an error code, so a malformed request gets a 400 response and a response cut off by
 * the upstream ends with FIN. On Bun it serves through `Bun.serve({ http3: true })`, whose
 * `Request`/`Response` carry no trailers (dropped both ways) and whose GOAWAY is Bun's own.
 *
 * @example Put HTTP/3 in front of an HTTP/1.1 app
 * ```ts ignore
 * import { readFile } from "node:fs/promises";
 * import { Http3Proxy } from "@ts-tunnel/tunnel/protocols/http3";
 * const cert = await readFile("fullchain.pem", "utf8");
 * const key = await readFile("key.pem", "utf8");
 * await using proxy = new Http3Proxy({ port: 8443, target: "127.0.0.1:8080", cert, key });
 * const addr = await proxy.listen();
 * console.log(`h3 on udp ${addr.port}`);
 * ```
 */
export class Http3Proxy implements AsyncDisposable {
  readonly #options: ResolvedHttp3ProxyOptions;
  readonly #upstream: Upstream;
  readonly #counters: Http3Counters = {
    connections: 0,
    activeConnections: 0,
    requests: 0,
    activeRequests: 0,
    bytesIn: 0,
    bytesOut: 0,
    upstreamErrors: 0,
    rejectedStreams: 0,
    connectionErrors: 0,
  };
  #state: "new" | "listening" | "closing" | "closed" = "new";
  #server: QuicHttp3Server | Http3ServerHandle | undefined;
  #addr: NetAddr | undefined;
  #closed: Promise<void> | undefined;

  /**
   * Creates the proxy; nothing is bound until {@linkcode Http3Proxy.listen}.
   *
   * @param options The target, certificate and limits.
   * @throws {TypeError} For a missing target, certificate or key, or an unknown `upstream`.
   * @throws {RangeError} For a number out of range.
   */
  constructor(options: Http3ProxyOptions) {
    const o = this.#options = resolveHttp3ProxyOptions(options);
    const settings = {
      target: o.target,
      connectTimeoutMs: o.connectTimeoutMs,
      maxSockets: o.maxUpstreamSockets,
      streamWindowBytes: 1024 * 1024,
      sessionWindowBytes: undefined,
    };
    this.#upstream = o.upstream === "h2c" ? new H2cUpstream(settings) : new Http1Upstream(settings);
  }

  #context(): Http3Context {
    const isClosing = () => this.#state === "closing" || this.#state === "closed";
    return {
      options: this.#options,
      counters: this.#counters,
      upstream: this.#upstream,
      get closing() {
        return isClosing();
      },
      fail: (error: NetError) => {
        try {
          this.#options.onError?.(error);
        } catch { /* an observer must not break the proxy */ }
      },
    };
  }

  /**
   * The bound UDP address.
   * @throws {Error} Before {@linkcode Http3Proxy.listen}.
   */
  get addr(): NetAddr {
    if (!this.#addr) throw new Error("Cannot read the address: the proxy is not listening; call listen() first");
    return this.#addr;
  }

  /**
   * Binds the UDP port and starts serving HTTP/3.
   *
   * @returns The bound address (with the real port when 0 was asked for).
   * @throws {NetError} EADDRINUSE, EACCES or EADDRNOTAVAIL.
   * @throws {UnsupportedProtocolError} When the runtime has neither an HTTP/3 server nor QUIC
   * (Deno without `--unstable-net`).
   * @throws {ServerClosedError} After {@linkcode Http3Proxy.close}.
   * @throws {Error} If already listening.
   */
  async listen(): Promise<NetAddr> {
    if (this.#state === "closing" || this.#state === "closed") {
      throw new ServerClosedError("Cannot listen: the proxy is closed");
    }
    if (this.#state === "listening" || this.#server) {
      throw new Error(`Cannot listen: the proxy is already listening on "${formatAddr(this.#addr!)}"`);
    }
    const runtime: Runtime = this.#options.runtime ?? await defaultRuntime();
    const ctx = this.#context();
    const { hostname, port, cert, key, maxIdleTimeoutMs } = this.#options;
    if (runtime.serveHttp3) {
      const server = await runtime.serveHttp3({
        hostname,
        port,
        cert,
        key,
        idleTimeoutMs: maxIdleTimeoutMs,
        fetch: (request, info) => proxyFetch(ctx, request, info.remoteAddr),
      });
      this.#server = server;
      this.#addr = server.addr;
    } else if (runtime.listenQuic) {
      const server = await QuicHttp3Server.listen(ctx, runtime);
      this.#server = server;
      this.#addr = server.addr;
    } else {
      throw new UnsupportedProtocolError(
        "http3",
        `the "${runtime.name}" runtime adapter has neither an HTTP/3 server nor QUIC`,
      );
    }
    this.#state = "listening";
    return this.#addr;
  }

  /**
   * Counters since the proxy was created.
   *
   * @returns A snapshot.
   */
  stats(): Http3ProxyStats {
    return { ...this.#counters };
  }

  /**
   * Closes gracefully: stops accepting, sends GOAWAY on every connection, lets in-flight requests
   * finish until the deadline, then closes every connection (H3_NO_ERROR), the endpoint and the
   * upstream connections. Idempotent: later calls return the first call's promise.
   *
   * @param options The deadline for in-flight requests.
   * @returns Resolves when everything is closed.
   */
  close(options: Http3ProxyCloseOptions = {}): Promise<void> {
    this.#closed ??= this.#shutdown(options.timeoutMs ?? this.#options.closeTimeoutMs, options.signal);
    return this.#closed;
  }

  async #shutdown(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#state = "closing";
    const server = this.#server;
    if (server instanceof QuicHttp3Server) {
      await server.close(timeoutMs, signal);
    } else if (server) {
      const graceful = server.stop(false).catch(() => {});
      await drainDeadline(graceful, timeoutMs, signal);
      await server.stop(true).catch(() => {});
    }
    this.#upstream.close(true);
    this.#state = "closed";
  }

  /** Same as {@linkcode Http3Proxy.close} with the default deadline. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
