/**
 * {@linkcode Tunnel}: a listener that forwards every accepted connection to a target, as
 * go-tunnel's `Tunnel` promises (and, unlike it, with half-close, byte counts, limits, idle
 * timeouts and a draining `stop()`).
 * @module
 */
import { formatAddr, parseDialAddr, parseListenAddr } from "../protocols/address.ts";
import { NetError, ServerClosedError, UnsupportedProtocolError } from "../protocols/errors.ts";
import { createProtocol } from "../protocols/registry.ts";
import type { Runtime } from "../protocols/runtime.ts";
import { TcpProtocol } from "../protocols/tcp.ts";
import { type TlsCertificateSource, TlsProtocol } from "../protocols/tls.ts";
import type { Conn, Incoming, Listener, NetAddr, Protocol } from "../protocols/types.ts";
import type { TcpListenerOptions } from "../protocols/tcp.ts";
import type { CircuitBreaker } from "../ha/circuit_breaker.ts";
import { MemoryLimiter, type Permit } from "../ha/limiter.ts";
import type { ConnPool } from "../ha/conn_pool.ts";
import { Admission, type RejectReason } from "./admission.ts";
import { Upstream } from "./upstream.ts";
import {
  type ResolvedTunnelConfig,
  resolveTunnelConfig,
  tlsClientOptions,
  tlsServerOptions,
  type TunnelConfig,
} from "./config.ts";
import { DEFAULT_FAST_PATHS, forward } from "./engine.ts";
import type { HttpCounters, HttpFrontend } from "./_http_frontend.ts";
import { startHttpFrontend } from "./_http_frontends.ts";
import { socketOptionPlan } from "./_config_socket.ts";
import { quicWithoutTls } from "./_config_listener.ts";
import { type SocketOptionStats, type SocketSide, SocketTuning } from "./_socket_tuning.ts";
import type { FastPath, ForwardCounters, ForwardStats } from "./types.ts";
import type { TunnelWorkers, WorkerStats } from "./workers.ts";
import { type WorkerRole, workerRoleOf } from "./_worker_context.ts";
import type { OwnedPath } from "./_owned_path.ts";
import type { ScrapedTotals } from "../ha/metrics.ts";

/**
 * What `forwardPath: "owned"` adds to {@linkcode TunnelStats}: the owned-socket forwarders' own
 * counters, summed over them.
 */
export interface OwnedPathStats {
  /** Of `active`, connections whose target connect is in progress. */
  readonly connecting: number;
  /** Target connects that failed (refused, unreachable, timed out); counted in `errors`. */
  readonly connectErrors: number;
  /** The errno name of the last failed target connect (`"ECONNREFUSED"`), if any. */
  readonly lastConnectError?: string;
  /** Connections closed by the idle timeout (`connectionTimeoutMs`). */
  readonly idleTimeouts: number;
  /** Failed `accept4` calls; counted in `errors`. */
  readonly acceptErrors: number;
  /** Pipes holding bytes in flight. */
  readonly pipesInUse: number;
  /** Forwarders whose listening socket is open. */
  readonly listening: number;
}

/** A snapshot of a tunnel's counters (go-tunnel's `Stats`). */
export interface TunnelStats {
  /** Connections accepted since start (or the last reset). */
  readonly connections: number;
  /** Connections open now. */
  readonly active: number;
  /** Connections refused by `maxConnections`. */
  readonly rejected: number;
  /** Bytes sent to clients (read from the target). */
  readonly bytesSent: number;
  /** Bytes received from clients (written to the target). */
  readonly bytesReceived: number;
  /** Failed accepts, handshakes, dials and forwards. */
  readonly errors: number;
  /** Times a side was paused because the other had not drained. */
  readonly backpressurePauses: number;
  /** Milliseconds since `start()`. */
  readonly uptimeMs: number;
  /**
   * The path new connections take: `splice` (kernel), `pump` (the runtime's native pump) or
   * `owned` (the owned-socket forwarders, `forwardPath: "owned"`).
   */
  readonly forwardPath: "splice" | "pump" | "owned";
  /**
   * The owned-socket forwarders' own counters, summed (`forwardPath: "owned"` only; the totals
   * above are read from their shared memory too).
   */
  readonly owned?: OwnedPathStats;
  /**
   * Sockets tuned by the socket-option keys (`tcpQuickAck`, `sendBufferSize`, …), and why none
   * are when FFI is unavailable; absent when no such key is set.
   */
  readonly socketOptions?: SocketOptionStats;
  /**
   * Each protocol's share of an HTTP listener (`http2`, `http3`; both when an http2 listener has
   * `http3: true`, and the totals above sum them); absent for byte-forwarding listeners.
   */
  readonly protocols?: Readonly<Record<string, HttpCounters>>;
  /**
   * Each worker thread's share when the tunnel runs several (`workers` > 1; the totals above sum
   * them); absent with one accept loop.
   */
  readonly workers?: readonly WorkerStats[];
  /** Zeroes the cumulative counters (`active` stays). */
  reset(): void;
}

