/**
 * {@linkcode Http2Proxy}: an HTTP reverse proxy on `node:http2`. It serves HTTP/2 and HTTP/1.1 over
 * TLS (ALPN), or h2c with prior knowledge, and forwards to one target over HTTP/1.1 or h2c. It
 * streams bodies with backpressure and passes trailers on (gRPC works). It also bridges WebSocket
 * upgrades and extended CONNECT, and opens CONNECT tunnels to allow-listed targets.
 * @module
 */
import type { IncomingMessage } from "node:http";
import type http2 from "node:http2";
import type net from "node:net";
import type { Duplex } from "node:stream";
import { ANY_HOST, ANY_HOST_V4, formatAddr, netAddr } from "../address.ts";
import { NET_ERROR_TEXT, NetError, ServerClosedError } from "../errors.ts";
import type { NetAddr } from "../types.ts";
import { ClientConnections } from "./_connections.ts";
import type { ProxyContext, ProxyCounters } from "./_context.ts";
import { netErrorCode } from "./_errors.ts";
import { type AnyRequest, type AnyResponse, proxyRequest } from "./_exchange.ts";
import { type ResolvedHttp2ProxyOptions, resolveHttp2ProxyOptions } from "./_resolve.ts";
import { createProxyServer, setServerCertificate } from "./_server.ts";
import { proxyH1Connect, proxyH2Connect } from "./_tunnel.ts";
import { proxyExtendedConnect, proxyH1Upgrade } from "./_upgrade.ts";
import { Http1Upstream, type Upstream } from "./_upstream.ts";
import { H2cUpstream } from "./_upstream_h2c.ts";
import type { Http2ProxyOptions } from "./options.ts";

/** A snapshot of {@linkcode Http2Proxy} activity. */
export interface Http2ProxyStats {
  /** Requests received: proxied requests, CONNECT tunnels and upgrades. */
  readonly requests: number;
  /** Requests, tunnels and upgrades in progress. */
  readonly activeStreams: number;
  /** CONNECT tunnels opened. */
  readonly tunnels: number;
  /** Upgrades (HTTP/1.1 `Upgrade` or extended CONNECT) the target accepted. */
  readonly upgrades: number;
  /** Body and tunnel bytes received from clients. */
  readonly bytesIn: number;
  /** Body and tunnel bytes sent to clients. */
  readonly bytesOut: number;
  /** Exchanges that failed on the upstream side (the client got 502, 504 or a reset). */
  readonly upstreamErrors: number;
  /** CONNECT requests refused by the allow-list (403). */
  readonly rejected: number;
  /** Open client connections. */
  readonly connections: number;
}

/** Options for {@linkcode Http2Proxy.close}. */
export interface Http2ProxyCloseOptions {
  /** How long in-flight streams may finish before they are destroyed. @default {the `closeTimeoutMs` option} */
  timeoutMs?: number;
  /** Aborting destroys whatever is still open right away. */
  signal?: AbortSignal;
}

/**
 * A reverse proxy speaking HTTP/2 (and HTTP/1.1) to clients and HTTP/1.1 or h2c to one target.
 *
 * @example Serve h2 + HTTP/1.1 on :8443 in front of a local app, advertising h3 on the same port
 * ```ts ignore
 * import { Http2Proxy } from "@ts-tunnel/tunnel/protocols/http2";
 * await using proxy = new Http2Proxy({ port: 8443, target: "127.0.0.1:8080", cert, key, altSvc: 8443 });
 * await proxy.listen();
 * console.log(proxy.addr.port, proxy.stats().requests);
 * ```
 */
