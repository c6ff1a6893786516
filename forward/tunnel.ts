/**
 * {@linkcode Tunnel}: a listener that forwards every accepted connection to a target, as
 * go-tunnel's `Tunnel` promises (and, unlike it, with half-close, byte counts, limits, idle
 * timeouts and a draining `stop()`).
 * @module
 */
import { formatAddr, parseDialAddr, parseListenAddr } from "../protocols/address.ts";
import { NetError, ServerClosedError } from "../protocols/errors.ts";
import { createProtocol } from "../protocols/registry.ts";
import type { Runtime } from "../protocols/runtime.ts";
import { TcpProtocol } from "../protocols/tcp.ts";
import type { Conn, DialAddr, Incoming, Listener, NetAddr, Protocol } from "../protocols/types.ts";
import { type ResolvedTunnelConfig, resolveTunnelConfig, type TunnelConfig } from "./config.ts";
import { forward } from "./engine.ts";
import type { ForwardCounters, ForwardStats } from "./types.ts";

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
  /** A connection was refused by `maxConnections`. */
  onReject?(remoteAddr: NetAddr, reason: string): void;
  /** The target is connected; `latencyMs` is the time since accept. */
  onUpstream?(id: number, latencyMs: number): void;
  /** A connection ended (cleanly or not). */
  onConnectionEnd?(end: ConnectionEnd): void;
  /** Accepting failed (the loop backs off and retries). */
  onAcceptError?(error: unknown): void;
  /** The listener is closed and every connection has ended. */
  onStop?(): void;
}

/** Options for {@linkcode Tunnel}. */
export interface TunnelOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** Event callbacks. */
  observer?: TunnelObserver;
}

