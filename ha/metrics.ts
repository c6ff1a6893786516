/**
 * Prometheus metrics with prom-client, fed by tunnel events. prom-client is imported lazily, only
 * when {@linkcode TunnelMetrics.create} runs: importing the core never loads it, and with metrics
 * off there is no cost at all.
 *
 * Names follow go-tunnel's README under a configurable namespace (default `ts_tunnel`), labelled
 * by `listener` and `protocol`: `_connections_total`, `_connections_active`, `_bytes_sent_total`,
 * `_bytes_received_total`, `_errors_total` (plus `phase`), `_connections_rejected_total` (plus
 * `reason`), `_connection_duration_seconds`, `_forward_latency_seconds` (accept to upstream
 * connected), `_backpressure_pauses_total`, `_circuit_breaker_state` (0 closed, 1 half-open,
 * 2 open; labelled by `target`), `_pool_connections_active`, `_pool_connections_created_total`,
 * `_pool_connections_reused_total` (tunnels with an upstream pool), and prom-client's default
 * process metrics.
 * @module
 */
import type * as PromClient from "prom-client";

/** What a tunnel offers the exporter; `Tunnel` satisfies it. */
export interface MetricsSource {
  /** Live counters. */
  stats(): {
    readonly active: number;
    readonly bytesSent: number;
    readonly bytesReceived: number;
    readonly backpressurePauses: number;
  };
  /** The target's breaker, if any. */
  readonly breaker?: { readonly state: "closed" | "open" | "half_open" } | undefined;
  /** The warm upstream connections, if any. */
  readonly pool?: { stats(): { readonly created: number; readonly reused: number; readonly idle: number } } | undefined;
  /**
   * Growing totals the source keeps instead of sending events (a tunnel with `forwardPath: "owned"`),
   * added to `_connections_total`, `_connections_rejected_total` (reason `max_connections`) and
   * `_errors_total` at scrape time; `undefined` for sources that send events.
   */
  scrapedTotals?(): ScrapedTotals | undefined;
}

/** What {@linkcode MetricsSource.scrapedTotals} reports. */
export interface ScrapedTotals {
  /** Connections accepted (refused ones not included). */
  readonly connections: number;
  /** Connections refused by `maxConnections`. */
  readonly rejected: number;
  /** Failures by phase. */
  readonly errorsByPhase: { readonly dial: number; readonly forward: number; readonly accept: number };
}

/** Labels identifying one tunnel in every series. */
export interface TunnelLabels {
  /** The listen address, e.g. `0.0.0.0:8080`. */
  readonly listener: string;
  /** The protocol name, e.g. `tcp`. */
  readonly protocol: string;
  /** The target address, used on the breaker series. */
  readonly target: string;
}

/** The events the exporter counts; they match `TunnelObserver`'s callbacks. */
export interface MetricsObserver {
  /** A connection was accepted. */
  onAccept(): void;
  /** A connection was refused by a limit. */
  onReject(remoteAddr: unknown, detail: string, reason: string): void;
  /** The upstream connected, `latencyMs` after accept. */
  onUpstream(id: number, latencyMs: number): void;
  /** A connection ended. */
  onConnectionEnd(
    end: { readonly error?: unknown; readonly phase?: string; readonly stats?: { readonly durationMs: number } },
  ): void;
  /** Accepting failed. */
  onAcceptError(): void;
}

/** Options for {@linkcode TunnelMetrics.create}. */
export interface TunnelMetricsOptions {
  /** Prefix of every series. @default {"ts_tunnel"} */
  namespace?: string;
  /** Also export prom-client's default process metrics. @default {true} */
  defaultMetrics?: boolean;
}

/** Default metric namespace. */
export const DEFAULT_METRICS_NAMESPACE = "ts_tunnel";

/** go-tunnel's buckets: 0.01 s doubling 15 times (to 163.84 s). */
const DURATION_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.01 * 2 ** i);
/** go-tunnel's buckets: 1 ms doubling 15 times (to 16.384 s). */
const LATENCY_BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);
const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

interface Watched {
  readonly source: MetricsSource;
  readonly labels: TunnelLabels;
  last: { sent: number; received: number; pauses: number; poolCreated: number; poolReused: number };
  scraped: { connections: number; rejected: number; dial: number; forward: number; accept: number };
}

