/**
 * Internal: a tunnel's `forwardPath: "owned"`. Instead of a listener and an accept loop, the tunnel
 * runs owned-socket splice forwarders (`listenOwnedSplice`): one per `workers` (each with its own
 * epoll Worker, all on one `SO_REUSEPORT` port), and reads their shared-memory counters whenever
 * `stats()`, `/status` or `/metrics` asks. FFI is imported only here, only for this path.
 * @module
 */
import { parseDialAddr, parseListenAddr } from "../protocols/address.ts";
import { UnsupportedProtocolError } from "../protocols/errors.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { OwnedSpliceForwarder } from "../ffi/owned_splice.ts";
import type { OwnedSpliceStats } from "../ffi/owned_splice_options.ts";
import type { TcpSocketOptions } from "../ffi/socket_options.ts";
import type { ResolvedTunnelConfig } from "./config.ts";
import { socketOptionPlan } from "./_config_socket.ts";
import type { WorkerStats } from "./workers.ts";
import type { OwnedPathStats, TunnelStats } from "./tunnel.ts";
import type { ScrapedTotals } from "../ha/metrics.ts";

/** Connections per forwarder when `maxConnections` is 0 (the forwarder needs a bound for its tables). */
export const OWNED_UNLIMITED_CONNECTIONS = 65_536;

/** The counters a tunnel reports, summed over the forwarders, with errors by phase (as `/metrics` labels them). */
export type OwnedTotals =
  & Pick<TunnelStats, "connections" | "active" | "rejected" | "bytesSent" | "bytesReceived" | "errors">
  & ScrapedTotals;

/** The ffi options of one forwarder, from the tunnel's config. */
function forwarderOptions(config: ResolvedTunnelConfig, maxConnections: number, reusePort: boolean) {
  const listen = parseListenAddr(config.listenAddr);
  const target = parseDialAddr(config.targetAddr);
  const plan = socketOptionPlan(config);
  const socketOptions: TcpSocketOptions = {
    noDelay: config.tcpNoDelay,
    keepAlive: config.tcpKeepAlive,
    ...plan?.conn,
    ...(plan?.listener.fastOpen !== undefined ? { fastOpen: plan.listener.fastOpen } : {}),
  };
  return {
    hostname: listen.hostname === undefined
      ? "0.0.0.0"
      : listen.hostname === "localhost"
      ? "127.0.0.1"
      : listen.hostname,
    port: listen.port,
    target: { hostname: target.hostname, port: target.port },
    reusePort,
    maxConnections,
    idleTimeoutMs: config.connectionTimeoutMs,
    connectTimeoutMs: config.dialTimeoutMs,
    socketOptions,
  };
}

/** The share of `maxConnections` each of `count` forwarders takes (0: the per-forwarder bound). */
function shares(maxConnections: number, count: number): number[] {
  if (maxConnections === 0) return Array.from({ length: count }, () => OWNED_UNLIMITED_CONNECTIONS);
  const n = Math.min(count, maxConnections); // every forwarder takes at least one
  return Array.from({ length: n }, (_, i) => Math.floor(maxConnections / n) + (i < maxConnections % n ? 1 : 0));
}

/** A tunnel's owned-socket forwarders. */
export class OwnedPath {
  readonly #forwarders: OwnedSpliceForwarder[];
  readonly #drainTimeoutMs: number;
  #base: OwnedTotals | undefined;

  private constructor(forwarders: OwnedSpliceForwarder[], drainTimeoutMs: number) {
    this.#forwarders = forwarders;
    this.#drainTimeoutMs = drainTimeoutMs;
  }

  /**
   * Starts `count` forwarders on the tunnel's listen address (the first picks the port when it is 0).
   *
   * @throws {UnsupportedProtocolError} When FFI or Linux is unavailable (the reason is given).
   * @throws {NetError} When the address cannot be bound.
   */
  static async start(config: ResolvedTunnelConfig, count: number): Promise<OwnedPath> {
    const ffi = await import("../ffi/mod.ts");
    const libc = await ffi.loadLibc();
    if (!libc) {
      throw new UnsupportedProtocolError(
        "tcp",
        `forwardPath "owned" needs the Linux kernel path, which is unavailable: ${ffi.libcUnavailableReason()}`,
      );
    }
    const forwarders: OwnedSpliceForwarder[] = [];
    const reusePort = count > 1;
    try {
      for (const max of shares(config.maxConnections, count)) {
        const options = forwarderOptions(config, max, reusePort);
        // Later forwarders join the port the first one got (a listen port of 0 picks one).
        if (forwarders.length > 0) options.port = forwarders[0].addr.port;
        forwarders.push(await ffi.listenOwnedSplice(options));
      }
    } catch (error) {
      await Promise.all(forwarders.map((f) => f.close()));
      throw error;
    }
    return new OwnedPath(forwarders, config.drainTimeoutMs);
  }