/** Accept errors back off from 5 ms, doubling up to 1 s (Go's `http.Server`). */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 1000;

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
  #target: DialAddr;
  #targetProtocol: TcpProtocol;
  #runtime?: Runtime;
  #observer: TunnelObserver;
  #listener?: Listener;
  #acceptLoop?: Promise<void>;
  #startedAt = 0;
  #nextId = 1;
  #active = new Map<number, ForwardCounters>();
  #tasks = new Set<Promise<void>>();
  #force = new AbortController();
  #stopping = false;
  #closedTotals = { bytesSent: 0, bytesReceived: 0, pauses: 0 };
  #counts = { connections: 0, rejected: 0, errors: 0 };

  /**
   * @param config The tunnel's config; validated here.
   * @param options Runtime and observer.
   * @throws {TypeError} For unknown keys, missing or malformed addresses.
   * @throws {RangeError} For out-of-bounds values.
   */
  constructor(config: TunnelConfig, options: TunnelOptions = {}) {
    this.config = resolveTunnelConfig(config);
    parseListenAddr(this.config.listenAddr);
    this.#target = parseDialAddr(this.config.targetAddr);
    this.#runtime = options.runtime;
    this.#observer = options.observer ?? {};
    this.#targetProtocol = new TcpProtocol({ runtime: options.runtime });
  }

  /** Sets the listener protocol (go-tunnel's `SetProtocol`); by default `config.protocol` is used. */
  setProtocol(protocol: Protocol): void {
    if (this.#listener) throw new TypeError("Cannot set the protocol: the tunnel has already started");
    this.#protocol = protocol;
  }

  /** The bound address, once started. */
  get addr(): NetAddr | undefined {
    return this.#listener?.addr;
  }

  /**
   * Binds the listener and starts accepting. Resolves once bound. Aborting `signal` later stops
   * the tunnel as `stop()` does.
   *
   * @throws {NetError} If the address cannot be bound (EADDRINUSE, EACCES, …).
   * @throws {UnsupportedProtocolError} If `config.protocol` is not available.
   */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#listener || this.#stopping) throw new ServerClosedError("Cannot start the tunnel: it was already started");
    options.signal?.throwIfAborted();
    const protocol = this.#protocol ??= createProtocol(this.config.protocol, { runtime: this.#runtime });
    const listener = await protocol.listen(parseListenAddr(this.config.listenAddr), {
      noDelay: this.config.tcpNoDelay,
      keepAlive: this.config.tcpKeepAlive,
    });
    this.#listener = listener;
    this.#startedAt = performance.now();
    safely(this.#observer.onListen, listener.addr);
    this.#acceptLoop = this.#accept(listener);
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
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
    const { maxConnections } = this.config;
    if (this.#stopping) return incoming.reject();
    if (maxConnections > 0 && this.#active.size >= maxConnections) {
      incoming.reject();
      this.#counts.rejected++;
      safely(this.#observer.onReject, incoming.remoteAddr, `maxConnections (${maxConnections}) reached`);
      return;
    }
    const id = this.#nextId++;
    const counters: ForwardCounters = { aToB: 0, bToA: 0, pauses: 0 };
    this.#active.set(id, counters);
    this.#counts.connections++;
    const task = this.#handle(id, incoming, counters).finally(() => {
      this.#active.delete(id);
      this.#closedTotals.bytesReceived += counters.aToB;
      this.#closedTotals.bytesSent += counters.bToA;
      this.#closedTotals.pauses += counters.pauses;
      this.#tasks.delete(task);
    });
    this.#tasks.add(task);
  }

  async #handle(id: number, incoming: Incoming, counters: ForwardCounters): Promise<void> {
    const { remoteAddr } = incoming;
    const accepted = performance.now();
    safely(this.#observer.onAccept, id, remoteAddr);
    const force = this.#force.signal;
    const fail = (phase: ConnectionEnd["phase"], error: unknown) => {
      this.#counts.errors++;
      safely(this.#observer.onConnectionEnd, { id, remoteAddr, error, phase });
    };
    let client: Conn;
    try {
      const signal = AbortSignal.any([force, AbortSignal.timeout(this.config.acceptTimeoutMs)]);
      client = await incoming.handshake({ signal });
    } catch (error) {
      incoming.reject();
      if (!force.aborted) fail("handshake", error);
      return;
    }
    let upstream: Conn;
    try {
      upstream = await this.#targetProtocol.dial(this.#target, {
        signal: force,
        timeoutMs: this.config.dialTimeoutMs,
        noDelay: this.config.tcpNoDelay,
        keepAlive: this.config.tcpKeepAlive,
      });
    } catch (error) {
      client.close();
      if (!force.aborted) fail("dial", error);
      return;
    }
    safely(this.#observer.onUpstream, id, performance.now() - accepted);
    try {
      const stats = await forward(client, upstream, {
        signal: force,
        counters,
        idleTimeoutMs: this.config.connectionTimeoutMs,
        bufferSize: this.config.bufferSize,
        highWatermark: this.config.backpressureHighWatermark,
        lowWatermark: this.config.backpressureLowWatermark,
        reuseBuffers: this.config.writeBufferPool,
      });
      safely(this.#observer.onConnectionEnd, { id, remoteAddr, stats });
    } catch (error) {
      fail("forward", error);
    }
  }

  /**
   * Stops accepting, lets open connections finish for up to `drainTimeoutMs` (or until `signal`
   * aborts), then closes the rest. Idempotent; resolves when every connection has ended.
   */
  async stop(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#listener?.close();
    }
    await this.#acceptLoop;
    if (this.#tasks.size > 0 && !this.#force.signal.aborted) {
      const deadline = AbortSignal.timeout(this.config.drainTimeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
      const onAbort = () => this.#force.abort(new NetError("ECLOSED", "Cannot continue: the tunnel is stopping", { op: "close", protocol: this.config.protocol }));
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    }
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
    if (this.#listener && !this.#stopped) {
      this.#stopped = true;
      safely(this.#observer.onStop);
    }
  }

  #stopped = false;

  /** Stops at once: closes the listener and every connection. */
  close(): void {
    this.#stopping = true;
    this.#listener?.close();
    this.#force.abort(new ServerClosedError("Cannot continue: the tunnel was closed"));
  }

  /** A snapshot of the counters. */
  stats(): TunnelStats {
    let liveReceived = 0;
    let liveSent = 0;
    let livePauses = 0;
    for (const c of this.#active.values()) {
      liveReceived += c.aToB;
      liveSent += c.bToA;
      livePauses += c.pauses;
    }
    return {
      connections: this.#counts.connections,
      active: this.#active.size,
      rejected: this.#counts.rejected,
      bytesSent: this.#closedTotals.bytesSent + liveSent,
      bytesReceived: this.#closedTotals.bytesReceived + liveReceived,
      errors: this.#counts.errors,
      backpressurePauses: this.#closedTotals.pauses + livePauses,
      uptimeMs: this.#startedAt ? performance.now() - this.#startedAt : 0,
      reset: () => this.#reset(),
    };
  }

  #reset(): void {
    this.#counts = { connections: 0, rejected: 0, errors: 0 };
    // Live connections keep counting from their current totals: subtract them so the sums restart at 0.
    let liveReceived = 0;
    let liveSent = 0;
    let livePauses = 0;
    for (const c of this.#active.values()) {
      liveReceived += c.aToB;
      liveSent += c.bToA;
      livePauses += c.pauses;
    }
    this.#closedTotals = { bytesSent: -liveSent, bytesReceived: -liveReceived, pauses: -livePauses };
    this.#startedAt = performance.now();
  }

  /** Describes the tunnel for logs: `tcp 0.0.0.0:8080 -> 127.0.0.1:80`. */
  toString(): string {
    const listen = this.#listener ? formatAddr(this.#listener.addr) : this.config.listenAddr;
    return `${this.config.protocol} ${listen} -> ${this.config.targetAddr}`;
  }

  /** Same as `stop()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