export class Http2Proxy implements AsyncDisposable {
  readonly #options: ResolvedHttp2ProxyOptions;
  readonly #server: http2.Http2Server | http2.Http2SecureServer;
  readonly #upstream: Upstream;
  readonly #counters: ProxyCounters = {
    requests: 0,
    activeStreams: 0,
    tunnels: 0,
    upgrades: 0,
    bytesIn: 0,
    bytesOut: 0,
    upstreamErrors: 0,
    rejected: 0,
  };
  readonly #clients: ClientConnections;
  #state: "new" | "listening" | "closing" | "closed" = "new";
  #addr: NetAddr | undefined;
  #closed: Promise<void> | undefined;

  /**
   * Creates the proxy; nothing is bound until {@linkcode Http2Proxy.listen}.
   *
   * @param options Target, certificate and limits.
   * @throws {TypeError} For a missing target, certificate or key, a certificate or key that does not
   * parse, or a key that does not match the certificate.
   * @throws {RangeError} For a number out of range.
   */
  constructor(options: Http2ProxyOptions) {
    const o = this.#options = resolveHttp2ProxyOptions(options);
    this.#server = createProxyServer(o);
    const upstreamSettings = {
      target: o.target,
      connectTimeoutMs: o.connectTimeoutMs,
      maxSockets: o.maxUpstreamSockets,
      streamWindowBytes: o.streamWindowBytes,
      sessionWindowBytes: o.sessionWindowBytes,
    };
    this.#upstream = o.upstream === "h2c" ? new H2cUpstream(upstreamSettings) : new Http1Upstream(upstreamSettings);
    this.#clients = new ClientConnections(() => this.#counters.activeStreams, o.sessionWindowBytes);
    this.#wire(this.#context());
  }

  #context(): ProxyContext {
    const isClosing = () => this.#state === "closing" || this.#state === "closed";
    return {
      options: this.#options,
      counters: this.#counters,
      upstream: this.#upstream,
      scheme: this.#options.h2c ? "http" : "https",
      get closing() {
        return isClosing();
      },
      begin: (peer) => {
        this.#counters.activeStreams++;
        const onRequest = this.#options.onRequest;
        if (onRequest) {
          try {
            onRequest(netAddr(peer?.remoteAddress ?? "", peer?.remotePort ?? 0));
          } catch { /* an observer must not break the proxy */ }
        }
        let ended = false;
        return () => {
          if (ended) return;
          ended = true;
          this.#counters.activeStreams--;
          this.#clients.changed();
        };
      },
      track: (resource) => this.#clients.track(resource),
      fail: (error) => {
        this.#counters.upstreamErrors++;
        try {
          this.#options.onError?.(error);
        } catch { /* an observer must not break the proxy */ }
      },
    };
  }

  #wire(ctx: ProxyContext): void {
    const server = this.#server;
    const clients = this.#clients;
    server.on("request", (req: AnyRequest, res: AnyResponse) => {
      if (req.httpVersionMajor === 1) clients.http1Request(req.socket, res);
      proxyRequest(ctx, req, res);
    });
    server.on("connect", (req: AnyRequest, second: unknown, head: Uint8Array) => {
      if (req.httpVersionMajor !== 2) {
        clients.detach(req.socket);
        return proxyH1Connect(ctx, req as IncomingMessage, second as Duplex, head);
      }
      const h2req = req as http2.Http2ServerRequest;
      if (h2req.headers[":protocol"] !== undefined) proxyExtendedConnect(ctx, h2req);
      else proxyH2Connect(ctx, h2req);
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
      clients.detach(socket);
      proxyH1Upgrade(ctx, req, socket, head);
    });
    server.on("session", (session: http2.ServerHttp2Session) => clients.addSession(session));
    server.on("connection", (socket: net.Socket) => clients.addConn(socket));
    server.on("secureConnection", (socket: net.Socket & { alpnProtocol?: string | false }) => {
      if (socket.alpnProtocol !== "h2") clients.addHttp1(socket);
    });
    for (const event of ["sessionError", "clientError", "tlsClientError", "unknownProtocol"]) {
      server.on(event, () => {});
    }
  }

  /**
   * The bound address.
   * @throws {Error} Before {@linkcode Http2Proxy.listen} resolved.
   */
  get addr(): NetAddr {
    if (!this.#addr) throw new Error("Cannot read the address: the proxy is not listening; call listen() first");
    return this.#addr;
  }

  /**
   * Binds the listener and starts serving.
   *
   * @param options `signal` cancels a pending bind.
   * @returns The bound address (with the real port when 0 was asked for).
   * @throws {NetError} EADDRINUSE, EACCES or EADDRNOTAVAIL.
   * @throws {ServerClosedError} After {@linkcode Http2Proxy.close}.
   * @throws {Error} If already listening.
   */
  async listen(options: { signal?: AbortSignal } = {}): Promise<NetAddr> {
    if (this.#state === "closing" || this.#state === "closed") {
      throw new ServerClosedError("Cannot listen: the proxy is closed");
    }
    if (this.#state === "listening") {
      throw new Error(`Cannot listen: the proxy is already listening on "${formatAddr(this.#addr!)}"`);
    }
    options.signal?.throwIfAborted();
    const { hostname, port } = this.#options;
    try {
      await this.#bind(hostname ?? ANY_HOST, port, options.signal);
    } catch (error) {
      // No host given (Go's ":8443") on a machine without IPv6: every IPv4 interface.
      const code = netErrorCode(error);
      if (hostname !== undefined || (code !== "EADDRNOTAVAIL" && code !== "EUNKNOWN")) throw this.#listenError(error);
      await this.#bind(ANY_HOST_V4, port, options.signal).catch((e) => {
        throw this.#listenError(e);
      });
    }
    this.#server.on("error", () => {});
    const address = this.#server.address() as net.AddressInfo;
    this.#addr = netAddr(address.address, address.port);
    this.#state = "listening";
    return this.#addr;
  }

  #bind(host: string, port: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: unknown) => {
        this.#server.off("error", done);
        this.#server.off("listening", onListening);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      const onListening = () => done();
      const onAbort = () => {
        this.#server.close();
        done(signal!.reason);
      };
      this.#server.once("error", done);
      this.#server.once("listening", onListening);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#server.listen(port, host);
    });
  }

  #listenError(error: unknown): unknown {
    if (error instanceof NetError || (error instanceof Error && error.name === "AbortError")) return error;
    const code = netErrorCode(error);
    const where = formatAddr({ hostname: this.#options.hostname ?? ANY_HOST, port: this.#options.port });
    return new NetError(code, `Cannot listen on "${where}" over http2: ${NET_ERROR_TEXT[code]}`, {
      op: "listen",
      protocol: "http2",
      cause: error,
    });
  }

  /**
   * Replaces the certificate for future TLS handshakes; open connections keep theirs. The TLS module
   * calls this when it reloads files or renews through ACME.
   *
   * @param cert Certificate chain, PEM.
   * @param key Its private key, PEM.
   * @throws {TypeError} In h2c mode, when the certificate or key does not parse, or when they do not match.
   */
  setCertificate(cert: string | Uint8Array, key: string | Uint8Array): void {
    if (this.#options.h2c) throw new TypeError("Cannot set a certificate: the proxy serves h2c (cleartext HTTP/2)");
    setServerCertificate(this.#server as http2.Http2SecureServer, this.#options, cert, key);
  }

  /**
   * Counters since the proxy was created.
   *
   * @returns A snapshot.
   */
  stats(): Http2ProxyStats {
    return { ...this.#counters, connections: this.#clients.size };
  }

  /**
   * Closes gracefully: stops accepting, sends GOAWAY on every HTTP/2 session, closes idle HTTP/1.1
   * connections, lets in-flight streams finish until the deadline, then destroys what is left and
   * the upstream connections. Idempotent: later calls return the first call's promise.
   *
   * @param options The deadline and an abort signal that forces the close at once.
   * @returns Resolves when everything is closed.
   */
  close(options: Http2ProxyCloseOptions = {}): Promise<void> {
    this.#closed ??= this.#shutdown(options.timeoutMs ?? this.#options.closeTimeoutMs, options.signal);
    return this.#closed;
  }

  async #shutdown(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const wasListening = this.#state === "listening";
    this.#state = "closing";
    const serverClosed = wasListening ? new Promise<void>((resolve) => this.#server.close(() => resolve())) : undefined;
    await this.#clients.drain(timeoutMs, signal);
    this.#clients.destroyAll();
    this.#upstream.close(true);
    if (serverClosed) {
      // Some runtimes call back only once every socket is gone; do not hang on that.
      let bound: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([serverClosed, new Promise<void>((resolve) => bound = setTimeout(resolve, 1_000))]);
      clearTimeout(bound);
    }
    this.#state = "closed";
  }

  /** Same as {@linkcode Http2Proxy.close} with the default deadline. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
