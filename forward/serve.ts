/**
 * Runs a set of tunnels as a service: logging, the optional admin server (metrics, health,
 * status), signals (first: drain; second: close at once) and the exit code. The CLI's `forward`,
 * `run` and `demo` commands all end up here.
 * @module
 */
import { HealthRegistry } from "../ha/health.ts";
import type { Logger } from "../ha/logger.ts";
import { runService } from "../ha/service_runner.ts";
import { TunnelMetrics } from "../ha/metrics.ts";
import type { StatusLine } from "../ha/status_line.ts";
import { formatAddr } from "../protocols/address.ts";
import { UnsupportedProtocolError } from "../protocols/errors.ts";
import type { Runtime } from "../protocols/runtime.ts";
import type { TunnelConfig } from "./config.ts";
import { circuitStatus, combineObservers, registerTunnelHealth, tunnelStatus } from "./monitoring.ts";
import { Tunnel, type TunnelObserver } from "./tunnel.ts";

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
  let health: HealthRegistry | undefined;
  if (ctx.admin) {
    health = new HealthRegistry();
    tunnels.forEach((t) => registerTunnelHealth(health!, t));
  }
  return await runService({
    runtime,
    logger,
    signal: ctx.signal,
    version: ctx.version,
    admin: ctx.admin && {
      listen: ctx.admin.listen,
      health: health!,
      metrics: metrics && { contentType: metrics.contentType, text: () => metrics.text() },
      status: () => tunnelStatus(tunnels),
      circuits: () => circuitStatus(tunnels),
    },
    drainTimeoutMs: Math.max(0, ...tunnels.map((t) => t.config.drainTimeoutMs)),
    drain: (signal) => Promise.all(tunnels.map((t) => t.stop({ signal }))).then(() => {}),
    close: () => tunnels.forEach((t) => t.close()),
    onReady() {
      const fallback = tunnels.find((t) => t.spliceUnavailableReason)?.spliceUnavailableReason;
      if (fallback) logger.info("kernel splice unavailable: forwarding in user space", { reason: fallback });
      logger.info("ready", {
        tunnels: tunnels.length,
        runtime: runtime.name,
        engine: tunnels.map((t) =>
          t.forwardPath === "splice" ? "splice" : runtime.name === "bun" ? "push-pump" : "pull-pump"
        ).join(","),
      });
      onStarted?.(tunnels);
      ctx.statusLine?.start();
    },
    async cleanup() {
      ctx.statusLine?.stop();
      if (tunnels.some((t) => t.forwardPath === "splice")) await (await import("../ffi/mod.ts")).closeSpliceEngine();
    },
  });
}