/** What a tunnel reports about one connection that ended. */
export interface ConnectionEnd {
  /** Sequential id within this tunnel. */
  readonly id: number;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** Bytes and path; absent when the connection never reached forwarding. */
  readonly stats?: ForwardStats;
  /** The failure, when there was one. */
  readonly error?: unknown;
  /** Where it failed: `handshake`, `dial` or `forward`. */
  readonly phase?: "handshake" | "dial" | "forward";
}

/** Callbacks for logs and metrics. Each is isolated: a throwing observer cannot break the tunnel. */
export interface TunnelObserver {
  /** The listener is bound. */
  onListen?(addr: NetAddr): void;
  /** A connection was accepted (before the target is dialed). */
  onAccept?(id: number, remoteAddr: NetAddr): void;
  /** A connection was refused by a limit; `detail` says which and why. */
  onReject?(remoteAddr: NetAddr, detail: string, reason: RejectReason): void;
  /** The target is connected; `latencyMs` is the time since accept. */
  onUpstream?(id: number, latencyMs: number): void;
  /** A connection ended (cleanly or not). */
  onConnectionEnd?(end: ConnectionEnd): void;
  /**
   * A socket's options (`tcpQuickAck`, `sendBufferSize`, …) could not be set: the kernel refused
   * one, or the socket was not found. The connection goes on without them.
   */
  onSocketOptionsError?(side: SocketSide, error: Error): void;
  /** Accepting failed (the loop backs off and retries). */
  onAcceptError?(error: unknown): void;
  /**
   * A worker thread (`workers` > 1) ended without being asked to; its connections ended with it.
   * `restarting` says whether another takes its place (each is restarted a bounded number of times).
   */
  onWorkerExit?(worker: number, error: Error, restarting: boolean): void;
  /** The listener is closed and every connection has ended. */
  onStop?(): void;
}

/** Options for {@linkcode Tunnel}. */
export interface TunnelOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** Event callbacks. */
  observer?: TunnelObserver;
  /** The target's circuit breaker, to share one across tunnels (for example from a registry). @default {one per tunnel, from the config} */
  breaker?: CircuitBreaker;
  /** A buffer-memory budget to share across tunnels. @default {one per tunnel when `maxBufferedBytes` > 0, else none} */
  memory?: MemoryLimiter;
  /**
   * Where a `tls` or `http2` listener with `autoTls: true` takes its certificates: an ACME
   * manager's `tlsConfig()` (`AutoManager` from `@ts-tunnel/tunnel/tls`), or any source of this
   * shape. Required with `autoTls`, refused without it. @default {undefined}
   */
  certificates?: TlsCertificateSource;
}

/**
 * One open connection: its id, client, admission permit and live counters (it is the ForwardCounters
 * object itself). Each counter update also stamps `lastActiveAt`.
 */