  /** The bound address. */
  get addr(): NetAddr {
    return this.#forwarders[0].addr;
  }

  /** Forwarders running (each is one accept loop). */
  get count(): number {
    return this.#forwarders.length;
  }

  /** Whether a forwarder still listens. */
  get listening(): boolean {
    return this.#forwarders.some((f) => f.stats.listening);
  }

  #raw(): OwnedTotals & OwnedPathStats & { perForwarder: OwnedSpliceStats[] } {
    const all = this.#forwarders.map((f) => f.stats);
    const sum = (key: keyof OwnedSpliceStats) => all.reduce((n, s) => n + (s[key] as number), 0);
    const errors = sum("errors"), connectErrors = sum("connectErrors"), acceptErrors = sum("acceptErrors");
    const lastConnectError = all.map((s) => s.lastConnectError).find((e) => e !== undefined);
    return {
      connections: sum("accepted") - sum("refused"),
      active: sum("active"),
      rejected: sum("refused"),
      bytesSent: sum("bytesDown"),
      bytesReceived: sum("bytesUp"),
      errors: errors + acceptErrors,
      errorsByPhase: { dial: connectErrors, forward: errors - connectErrors, accept: acceptErrors },
      connecting: sum("connecting"),
      connectErrors,
      ...(lastConnectError ? { lastConnectError } : {}),
      idleTimeouts: sum("idleTimeouts"),
      acceptErrors,
      pipesInUse: sum("pipesInUse"),
      listening: all.filter((s) => s.listening).length,
      perForwarder: all,
    };
  }

  /** The totals since start or the last `reset()` (`active`, `connecting`, `pipesInUse` are live). */
  totals(): OwnedTotals & { owned: OwnedPathStats; perForwarder: WorkerStats[] } {
    const raw = this.#raw();
    const b = this.#base;
    const minus = (key: "connections" | "rejected" | "bytesSent" | "bytesReceived" | "errors") =>
      raw[key] - (b ? b[key] : 0);
    const phase = (key: "dial" | "forward" | "accept") => raw.errorsByPhase[key] - (b ? b.errorsByPhase[key] : 0);
    return {
      connections: minus("connections"),
      active: raw.active,
      rejected: minus("rejected"),
      bytesSent: minus("bytesSent"),
      bytesReceived: minus("bytesReceived"),
      errors: minus("errors"),
      errorsByPhase: { dial: phase("dial"), forward: phase("forward"), accept: phase("accept") },
      owned: {
        connecting: raw.connecting,
        connectErrors: raw.connectErrors,
        ...(raw.lastConnectError ? { lastConnectError: raw.lastConnectError } : {}),
        idleTimeouts: raw.idleTimeouts,
        acceptErrors: raw.acceptErrors,
        pipesInUse: raw.pipesInUse,
        listening: raw.listening,
      },
      perForwarder: raw.perForwarder.map((s) => ({
        connections: s.accepted - s.refused,
        active: s.active,
        bytesSent: s.bytesDown,
        bytesReceived: s.bytesUp,
        restarts: 0,
      })),
    };
  }

  /** Totals that only grow, for `/metrics` (a `reset()` does not move them). */
  lifetimeTotals(): OwnedTotals {
    return this.#raw();
  }

  /** Zeroes the cumulative counters (`active` stays). */
  reset(): void {
    this.#base = this.#raw();
  }

  /**
   * Stops accepting, lets open connections end for up to `drainTimeoutMs` (or until `signal`
   * aborts), then closes the rest.
   */
  async stop(signal?: AbortSignal): Promise<void> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.#drainTimeoutMs);
    const until = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
    try {
      await Promise.all(this.#forwarders.map((f) => f.shutdown({ signal: until })));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops at once: closes every listening socket and connection. */
  close(): Promise<void> {
    return Promise.all(this.#forwarders.map((f) => f.close())).then(() => {});
  }
}
