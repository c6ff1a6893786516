/**
 * Runs a set of tunnels as a service: logging, the optional admin server (metrics, health,
 * status), signals (first: drain; second: close at once) and the exit code. The CLI's `forward`,
 * `run` and `demo` commands all end up here.
 * @module
 */
import { startAdminServer } from "../ha/admin_server.ts";
import { HealthRegistry } from "../ha/health.ts";
import { ResourceMonitor } from "../ha/resource_monitor.ts";
import { ShutdownManager } from "../ha/shutdown.ts";
import type { Logger } from "../ha/logger.ts";
import { TunnelMetrics } from "../ha/metrics.ts";
import type { StatusLine } from "../ha/status_line.ts";
import { formatAddr, parseListenAddr } from "../protocols/address.ts";
import { UnsupportedProtocolError } from "../protocols/errors.ts";
import type { Runtime } from "../protocols/runtime.ts";
import type { TunnelConfig } from "./config.ts";
import { circuitStatus, combineObservers, registerTunnelHealth, tunnelStatus } from "./monitoring.ts";
import { Tunnel, type TunnelObserver } from "./tunnel.ts";

/** Extra time the shutdown allows beyond the longest drain timeout, before forcing. */
const SHUTDOWN_SLACK_MS = 1_000;

/** The admin server's settings. */
export interface AdminConfig {
  /** Where the admin server listens, e.g. `127.0.0.1:9090`. */
  readonly listen: string;
  /** Export Prometheus metrics at `/metrics`. @default {true} */
  readonly metrics?: boolean;
  /** Metric name prefix. @default {"ts_tunnel"} */
  readonly metricsNamespace?: string;
}

/** What {@linkcode serveTunnels} needs. */
export interface ServeContext {
  /** The runtime adapter. */
  readonly runtime: Runtime;
  /** Aborting it acts like the first SIGTERM. */
  readonly signal?: AbortSignal;
  /** The logger. */
  readonly logger: Logger;
  /** The live status line, if on. */
  readonly statusLine?: StatusLine;
  /** Overrides each tunnel's `drainTimeoutMs`. */
  readonly drainTimeoutMs?: number;
  /** The admin server, if any. */
  readonly admin?: AdminConfig;
  /** Filled with the tunnels as they are created (the status line reads it). */
  readonly tunnels: Tunnel[];
  /** The version, for `/status`. */
  readonly version: string;
}

/**
 * Logs what tunnels do: listener start/stop and connection errors at info, closed connections at debug. */
export function loggingObserver(logger: Logger, tunnel: () => Tunnel): TunnelObserver {
  return {
    onListen: (addr) => logger.info("listening", { tunnel: tunnel().toString(), addr: formatAddr(addr) }),
    onReject: (remoteAddr, detail) =>
      logger.warn("connection refused", { from: formatAddr(remoteAddr), reason: detail }),
    onAcceptError: (error) => logger.error("accept failed; retrying", { error }),
    onConnectionEnd(end) {
      if (end.error !== undefined) {
        logger.info(`connection failed at ${end.phase}`, {
          id: end.id,
          from: formatAddr(end.remoteAddr),
          error: end.error,
        });
      } else if (end.stats && logger.enabled("debug")) {
        const s = end.stats;
        logger.debug("connection closed", {
          id: end.id,
          from: formatAddr(end.remoteAddr),
          in: s.aToB,
          out: s.bToA,
          ms: Math.round(s.durationMs),
          end: s.end,
          path: s.path,
        });
      }
    },
    onStop: () => logger.info("stopped", { tunnel: tunnel().toString() }),
  };
}

/**
 * Starts the tunnels (and the admin server), waits for a signal or `ctx.signal`, drains, and
 * resolves to an exit code: 0 after a clean stop, 1 when something could not be bound, 2 for an
 * unavailable protocol.
 */