class ActiveConnection implements ForwardCounters {
  readonly id: number;
  readonly remoteAddr: NetAddr;
  readonly permit: Permit;
  readonly startedAt: number = Date.now();
  lastActiveAt: number = this.startedAt;
  pauses = 0;
  #aToB = 0;
  #bToA = 0;
  constructor(id: number, remoteAddr: NetAddr, permit: Permit) {
    this.id = id;
    this.remoteAddr = remoteAddr;
    this.permit = permit;
  }
  get aToB(): number {
    return this.#aToB;
  }
  set aToB(value: number) {
    if (value !== this.#aToB) this.lastActiveAt = Date.now();
    this.#aToB = value;
  }
  get bToA(): number {
    return this.#bToA;
  }
  set bToA(value: number) {
    if (value !== this.#bToA) this.lastActiveAt = Date.now();
    this.#bToA = value;
  }
}

/** A row of {@linkcode Tunnel.connections}. */
export interface ConnectionInfo {
  /** Sequential id within the tunnel. */
  readonly id: number;
  /** The client's address. */
  readonly remoteAddr: NetAddr;
  /** When it was accepted (ms since the epoch). */
  readonly startedAt: number;
  /** When a byte last moved in either direction (ms since the epoch; `startedAt` until then). */
  readonly lastActiveAt: number;
  /** Bytes from the client so far. */
  readonly bytesIn: number;
  /** Bytes to the client so far. */
  readonly bytesOut: number;
}

/** Stands in for the client's address where the http2 proxy does not report it (upstream errors, id 0). */
const UNKNOWN_ADDR: NetAddr = { transport: "tcp", hostname: "", port: 0 };

/** Accept errors back off from 5 ms, doubling up to 1 s (Go's `http.Server`). */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Whether `protocol` is served by an HTTP proxy rather than forwarded as bytes. */
function isHttpProxy(protocol: string): boolean {
  return protocol === "http2" || protocol === "http3";
}

function safely<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  if (!fn) return;
  try {
    fn(...args);
  } catch { /* observers must not break the data path */ }
}

/**
 * Listens on `listenAddr` and forwards each connection to `targetAddr`.
 *
 * @example Forward :8080 to a local web server
 * ```ts ignore
 * import { Tunnel } from "@ts-tunnel/tunnel";
 * const tunnel = new Tunnel({ listenAddr: "127.0.0.1:8080", targetAddr: "127.0.0.1:80" });
 * await tunnel.start();
 * console.log(`listening on ${tunnel.addr?.port}`);
 * await tunnel.stop(); // drains, then closes
 * ```
 */
export class Tunnel {
  /** The validated config with defaults applied. */
  readonly config: Readonly<ResolvedTunnelConfig>;
  #protocol: Protocol | undefined;
  #upstream: Upstream;
  #admission: Admission;
  #memory: MemoryLimiter | undefined;
  #runtime?: Runtime;
  #observer: TunnelObserver;
  #listener?: Listener;
  #http?: HttpFrontend;
  #certificates?: TlsCertificateSource;
  #acceptLoop?: Promise<void>;
  #startedAt = 0;
  #nextId = 1;
  #active = new Set<ActiveConnection>();
  #idle?: PromiseWithResolvers<void>;
  #force = new AbortController();
  #fastPaths: readonly FastPath[] = DEFAULT_FAST_PATHS;
  #forwardPath: "splice" | "pump" | "owned" = "pump";
  #owned?: OwnedPath;
  #pathReady: Promise<void> = Promise.resolve();
  #spliceUnavailable?: string;
  #tuning?: SocketTuning;
  #stopping = false;
  #stopped = false;
  #workers?: TunnelWorkers;
  #given: TunnelConfig;
  #role?: WorkerRole;
  #idStep = 1;
  #closedTotals = { bytesSent: 0, bytesReceived: 0, pauses: 0 };
  #httpBase: HttpCounters = { requests: 0, active: 0, rejected: 0, bytesIn: 0, bytesOut: 0, errors: 0 };
  #counts = { connections: 0, rejected: 0, errors: 0 };

  /**
   * Creates a tunnel; nothing is bound until {@linkcode Tunnel.start}.
   *
   * @param config The tunnel's config; validated here.
   * @param options Runtime and observer.
   * @throws {TypeError} For unknown keys, missing or malformed addresses.
   * @throws {RangeError} For out-of-bounds values.
   */
  constructor(config: TunnelConfig, options: TunnelOptions = {}) {
    this.config = resolveTunnelConfig(config);
    this.#given = { ...config };
    parseListenAddr(this.config.listenAddr);
    const target = parseDialAddr(this.config.targetAddr);
    this.#runtime = options.runtime;
    this.#observer = options.observer ?? {};
    if (this.config.autoTls && !options.certificates) {
      throw new TypeError(
        "Cannot use TunnelConfig.autoTls without a certificate source: pass options.certificates (for example an AutoManager's tlsConfig())",
      );
    }
    if (!this.config.autoTls && options.certificates) {
      throw new TypeError(
        "Cannot use options.certificates without TunnelConfig.autoTls: set autoTls: true to serve its certificates",
      );
    }
    this.#certificates = options.certificates;
    if (this.config.forwardPath === "owned" && (options.breaker || options.memory)) {
      throw new TypeError(
        `Cannot use TunnelOptions.${
          options.breaker ? "breaker" : "memory"
        } with forwardPath "owned": the owned-socket forwarder dials and buffers in its Worker, without a breaker or a budget; use forwardPath "splice"`,
      );
    }
    const dialer = this.config.targetTls
      ? new TlsProtocol({ runtime: options.runtime, client: tlsClientOptions(this.config.targetTls) })
      : new TcpProtocol({ runtime: options.runtime });
    // The http2/http3 proxies dial their target themselves: no breaker or warm pool here. Worker
    // threads dial for a tunnel with workers > 1: no warm pool in this thread.
    const settings = isHttpProxy(this.config.protocol)
      ? { ...this.config, upstreamPoolSize: 0, breakerFailureThreshold: 0 }
      : typeof this.config.workers === "number" && this.config.workers > 1
      ? { ...this.config, upstreamPoolSize: 0 }
      : this.config;
    this.#upstream = new Upstream(target, dialer, settings, options.breaker);
    // Inside a worker thread: limits shared with the other workers, an even share of the rest.
    const role = this.#role = workerRoleOf(options);
    const limits = role ? { ...this.config, ...role.share } : this.config;
    if (role) {
      this.#nextId = role.firstId;
      this.#idStep = role.idStep;
    }
    this.#admission = new Admission(limits, undefined, role?.limits);
    const plan = socketOptionPlan(this.config);
    if (plan) {
      this.#tuning = new SocketTuning(plan, (side, error) => safely(this.#observer.onSocketOptionsError, side, error));
    }
    this.#memory = options.memory ??
      (limits.maxBufferedBytes > 0 ? new MemoryLimiter({ maxBytes: limits.maxBufferedBytes }) : undefined);
  }

