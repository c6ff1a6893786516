/**
 * Runs a set of tunnels as a service: logging, the optional admin server (metrics, health,
 * status), automatic TLS (one ACME manager for every `autoTls` listener, its health check and
 * metrics on the admin server), signals (first: drain; second: close at once) and the exit code.
 * The CLI's `forward`, `run` and `demo` commands all end up here.
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
import type { AutoManager } from "../tls/acme/auto_manager.ts";
import type { AcmeObserver } from "../tls/acme/observer.ts";
import type { AutoTlsSettings } from "../tls/auto_tls.ts";
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
  /** Automatic TLS for the tunnels with `autoTls` (CLI `-auto-tls`, YAML `options.auto_tls`). */
  readonly autoTls?: AutoTlsSettings;
  /** Environment variables (the DNS provider's credentials). @default {process.env} */
  readonly env?: Record<string, string | undefined>;
}

/** Logs what the ACME manager does: certificates loaded, issued and renewed at info, failures at warn. */
export function acmeLoggingObserver(logger: Logger): AcmeObserver {
  return {
    onCertificateChange(event) {
      const info = event.certificate?.info;
      logger.info(`certificate ${event.reason}`, {
        domains: event.domains.join(","),
        notAfter: info && new Date(info.notAfter).toISOString(),
        issuer: info?.issuer,
      });
    },
    onFailure(event) {
      logger.warn("cannot obtain the certificate; retrying", {
        domains: event.domains.join(","),
        attempt: event.attempt,
        retryInMs: event.retryInMs,
        error: event.error,
      });
    },
  };
}

async function startAutoTls(
  settings: AutoTlsSettings,
  ctx: ServeContext,
  health: HealthRegistry | undefined,
  observers: readonly (AcmeObserver | undefined)[],
): Promise<AutoManager> {
  const { createAutoTlsManager } = await import("../tls/auto_tls.ts");
  const present = observers.filter((o) => o !== undefined);
  const observer: AcmeObserver = {
    onCertificateChange: (event) => present.forEach((o) => o.onCertificateChange?.(event)),
    onIssued: (event) => present.forEach((o) => o.onIssued?.(event)),
    onFailure: (event) => present.forEach((o) => o.onFailure?.(event)),
  };
  let manager: AutoManager;
  try {
    manager = await createAutoTlsManager(settings, { env: ctx.env, health, observer });
  } catch (error) {
    // A bad DNS provider, missing credentials, an unreadable CA file: a configuration problem (exit 2).
    throw new TypeError(`Cannot set up automatic TLS: ${(error as Error).message}`, { cause: error });
  }
  await manager.start(); // loads stored certificates; orders missing ones in the background
  return manager;
}

/**
 * Logs what tunnels do: listener start/stop and connection errors at info, closed connections at debug. */