export async function serveTunnels(
  configs: readonly TunnelConfig[],
  ctx: ServeContext,
  onStarted?: (tunnels: readonly Tunnel[]) => void,
): Promise<number> {
  const { logger, runtime, tunnels } = ctx;
  const metrics = ctx.admin && ctx.admin.metrics !== false
    ? await TunnelMetrics.create({ namespace: ctx.admin.metricsNamespace })
    : undefined;
  for (const config of configs) {
    const full = ctx.drainTimeoutMs === undefined ? config : { ...config, drainTimeoutMs: ctx.drainTimeoutMs };
    const labels = { listener: config.listenAddr, protocol: config.protocol ?? "tcp", target: config.targetAddr };
    const observer: TunnelObserver = combineObservers(
      loggingObserver(logger, () => tunnel),
      metrics?.observe(() => tunnel, labels),
    );
    const tunnel: Tunnel = new Tunnel(full, { runtime, observer });
    tunnels.push(tunnel);
  }
  for (const tunnel of tunnels) {
    try {
      await tunnel.start();
    } catch (error) {
      logger.error("cannot start", { tunnel: tunnel.toString(), error });
      tunnels.forEach((t) => t.close());
      return error instanceof UnsupportedProtocolError ? 2 : 1;
    }
  }
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined;
  using resources = ctx.admin ? new ResourceMonitor() : undefined;
  if (ctx.admin) {
    const health = new HealthRegistry();
    tunnels.forEach((t) => registerTunnelHealth(health, t));
    const address = parseListenAddr(ctx.admin.listen);
    const startedAt = Date.now();
    try {
      admin = await startAdminServer({
        hostname: address.hostname ?? "0.0.0.0",
        port: address.port,
        health,
        metrics: metrics && { contentType: metrics.contentType, text: () => metrics.text() },
        status: () => ({
          version: ctx.version,
          runtime: runtime.name,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          resources: resources?.latest,
          ...tunnelStatus(tunnels),
        }),
        circuits: () => circuitStatus(tunnels),
      });
    } catch (error) {
      logger.error("cannot start the admin server", { addr: ctx.admin.listen, error });
      tunnels.forEach((t) => t.close());
      return 1;
    }
    logger.info("admin listening", {
      addr: formatAddr(admin),
      endpoints: "/metrics /health /livez /readyz /status /circuit",
    });
  }
  const fallback = tunnels.find((t) => t.spliceUnavailableReason)?.spliceUnavailableReason;
  if (fallback) logger.info("kernel splice unavailable: forwarding in user space", { reason: fallback });
  logger.info("ready", {
    tunnels: tunnels.length,
    runtime: runtime.name,
    engine: tunnels.map((t) =>
      t.forwardPath === "splice" ? "splice" : runtime.name === "bun" ? "push-pump" : "pull-pump"
    )
      .join(","),
  });
  onStarted?.(tunnels);
  ctx.statusLine?.start();
  // Shutdown: listeners drain first (priority 1), the admin server goes last (priority 100), so
  // probes and scrapes see the drain. A second signal forces every hook.
  const drainMs = Math.max(0, ...tunnels.map((t) => t.config.drainTimeoutMs));
  const shutdown = new ShutdownManager({ timeoutMs: drainMs + SHUTDOWN_SLACK_MS });
  shutdown.register("listeners", 1, (signal) => Promise.all(tunnels.map((t) => t.stop({ signal }))).then(() => {}));
  shutdown.register("admin", 100, () => admin?.close());
  const stopRequested = Promise.withResolvers<void>();
  const onSignal = (name: string) => {
    if (!shutdown.started) {
      logger.info("stopping: draining connections (send the signal again to stop at once)", { signal: name });
      stopRequested.resolve();
      void shutdown.run();
    } else {
      logger.warn("stopping at once", { signal: name });
      shutdown.force();
    }
  };
  using _int = runtime.onSignal("SIGINT", () => onSignal("SIGINT"));
  using _term = runtime.onSignal("SIGTERM", () => onSignal("SIGTERM"));
  const onAbort = () => onSignal("abort");
  ctx.signal?.addEventListener("abort", onAbort);
  if (ctx.signal?.aborted) onAbort();
  try {
    await stopRequested.promise;
    for (const result of await shutdown.run()) {
      if (result.outcome === "failed") logger.error(`shutdown step ${result.name} failed`, { error: result.error });
    }
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
    ctx.statusLine?.stop();
    await admin?.close();
    if (tunnels.some((t) => t.forwardPath === "splice")) await (await import("../ffi/mod.ts")).closeSpliceEngine();
  }
  return 0;
}