/**
 * A prom-client registry with the tunnel series. Create one per process, then
 * {@linkcode TunnelMetrics.observe} each tunnel.
 *
 * @example Export a tunnel's metrics
 * ```ts ignore
 * import { TunnelMetrics } from "@ts-tunnel/tunnel/ha";
 * const metrics = await TunnelMetrics.create({ namespace: "edge" });
 * const tunnel = new Tunnel(config, { observer: metrics.observe(() => tunnel, { listener: ":8080", protocol: "tcp", target: "10.0.0.2:80" }) });
 * const text = await metrics.text(); // Prometheus exposition format
 * ```
 */
export class TunnelMetrics {
  readonly #registry: PromClient.Registry;
  readonly #prom: typeof PromClient;
  readonly #namespace: string;
  /** The content type of {@linkcode TunnelMetrics.text}. */
  readonly contentType: string;
  readonly #watched: Watched[] = [];
  readonly #connections: PromClient.Counter<string>;
  readonly #errors: PromClient.Counter<string>;
  readonly #rejected: PromClient.Counter<string>;
  readonly #duration: PromClient.Histogram<string>;
  readonly #latency: PromClient.Histogram<string>;

  private constructor(prom: typeof PromClient, options: TunnelMetricsOptions) {
    const { namespace = DEFAULT_METRICS_NAMESPACE, defaultMetrics = true } = options;
    this.#prom = prom;
    this.#namespace = namespace;
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(namespace)) {
      throw new TypeError(
        `Cannot use metrics namespace "${namespace}": use letters, digits and underscores, starting with a letter`,
      );
    }
    const registry = new prom.Registry();
    this.#registry = registry;
    this.contentType = registry.contentType;
    const labelNames = ["listener", "protocol"];
    const watched = this.#watched;
    const name = (suffix: string) => `${namespace}_${suffix}`;
    const registers = [registry];
    /** Adds the growth of the sources' scraped totals since the last scrape. */
    const scraped = (
      counter: PromClient.Counter<string>,
      parts: readonly [keyof Watched["scraped"], (t: ScrapedTotals) => number, Record<string, string>][],
    ) => {
      for (const w of watched) {
        const totals = w.source.scrapedTotals?.();
        if (!totals) continue;
        for (const [key, read, extra] of parts) {
          const now = read(totals);
          if (now > w.scraped[key]) counter.inc({ ...tunnelLabels(w), ...extra }, now - w.scraped[key]);
          w.scraped[key] = now;
        }
      }
    };
    this.#connections = new prom.Counter({
      name: name("connections_total"),
      help: "Connections accepted.",
      labelNames,
      registers,
      collect() {
        scraped(this, [["connections", (t) => t.connections, {}]]);
      },
    });
    this.#errors = new prom.Counter({
      name: name("errors_total"),
      help: "Failed accepts, handshakes, dials and forwards.",
      labelNames: [...labelNames, "phase"],
      registers,
      collect() {
        scraped(this, [
          ["dial", (t) => t.errorsByPhase.dial, { phase: "dial" }],
          ["forward", (t) => t.errorsByPhase.forward, { phase: "forward" }],
          ["accept", (t) => t.errorsByPhase.accept, { phase: "accept" }],
        ]);
      },
    });
    this.#rejected = new prom.Counter({
      name: name("connections_rejected_total"),
      help: "Connections refused by a limit.",
      labelNames: [...labelNames, "reason"],
      registers,
      collect() {
        scraped(this, [["rejected", (t) => t.rejected, { reason: "max_connections" }]]);
      },
    });
    this.#duration = new prom.Histogram({
      name: name("connection_duration_seconds"),
      help: "Lifetime of forwarded connections.",
      labelNames,
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#latency = new prom.Histogram({
      name: name("forward_latency_seconds"),
      help: "Time from accepting a connection to the upstream being connected.",
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new prom.Gauge({
      name: name("connections_active"),
      help: "Connections open now.",
      labelNames,
      registers,
      collect() {
        for (const w of watched) this.set(tunnelLabels(w), w.source.stats().active);
      },
    });
    /** A counter fed at scrape time from a monotonic total a source reports (`undefined`: no series). */
    const deltaCounter = (
      suffix: string,
      help: string,
      key: keyof Watched["last"],
      read: (w: Watched) => number | undefined,
    ) =>
      new prom.Counter({
        name: name(suffix),
        help,
        labelNames,
        registers,
        collect() {
          for (const w of watched) {
            const now = read(w);
            if (now === undefined) continue;
            if (now > w.last[key]) this.inc(tunnelLabels(w), now - w.last[key]);
            w.last[key] = now; // a stats reset() makes `now` smaller: the counter just stays
          }
        },
      });
    deltaCounter("bytes_sent_total", "Bytes sent to clients.", "sent", (w) => w.source.stats().bytesSent);
    deltaCounter(
      "bytes_received_total",
      "Bytes received from clients.",
      "received",
      (w) => w.source.stats().bytesReceived,
    );
    deltaCounter(
      "backpressure_pauses_total",
      "Times a side paused because the other had not drained.",
      "pauses",
      (w) => w.source.stats().backpressurePauses,
    );
    new prom.Gauge({
      name: name("pool_connections_active"),
      help: "Warm upstream connections ready in the pool.",
      labelNames,
      registers,
      collect() {
        for (const w of watched) {
          const pool = w.source.pool;
          if (pool) this.set(tunnelLabels(w), pool.stats().idle);
        }
      },
    });
    deltaCounter(
      "pool_connections_created_total",
      "Upstream connections dialed by the pool.",
      "poolCreated",
      (w) => w.source.pool?.stats().created,
    );
    deltaCounter(
      "pool_connections_reused_total",
      "Warm upstream connections handed to clients.",
      "poolReused",
      (w) => w.source.pool?.stats().reused,
    );
    new prom.Gauge({
      name: name("circuit_breaker_state"),
      help: "Upstream circuit breaker state: 0 closed, 1 half-open, 2 open.",
      labelNames: [...labelNames, "target"],
      registers,
      collect() {
        for (const w of watched) {
          const breaker = w.source.breaker;
          if (breaker) this.set({ ...tunnelLabels(w), target: w.labels.target }, BREAKER_VALUE[breaker.state]);
        }
      },
    });
    if (defaultMetrics) prom.collectDefaultMetrics({ register: registry });
  }

  /**
   * Loads prom-client and creates the registry.
   *
   * @param options Namespace and default metrics.
   * @returns The metrics.
   * @throws {TypeError} If the namespace is not a valid metric name prefix.
   */
  static async create(options: TunnelMetricsOptions = {}): Promise<TunnelMetrics> {
    const prom = await import("prom-client");
    const mod = prom as unknown as { default?: typeof PromClient } & typeof PromClient;
    return new TunnelMetrics(mod.default ?? mod, options);
  }

  /**
   * Starts exporting one tunnel's series.
   *
   * @param source Reads the tunnel (a function, so it can be passed before the tunnel exists).
   * @param labels The tunnel's labels.
   * @returns Callbacks to pass as (or merge into) the tunnel's observer.
   */
  observe(source: () => MetricsSource, labels: TunnelLabels): MetricsObserver & Disposable {
    const lazy: MetricsSource = {
      stats: () => source().stats(),
      get breaker() {
        return source().breaker;
      },
      get pool() {
        return source().pool;
      },
      scrapedTotals: () => source().scrapedTotals?.(),
    };
    const watched: Watched = {
      source: lazy,
      labels,
      last: { sent: 0, received: 0, pauses: 0, poolCreated: 0, poolReused: 0 },
      scraped: { connections: 0, rejected: 0, dial: 0, forward: 0, accept: 0 },
    };
    this.#watched.push(watched);
    const base = { listener: labels.listener, protocol: labels.protocol };
    return {
      onAccept: () => this.#connections.inc(base),
      onReject: (_addr, _detail, reason) => this.#rejected.inc({ ...base, reason }),
      onUpstream: (_id, latencyMs) => this.#latency.observe(base, latencyMs / 1000),
      onConnectionEnd: (end) => {
        if (end.error !== undefined) this.#errors.inc({ ...base, phase: end.phase ?? "unknown" });
        if (end.stats) this.#duration.observe(base, end.stats.durationMs / 1000);
      },
      onAcceptError: () => this.#errors.inc({ ...base, phase: "accept" }),
      // Stops sampling the source (its counters keep their totals); for sources that come and go.
      [Symbol.dispose]: () => {
        const i = this.#watched.indexOf(watched);
        if (i >= 0) this.#watched.splice(i, 1);
      },
    };
  }

  /**
   * Adds a gauge read at scrape time, e.g. the tunnel server's connected clients.
   *
   * @param suffix Name after the namespace, e.g. `tunnel_clients_connected`.
   * @param help The series' help text.
   * @param read Returns the current value.
   */
  gauge(suffix: string, help: string, read: () => number): void {
    new this.#prom.Gauge({
      name: `${this.#namespace}_${suffix}`,
      help,
      registers: [this.#registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** The Prometheus exposition text of every series. */
  text(): Promise<string> {
    return this.#registry.metrics();
  }
}

function tunnelLabels(w: Watched): { listener: string; protocol: string } {
  return { listener: w.labels.listener, protocol: w.labels.protocol };
}