export function loggingObserver(logger: Logger, tunnel: () => Tunnel): TunnelObserver {
  return {
    onListen: (addr) => logger.info("listening", { tunnel: tunnel().toString(), addr: formatAddr(addr) }),
    onReject: (remoteAddr, detail) =>
      logger.warn("connection refused", { from: formatAddr(remoteAddr), reason: detail }),
    onAcceptError: (error) => logger.error("accept failed; retrying", { error }),
    onWorkerExit: (worker, error, restarting) =>
      logger.error(restarting ? "worker thread died; restarting it" : "worker thread died; not restarted", {
        tunnel: tunnel().toString(),
        worker,
        error,
      }),
    onSocketOptionsError: (side, error) =>
      logger.warn("socket options not set; the connection goes on without them", { side, error }),
    onConnectionEnd(end) {
      if (end.error !== undefined) {
        logger.info(`connection failed at ${end.phase}`, {
          id: end.id || undefined, // 0: an http2/http3 exchange, reported without its client
          from: end.id ? formatAddr(end.remoteAddr) : undefined,
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
  const health = ctx.admin ? new HealthRegistry() : undefined;
  const autoTlsListeners = configs.filter((c) => c.autoTls);
  if (autoTlsListeners.length > 0 && !ctx.autoTls) {
    throw new TypeError(
      `Cannot start the ${autoTlsListeners[0].protocol} listener on "${
        autoTlsListeners[0].listenAddr
      }" with autoTls: automatic TLS is not configured (CLI: -auto-tls -email -domains; YAML: options.auto_tls)`,
    );
  }
  let acme: AutoManager | undefined;
  let acmeMetrics: { text(): Promise<string> } | undefined;
  if (ctx.autoTls && autoTlsListeners.length > 0) {
    const { AcmeMetrics } = await import("../tls/acme/metrics.ts");
    const created = metrics ? await AcmeMetrics.create({ namespace: ctx.admin?.metricsNamespace }) : undefined;
    acmeMetrics = created;
    acme = await startAutoTls(ctx.autoTls, ctx, health, [acmeLoggingObserver(logger), created?.observer]);
  }
  for (const config of configs) {
    // A service uses the machine's cores unless told otherwise (the library's default is 1).
    const full = {
      ...config,
      workers: config.workers ?? "auto",
      ...(ctx.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: ctx.drainTimeoutMs }),
    };
    const labels = { listener: config.listenAddr, protocol: config.protocol ?? "tcp", target: config.targetAddr };
    const observer: TunnelObserver = combineObservers(
      loggingObserver(logger, () => tunnel),
      metrics?.observe(() => tunnel, labels),
    );
    const certificates = config.autoTls ? acme!.tlsConfig() : undefined;
    const tunnel: Tunnel = new Tunnel(full, { runtime, observer, certificates });
    tunnels.push(tunnel);
  }
  for (const tunnel of tunnels) {
    try {
      await tunnel.start();
    } catch (error) {
      logger.error("cannot start", { tunnel: tunnel.toString(), error });
      tunnels.forEach((t) => t.close());
      await acme?.close();
      return error instanceof UnsupportedProtocolError ? 2 : 1;
    }
  }
  if (health) tunnels.forEach((t) => registerTunnelHealth(health, t));
  return await runService({
    runtime,
    logger,
    signal: ctx.signal,
    version: ctx.version,
    admin: ctx.admin && {
      listen: ctx.admin.listen,
      health: health!,
      metrics: metrics && {
        contentType: metrics.contentType,
        text: async () => (await metrics.text()) + (acmeMetrics ? await acmeMetrics.text() : ""),
      },
      status: () => ({ ...tunnelStatus(tunnels), ...(acme ? { certificates: acme.cacheStatus() } : {}) }),
      circuits: () => circuitStatus(tunnels),
    },
    drainTimeoutMs: Math.max(0, ...tunnels.map((t) => t.config.drainTimeoutMs)),
    drain: (signal) => Promise.all(tunnels.map((t) => t.stop({ signal }))).then(() => {}),
    close: () => tunnels.forEach((t) => t.close()),
    onReady() {
      const fallback = tunnels.find((t) => t.spliceUnavailableReason)?.spliceUnavailableReason;
      if (fallback) logger.info("kernel splice unavailable: forwarding in user space", { reason: fallback });
      for (const t of tunnels) {
        const reason = t.socketOptionsUnavailableReason;
        if (reason) logger.warn("socket options not applied (they need FFI)", { tunnel: t.toString(), reason });
      }
      logger.info("ready", {
        tunnels: tunnels.length,
        runtime: runtime.name,
        engine: tunnels.map((t) =>
          t.config.protocol === "http2"
            ? t.config.http3 ? "http2-proxy+h3" : "http2-proxy"
            : t.config.protocol === "http3"
            ? "http3-proxy"
            : t.forwardPath === "splice"
            ? "splice"
            : t.forwardPath === "owned"
            ? "owned-splice"
            : runtime.name === "bun"
            ? "push-pump"
            : "pull-pump"
        ).join(","),
        workers: tunnels.map((t) => t.workerCount).join(","),
      });
      onStarted?.(tunnels);
      ctx.statusLine?.start();
    },
    async cleanup() {
      ctx.statusLine?.stop();
      await acme?.close();
      if (tunnels.some((t) => t.forwardPath === "splice")) await (await import("../ffi/mod.ts")).closeSpliceEngine();
    },
  });
}