  /**
   * Sets the listener protocol (go-tunnel's `SetProtocol`); by default `config.protocol` is used
   * (`http2` and `http3` are HTTP proxies, not byte transports: they are not set this way).
   */
  setProtocol(protocol: Protocol): void {
    if (this.#listener || this.#http || this.#workers || this.#owned) {
      throw new TypeError("Cannot set the protocol: the tunnel has already started");
    }
    if (this.config.forwardPath === "owned") {
      throw new TypeError(
        `Cannot set the protocol with forwardPath "owned": the owned-socket forwarder accepts plain TCP itself, without a Protocol; use forwardPath "splice"`,
      );
    }
    this.#protocol = protocol;
  }

  /** The bound address, once started. */
  get addr(): NetAddr | undefined {
    return this.#http?.addr ?? this.#workers?.addr ?? this.#owned?.addr ?? this.#listener?.addr;
  }

  /** `new` before start, `listening` while accepting, `stopping` while draining, `stopped` after. */
  get state(): "new" | "listening" | "stopping" | "stopped" {
    if (this.#stopped) return "stopped";
    if (this.#stopping) return "stopping";
    return this.#listener || this.#http || this.#workers || this.#owned ? "listening" : "new";
  }

  /**
   * Binds the listener and starts accepting. Resolves once bound. Aborting `signal` later stops
   * the tunnel as `stop()` does.
   *
   * @throws {NetError} If the address cannot be bound (EADDRINUSE, EACCES, …).
   * @throws {UnsupportedProtocolError} If `config.protocol` is not available.
   * @throws {TypeError} For `protocol: "quic"` without `tls` or a protocol from `setProtocol()`.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#listener || this.#http || this.#workers || this.#owned || this.#stopping) {
      throw new ServerClosedError("Cannot start the tunnel: it was already started");
    }
    options.signal?.throwIfAborted();
    if (isHttpProxy(this.config.protocol) && !this.#protocol) return await this.#startHttp(options.signal);
    if (this.config.forwardPath === "owned") return await this.#startOwned(options.signal);
    if (this.config.protocol === "quic" && !this.#protocol && !this.config.tls) throw quicWithoutTls("quic");
    const workers = await this.#workerCount();
    if (workers > 1) return await this.#startWorkers(workers, options.signal);
    const tls = this.config.tls || this.#certificates
      ? { server: { ...tlsServerOptions(this.config.tls ?? {}), certificates: this.#certificates } }
      : undefined;
    const alpn = this.config.tls?.alpn;
    const protocol = this.#protocol ??= createProtocol(this.config.protocol, {
      runtime: this.#runtime,
      tls,
      ...(this.config.protocol === "quic" && alpn ? { quic: { alpnProtocols: alpn } } : {}),
    });
    const listenOptions: TcpListenerOptions = {
      noDelay: this.config.tcpNoDelay,
      keepAlive: this.config.tcpKeepAlive,
      ...(this.#role ? { reusePort: true } : {}), // one of several workers on the port
    };
    const listener = await protocol.listen(parseListenAddr(this.config.listenAddr), listenOptions);
    this.#listener = listener;
    if (this.#tuning) {
      await this.#tuning.prepare(); // loads FFI, or learns why it cannot
      await this.#tuning.tuneListener(listener); // before the first accept: Fast Open, inherited buffers
    }
    this.#startedAt = performance.now();
    safely(this.#observer.onListen, listener.addr);
    this.#acceptLoop = this.#accept(listener);
    // Chosen while accepting: the pending accept keeps the event loop alive while the splice
    // worker (which does not) starts. Connections accepted meanwhile wait for the choice.
    this.#pathReady = this.#chooseForwardPath();
    try {
      await this.#pathReady;
    } catch (error) {
      this.close();
      await this.#acceptLoop;
      throw error;
    }
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /** How many accept loops to run: `workers`, with `"auto"` resolved (1 wherever workers do not apply). */
  async #workerCount(): Promise<number> {
    const { workers, protocol } = this.config;
    if (this.#role) return 1;
    if (workers !== "auto") {
      if (workers > 1 && this.#protocol) {
        throw new TypeError(
          `Cannot use TunnelConfig.workers = ${workers} with a protocol set by setProtocol(): worker threads create their own tcp listener; use workers: 1`,
        );
      }
      return workers;
    }
    const runtime = this.#runtime?.name;
    if (protocol !== "tcp" || this.#protocol || (runtime !== undefined && runtime !== "deno" && runtime !== "bun")) {
      return 1;
    }
    return (await import("./workers.ts")).autoWorkers();
  }

  /** `workers` > 1: the accept loops run in worker threads; this thread sums and steers them. */
  async #startWorkers(count: number, signal: AbortSignal | undefined): Promise<void> {
    this.#upstream.close(); // the workers dial; this thread never does
    const { TunnelWorkers } = await import("./workers.ts");
    const workers = await TunnelWorkers.start(
      this.#given,
      this.config,
      count,
      this.#observer,
      (worker, error, restarting) => safely(this.#observer.onWorkerExit, worker, error, restarting),
    );
    this.#workers = workers;
    this.#forwardPath = workers.forwardPath;
    this.#spliceUnavailable = workers.spliceUnavailable;
    this.#startedAt = performance.now();
    safely(this.#observer.onListen, workers.addr);
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /**
   * `forwardPath: "owned"`: owned-socket forwarders (one per `workers`) instead of a listener and
   * an accept loop; this thread only reads their counters.
   */
  async #startOwned(signal: AbortSignal | undefined): Promise<void> {
    this.#upstream.close(); // the forwarders connect; this thread never does
    const { workers } = this.config;
    const count = workers === "auto" ? (await import("./workers.ts")).autoWorkers() : workers;
    const { OwnedPath } = await import("./_owned_path.ts");
    const owned = await OwnedPath.start(this.config, count);
    this.#owned = owned;
    this.#forwardPath = "owned";
    this.#startedAt = performance.now();
    safely(this.#observer.onListen, owned.addr);
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
  }

  /**
   * `protocol: "http2"` or `"http3"`: an HTTP reverse proxy instead of byte forwarding (with
   * `http3: true`, h2 and h3 on one port).
   */
  async #startHttp(signal: AbortSignal | undefined): Promise<void> {
    const http = await startHttpFrontend(this.config, this.#certificates, {
      onRequest: (remoteAddr) => safely(this.#observer.onAccept, this.#takeId(), remoteAddr),
      onError: (error) =>
        safely(this.#observer.onConnectionEnd, {
          id: 0,
          remoteAddr: UNKNOWN_ADDR,
          error,
          phase: error.op === "dial" ? "dial" : "forward",
        }),
    }, this.#runtime);
    this.#http = http;
    this.#startedAt = performance.now();
    safely(this.#observer.onListen, http.addr);
    signal?.addEventListener("abort", () => void this.stop(), { once: true });
  }

  async #accept(listener: Listener): Promise<void> {
    let backoff = 0;
    while (!this.#stopping) {
      try {
        for await (const incoming of listener) {
          backoff = 0;
          this.#admit(incoming);
        }
        return;
      } catch (error) {
        if (this.#stopping) return;
        this.#counts.errors++;
        safely(this.#observer.onAcceptError, error);
        backoff = Math.min(ACCEPT_BACKOFF_MAX_MS, backoff ? backoff * 2 : ACCEPT_BACKOFF_MIN_MS);
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  #admit(incoming: Incoming): void {
    if (this.#stopping) return incoming.reject();
    const remoteAddr = incoming.remoteAddr;
    const admitted = this.#admission.admit(remoteAddr.hostname);
    if (!admitted.permit) {
      incoming.reject();
      this.#counts.rejected++;
      safely(this.#observer.onReject, remoteAddr, admitted.detail, admitted.reason);
      return;
    }
    const connection = new ActiveConnection(this.#takeId(), remoteAddr, admitted.permit);
    this.#active.add(connection);
    this.#counts.connections++;
    void this.#forwardOne(connection, incoming);
  }

  /** The next connection id (ids step over the other workers' when this is one of several). */
  #takeId(): number {
    const id = this.#nextId;
    this.#nextId += this.#idStep;
    return id;
  }

  /** Loads the kernel splice path when the config allows it (FFI is imported only then). */
  async #chooseForwardPath(): Promise<void> {
    const mode = this.config.forwardPath;
    if (mode === "pump" || this.config.protocol !== "tcp") return;
    const ffi = await import("../ffi/mod.ts");
    let failure: unknown;
    const engine = await ffi.spliceEngine().catch((error) => void (failure = error));
    if (engine) {
      try {
        await engine.start(); // a worker that cannot start (e.g. in a packaged binary) means: pump
        this.#fastPaths = [ffi.splicePath, ...DEFAULT_FAST_PATHS];
        this.#forwardPath = "splice";
        return;
      } catch (error) {
        failure = error;
      }
    }
    this.#spliceUnavailable = ffi.libcUnavailableReason() ??
      (failure instanceof Error ? failure.message : "the splice engine could not start");
    if (mode === "splice") {
      throw new UnsupportedProtocolError(
        "tcp",
        `forwardPath "splice" needs the Linux kernel path, which is unavailable: ${
          ffi.libcUnavailableReason() ?? "the splice engine could not start"
        }`,
      );
    }
  }

  /** Why the kernel splice path is not used, when `forwardPath` is `auto` and it fell back. */
  get spliceUnavailableReason(): string | undefined {
    return this.#spliceUnavailable;
  }

  /**
   * Why the socket-option keys (`tcpQuickAck`, `sendBufferSize`, …) are not applied: FFI is
   * unavailable (known once started). `undefined` when they are applied or none is set.
   */
  get socketOptionsUnavailableReason(): string | undefined {
    if (this.#workers) return this.#workers.socketOptionsUnavailable;
    return this.#tuning?.unavailableReason;
  }

  /** The path new connections take: `splice`, the runtime's native pump (`pump`), or `owned`. */
  get forwardPath(): "splice" | "pump" | "owned" {
    return this.#forwardPath;
  }

  #fail(connection: ActiveConnection, remoteAddr: NetAddr, phase: ConnectionEnd["phase"], error: unknown): void {
    this.#counts.errors++;
    safely(this.#observer.onConnectionEnd, { id: connection.id, remoteAddr, error, phase });
  }

  #finish(connection: ActiveConnection): void {
    connection.permit.release();
    this.#active.delete(connection);
    this.#closedTotals.bytesReceived += connection.aToB;
    this.#closedTotals.bytesSent += connection.bToA;
    this.#closedTotals.pauses += connection.pauses;
    if (this.#active.size === 0) this.#idle?.resolve();
  }

  /** Handshake, dial and forward one connection. One async frame per connection: it is held for the connection's life. */
  async #forwardOne(connection: ActiveConnection, accepted: Incoming): Promise<void> {
    const { id } = connection;
    const remoteAddr = accepted.remoteAddr;
    const acceptedAt = performance.now();
    safely(this.#observer.onAccept, id, remoteAddr);
    const force = this.#force.signal;
    let client: Conn;
    try {
      client = await accepted.handshake({ signal: force, timeoutMs: this.config.acceptTimeoutMs });
    } catch (error) {
      accepted.reject();
      this.#finish(connection);
      if (!force.aborted) this.#fail(connection, remoteAddr, "handshake", error);
      return;
    }
    const clientTuned = this.#tuning?.tuneConn("client", client); // never rejects
    let upstream: Conn;
    try {
      // Bounded by dialTimeoutMs per attempt; a forced stop closes a late conn below.
      upstream = await this.#upstream.dial();
    } catch (error) {
      client.close();
      this.#finish(connection);
      if (!force.aborted) this.#fail(connection, remoteAddr, "dial", error);
      return;
    }
    if (force.aborted) {
      client.close();
      upstream.close();
      return this.#finish(connection);
    }
    if (this.#tuning) {
      await clientTuned;
      await this.#tuning.tuneConn("upstream", upstream);
    }
    safely(this.#observer.onUpstream, id, performance.now() - acceptedAt);
    try {
      await this.#pathReady;
      const stats = await forward(client, upstream, {
        signal: force,
        counters: connection,
        idleTimeoutMs: this.config.connectionTimeoutMs,
        bufferSize: this.config.bufferSize,
        highWatermark: this.config.backpressureHighWatermark,
        lowWatermark: this.config.backpressureLowWatermark,
        reuseBuffers: this.config.writeBufferPool,
        fastPaths: this.#fastPaths,
        memory: this.#memory,
      });
      this.#finish(connection);
      safely(this.#observer.onConnectionEnd, { id, remoteAddr, stats });
    } catch (error) {
      this.#finish(connection);
      this.#fail(connection, remoteAddr, "forward", error);
    }
  }

  /**
   * Stops accepting, lets open connections finish for up to `drainTimeoutMs` (or until `signal`
   * aborts), then closes the rest. Idempotent; resolves when every connection has ended.
   */
  async stop(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#owned) {
      this.#stopping = true;
      await this.#owned.stop(options.signal);
      if (!this.#stopped) {
        this.#stopped = true;
        safely(this.#observer.onStop);
      }
      return;
    }
    if (this.#workers) {
      this.#stopping = true;
      this.#upstream.close();
      await this.#workers.stop(options.signal);
      if (!this.#stopped) {
        this.#stopped = true;
        safely(this.#observer.onStop);
      }
      return;
    }
    if (this.#http) {
      this.#stopping = true;
      const onAbort = () => this.#http!.abort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      try {
        await this.#http.close({ timeoutMs: this.config.drainTimeoutMs });
      } finally {
        options.signal?.removeEventListener("abort", onAbort);
      }
      if (!this.#stopped) {
        this.#stopped = true;
        safely(this.#observer.onStop);
      }
      return;
    }
    if (!this.#stopping) {
      this.#stopping = true;
      this.#listener?.close();
      this.#upstream.close();
    }
    await this.#acceptLoop;
    if (this.#active.size > 0) {
      const drained = this.#idle ??= Promise.withResolvers<void>();
      const timer = setTimeout(() => this.#forceClose("the drain timeout passed"), this.config.drainTimeoutMs);
      const onAbort = () => this.#forceClose("stop() was aborted");
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      try {
        await drained.promise;
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
      }
    }
    if (this.#listener && !this.#stopped) {
      this.#stopped = true;
      safely(this.#observer.onStop);
    }
  }

  #forceClose(why: string): void {
    if (this.#force.signal.aborted) return;
    const reason = new NetError("ECLOSED", `Cannot continue: the tunnel is stopping (${why})`, {
      op: "close",
      protocol: this.config.protocol,
    });
    this.#force.abort(reason);
  }

  /** Stops at once: closes the listener and every connection. */
  close(): void {
    this.#stopping = true;
    this.#http?.abort();
    this.#workers?.close();
    void this.#owned?.close();
    this.#listener?.close();
    this.#upstream.close();
    if (!this.#force.signal.aborted) this.#force.abort(new ServerClosedError("Cannot continue: the tunnel was closed"));
  }

  /** A snapshot of the counters. */
  stats(): TunnelStats {
    if (this.#http) return this.#httpStats(this.#http);
    if (this.#workers) return this.#workerStats(this.#workers);
    if (this.#owned) return this.#ownedStats(this.#owned);
    const { liveReceived, liveSent, livePauses } = this.#liveTotals();
    return {
      connections: this.#counts.connections,
      active: this.#active.size,
      rejected: this.#counts.rejected,
      bytesSent: this.#closedTotals.bytesSent + liveSent,
      bytesReceived: this.#closedTotals.bytesReceived + liveReceived,
      errors: this.#counts.errors,
      backpressurePauses: this.#closedTotals.pauses + livePauses,
      uptimeMs: this.#startedAt ? performance.now() - this.#startedAt : 0,
      forwardPath: this.#forwardPath,
      ...(this.#tuning ? { socketOptions: this.#tuning.stats() } : {}),
      reset: () => this.#reset(),
    };
  }

  /** Totals kept elsewhere (worker threads, owned-socket forwarders) as a snapshot; `reset` zeroes them there. */
  #summedStats(
    t: Pick<TunnelStats, "connections" | "active" | "rejected" | "bytesSent" | "bytesReceived" | "errors"> & {
      readonly backpressurePauses?: number;
    },
    extra: Pick<TunnelStats, "workers" | "owned">,
    reset: () => void,
  ): TunnelStats {
    return {
      connections: t.connections,
      active: t.active,
      rejected: t.rejected,
      bytesSent: t.bytesSent,
      bytesReceived: t.bytesReceived,
      errors: t.errors,
      backpressurePauses: t.backpressurePauses ?? 0,
      uptimeMs: this.#startedAt ? performance.now() - this.#startedAt : 0,
      forwardPath: this.#forwardPath,
      ...extra,
      reset: () => {
        reset();
        this.#startedAt = performance.now();
      },
    };
  }

  /** Every worker's counters summed, and each worker's share. */
  #workerStats(workers: TunnelWorkers): TunnelStats {
    return this.#summedStats(workers.totals(), { workers: workers.perWorker() }, () => workers.reset());
  }

  /** The owned-socket forwarders' shared counters, read now (each forwarder's share with several). */
  #ownedStats(owned: OwnedPath): TunnelStats {
    const t = owned.totals();
    const extra = { owned: t.owned, ...(owned.count > 1 ? { workers: t.perForwarder } : {}) };
    return this.#summedStats(t, extra, () => owned.reset());
  }

  /**
   * Totals kept outside the observer events, for `/metrics` to read at scrape time: the
   * owned-socket forwarders' (`forwardPath: "owned"`, whose connections never reach this thread);
   * `undefined` otherwise. They only grow (`stats().reset()` does not move them).
   */
  scrapedTotals(): ScrapedTotals | undefined {
    return this.#owned?.lifetimeTotals();
  }

  /** The proxies' counters in a tunnel's terms: requests are its connections, streams its active ones. */
  #httpStats(http: HttpFrontend): TunnelStats {
    const s = http.counters();
    const base = this.#httpBase;
    return {
      connections: s.requests - base.requests,
      active: s.active,
      rejected: s.rejected - base.rejected,
      bytesSent: s.bytesOut - base.bytesOut,
      bytesReceived: s.bytesIn - base.bytesIn,
      errors: s.errors - base.errors,
      backpressurePauses: 0,
      uptimeMs: this.#startedAt ? performance.now() - this.#startedAt : 0,
      forwardPath: "pump",
      protocols: http.perProtocol(),
      reset: () => {
        this.#httpBase = http.counters();
        this.#startedAt = performance.now();
      },
    };
  }

  #liveTotals(): { liveReceived: number; liveSent: number; livePauses: number } {
    let liveReceived = 0;
    let liveSent = 0;
    let livePauses = 0;
    for (const c of this.#active) {
      liveReceived += c.aToB;
      liveSent += c.bToA;
      livePauses += c.pauses;
    }
    return { liveReceived, liveSent, livePauses };
  }

  #reset(): void {
    this.#counts = { connections: 0, rejected: 0, errors: 0 };
    // Live connections keep counting from their current totals: subtract them so the sums restart at 0.
    const { liveReceived, liveSent, livePauses } = this.#liveTotals();
    this.#closedTotals = { bytesSent: -liveSent, bytesReceived: -liveReceived, pauses: -livePauses };
    this.#startedAt = performance.now();
  }

  /**
   * The open connections, oldest first (none listed when worker threads hold them, `workers` > 1,
   * or with `forwardPath: "owned"`, whose forwarders keep no per-connection rows).
   */
  connections(): ConnectionInfo[] {
    return [...this.#active].map((c) => ({
      id: c.id,
      remoteAddr: c.remoteAddr,
      startedAt: c.startedAt,
      lastActiveAt: c.lastActiveAt,
      bytesIn: c.aToB,
      bytesOut: c.bToA,
    }));
  }

  /** The warm upstream connections, or `undefined` when `upstreamPoolSize` is 0 (or each worker thread has its own). */
  get pool(): ConnPool | undefined {
    return this.#workers || this.#owned ? undefined : this.#upstream.pool;
  }

  /**
   * The buffer-memory budget, or `undefined` when there is none (`maxBufferedBytes: 0` and no
   * shared one, or each worker thread has its share).
   */
  get memory(): MemoryLimiter | undefined {
    return this.#workers || this.#owned ? undefined : this.#memory;
  }

  /**
   * The target's circuit breaker, or `undefined` when disabled (`breakerFailureThreshold: 0`) or
   * when each worker thread has its own.
   */
  get breaker(): CircuitBreaker | undefined {
    if (this.#workers || this.config.forwardPath === "owned") return undefined;
    return isHttpProxy(this.config.protocol) && !this.#protocol ? undefined : this.#upstream.breaker;
  }

  /** Refusals by limit since start (summed over worker threads). */
  get rejections(): Readonly<Record<RejectReason, number>> {
    if (this.#owned) {
      return { max_connections: this.#owned.totals().rejected, max_connections_per_ip: 0, accept_rate: 0 };
    }
    return this.#workers ? this.#workers.rejections() : this.#admission.rejected;
  }

  /** Accept loops running: the worker threads, or 1. */
  get workerCount(): number {
    return this.#workers?.count ?? this.#owned?.count ?? 1;
  }

  /** Describes the tunnel for logs: `tcp 0.0.0.0:8080 -> 127.0.0.1:80` (`http2+h3 …` with `http3: true`). */
  toString(): string {
    const listen = this.addr ? formatAddr(this.addr) : this.config.listenAddr;
    const protocol = this.config.protocol === "http2" && this.config.http3 ? "http2+h3" : this.config.protocol;
    return `${protocol} ${listen} -> ${this.config.targetAddr}`;
  }

  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
