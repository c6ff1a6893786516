/**
 * Runs a started service until it is told to stop: the optional admin server, SIGINT/SIGTERM
 * (first: drain; second: stop at once), shutdown hooks and the exit code. The forwarder and the
 * reverse tunnel's server and client all run through it.
 * @module
 */
import { formatAddr, parseListenAddr } from "../protocols/address.ts";
import type { Runtime } from "../protocols/runtime.ts";
import { type MetricsText, startAdminServer } from "./admin_server.ts";
import type { HealthRegistry } from "./health.ts";
import type { Logger } from "./logger.ts";
import { ResourceMonitor, type ResourceSnapshot } from "./resource_monitor.ts";
import { ShutdownManager } from "./shutdown.ts";

/** Extra time the shutdown allows beyond the drain timeout, before forcing. */
const SHUTDOWN_SLACK_MS = 1_000;

/** What the admin server of a running service shows. */
export interface ServiceAdmin {
  /** Where it listens, e.g. `127.0.0.1:9090`. */
  readonly listen: string;
  /** Behind `/health`, `/livez` and `/readyz`. */
  readonly health: HealthRegistry;
  /** Behind `/metrics`; without it `/metrics` answers 404. */
  readonly metrics?: MetricsText;
  /** Behind `/status`, merged under the version, runtime, uptime and resources. */
  status(): Record<string, unknown>;
  /** Behind `/circuit`. @default {an empty object} */
  circuits?(): unknown;
}

/** Options for {@linkcode runService}. */
export interface RunServiceOptions {
  /** The runtime adapter (signals). */
  readonly runtime: Runtime;
  /** The logger. */
  readonly logger: Logger;
  /** Aborting it acts like the first SIGTERM. */
  readonly signal?: AbortSignal;
  /** The version, shown in `/status`. */
  readonly version: string;
  /** The admin server, if any. */
  readonly admin?: ServiceAdmin;
  /** How long the drain may take before the shutdown forces it. */
  readonly drainTimeoutMs: number;
  /** Stops accepting and lets work finish; aborting `signal` means "finish now". */
  drain(signal: AbortSignal): Promise<void>;
  /** Closes everything at once (when the admin server cannot start). */
  close(): void;
  /** Called once the admin server (if any) is up and SIGINT/SIGTERM drain the service. */
  onReady?(): void;
  /** Called last, after the shutdown. */
  cleanup?(): Promise<void> | void;
}

/**
 * Starts the admin server, waits for a signal (or `options.signal`), drains, and resolves to the
 * exit code: 0 after a clean stop, 1 when the admin server cannot be bound.
 *
 * @param options The service's hooks.
 * @returns The process exit code.
 */
export async function runService(options: RunServiceOptions): Promise<number> {
  const { logger, runtime } = options;
  using resources = options.admin ? new ResourceMonitor() : undefined;
  let admin: Awaited<ReturnType<typeof startAdminServer>> | undefined;
  if (options.admin) {
    const config = options.admin;
    const address = parseListenAddr(config.listen);
    const startedAt = Date.now();
    try {
      admin = await startAdminServer({
        hostname: address.hostname ?? "0.0.0.0",
        port: address.port,
        health: config.health,
        metrics: config.metrics,
        status: () => ({
          version: options.version,
          runtime: runtime.name,
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          resources: resources?.latest as ResourceSnapshot | undefined,
          ...config.status(),
        }),
        circuits: () => config.circuits?.() ?? {},
      });
    } catch (error) {
      logger.error("cannot start the admin server", { addr: config.listen, error });
      options.close();
      return 1;
    }
    logger.info("admin listening", {
      addr: formatAddr(admin),
      endpoints: "/metrics /health /livez /readyz /status /circuit",
    });
  }
  // The service drains first (priority 1), the admin server goes last (priority 100), so probes
  // and scrapes see the drain. A second signal forces every hook.
  const shutdown = new ShutdownManager({ timeoutMs: options.drainTimeoutMs + SHUTDOWN_SLACK_MS });
  shutdown.register("service", 1, (signal) => options.drain(signal));
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
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) onAbort();
  options.onReady?.(); // after the signal handlers: a SIGTERM from here on drains
  try {
    await stopRequested.promise;
    for (const result of await shutdown.run()) {
      if (result.outcome === "failed") logger.error(`shutdown step ${result.name} failed`, { error: result.error });
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await admin?.close();
    await options.cleanup?.();
  }
  return 0;
}
