/**
 * Several accept loops for one tunnel (`TunnelConfig.workers`): N worker threads, each running the
 * tunnel on its own event loop behind its own `SO_REUSEPORT` listener on the same port, so the
 * kernel spreads new connections over them. The main thread keeps what must stay whole:
 * `maxConnections` and `maxConnectionsPerIp` are shared counters, `stats()` sums every worker's
 * counters, `stop()` drains every worker, and a worker that dies is reported and restarted (at
 * most {@linkcode MAX_WORKER_RESTARTS} times each).
 * @module
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { formatAddr, parseListenAddr } from "../protocols/address.ts";
import { NetError } from "../protocols/errors.ts";
import { TcpProtocol } from "../protocols/tcp.ts";
import type { NetAddr } from "../protocols/types.ts";
import type { RejectReason } from "./admission.ts";
import type { ResolvedTunnelConfig, TunnelConfig } from "./config.ts";
import {
  eventFromWire,
  FORWARDED_EVENTS,
  fromWire,
  type FromWorker,
  type ToWorker,
  type WorkerInit,
} from "./_worker_context.ts";
import { allocateSharedLimits, releaseWorkerSlots, type SharedLimitsMemory } from "./_worker_limits.ts";
import {
  addCounters,
  allocateStats,
  clearCounters,
  readCounters,
  type WorkerCounters,
  zeroCounters,
} from "./_worker_stats.ts";
import { workerModuleUrl } from "./_worker_url.ts";

/** Times each worker is restarted after dying, at most. */
export const MAX_WORKER_RESTARTS = 3;

/** One worker's share of a tunnel's counters, in {@linkcode TunnelStats.workers}. */
export interface WorkerStats {
  /** Connections this worker accepted. */
  readonly connections: number;
  /** Connections open in this worker now. */
  readonly active: number;
  /** Bytes sent to clients by this worker. */
  readonly bytesSent: number;
  /** Bytes received from clients by this worker. */
  readonly bytesReceived: number;
  /** Times this worker died and was started again. */
  readonly restarts: number;
}

/**
 * The number of accept loops `workers: "auto"` picks for a machine with `cores` cores: 1 below 4
 * cores (the splice thread, the kernel's softirq work and the peers need the rest; measured in
 * docs/CONFIG.md), then one per two cores, at most 16.
 *
 * @param cores Cores available to the process.
 * @returns The number of workers.
 */
export function autoWorkers(cores: number = availableParallelism()): number {
  if (!(cores >= 4)) return 1;
  return Math.min(16, Math.floor(cores / 2));
}

interface Slot {
  worker?: Worker;
  stopped?: PromiseWithResolvers<void>;
  restarts: number;
  retired: WorkerCounters;
}

/** The main thread's side of a tunnel's worker threads. */
export class TunnelWorkers {
  readonly #config: ResolvedTunnelConfig;
  readonly #given: TunnelConfig;
  readonly #limits: SharedLimitsMemory;
  readonly #stats: SharedArrayBuffer;
  readonly #slots: Slot[];
  readonly #sink: object;
  readonly #onExit: (worker: number, error: Error, restarting: boolean) => void;
  #listenAddr: string;
  #baseline = zeroCounters();
  #stopping = false;
  /** How many worker threads the tunnel runs. */
  get count(): number {
    return this.#slots.length;
  }

  /** The bound address (worker 0's). */
  addr!: NetAddr;
  /** The forward path the workers use. */
  forwardPath: "splice" | "pump" | "owned" = "pump";
  /** Why splice is not used, when it fell back. */
  spliceUnavailable?: string;
  /** Why socket options are not applied. */
  socketOptionsUnavailable?: string;

  private constructor(
    given: TunnelConfig,
    config: ResolvedTunnelConfig,
    count: number,
    sink: object,
    onExit: (worker: number, error: Error, restarting: boolean) => void,
  ) {
    this.#config = config;
    this.#given = given;
    this.#limits = allocateSharedLimits(count, config.maxConnections, config.maxConnectionsPerIp);
    this.#stats = allocateStats(count);
    this.#slots = Array.from({ length: count }, () => ({ restarts: 0, retired: zeroCounters() }));
    this.#sink = sink;
    this.#onExit = onExit;
    this.#listenAddr = config.listenAddr;
  }

  /**
   * Starts `count` workers: the first binds (port 0 becomes a real port), the others bind beside it.
   *
   * @param given The config as the user gave it (each worker resolves it again).
   * @param config The same, resolved.
   *
   * @throws {NetError} If the port cannot be bound; EADDRINUSE from a second worker means the
   * runtime did not set `SO_REUSEPORT` (Deno without `--unstable-net`).
   */
  static async start(
    given: TunnelConfig,
    config: ResolvedTunnelConfig,
    count: number,
    sink: object,
    onExit: (worker: number, error: Error, restarting: boolean) => void,
  ): Promise<TunnelWorkers> {
    const workers = new TunnelWorkers(given, config, count, sink, onExit);
    const addr = parseListenAddr(config.listenAddr);
    // SO_REUSEPORT would also share a port another process holds with it: bind once without it
    // first, so a busy port still fails with EADDRINUSE.
    if (addr.port !== 0) (await new TcpProtocol().listen(addr)).close();
    try {
      const first = await workers.#spawn(0);
      workers.addr = first.addr;
      workers.forwardPath = first.forwardPath;
      workers.spliceUnavailable = first.spliceUnavailable;
      workers.socketOptionsUnavailable = first.socketOptionsUnavailable;
      workers.#listenAddr = formatAddr({ hostname: addr.hostname ?? "", port: first.addr.port });
      const rest = await Promise.allSettled(workers.#slots.slice(1).map((_, i) => workers.#spawn(i + 1)));
      const failed = rest.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    } catch (error) {
      workers.close();
      if (error instanceof NetError && error.code === "EADDRINUSE" && workers.addr) {
        throw new NetError(
          "EADDRINUSE",
          `Cannot start worker threads on "${workers.#listenAddr}": the port is taken although SO_REUSEPORT was asked for; on Deno, run with --unstable-net (or "unstable": ["net"] in deno.json), or use workers: 1`,
          { op: "listen", protocol: "tcp", cause: error },
        );
      }
      throw error;
    }
    return workers;
  }

  /** Starts worker `index` and resolves once it listens. */
  #spawn(index: number): Promise<Extract<FromWorker, { type: "listening" }>> {
    const slot = this.#slots[index];
    const config: TunnelConfig = { ...this.#given, listenAddr: this.#listenAddr, workers: 1 };
    if (this.#config.drainTimeoutMs !== this.#given.drainTimeoutMs) config.drainTimeoutMs = this.#config.drainTimeoutMs;
    const init: WorkerInit = {
      config,
      index,
      count: this.#slots.length,
      limits: this.#limits,
      stats: this.#stats,
      events: FORWARDED_EVENTS.filter((name) => typeof this.#handler(name) === "function"),
    };
    const url = workerModuleUrl("./_worker_main.ts", import.meta.url, "forward/_worker_main.ts");
    const worker = new Worker(url, { workerData: init });
    slot.worker = worker;
    slot.stopped = Promise.withResolvers<void>();
    const listening = Promise.withResolvers<Extract<FromWorker, { type: "listening" }>>();
    let up = false;
    worker.on("message", (message: FromWorker) => {
      switch (message.type) {
        case "listening":
          up = true;
          return listening.resolve(message);
        case "failed":
          return listening.reject(fromWire(message.error));
        case "event": {
          const handler = this.#handler(message.name);
          try {
            if (handler) Reflect.apply(handler, this.#sink, eventFromWire(message.name, message.args));
          } catch { /* observers must not break the tunnel */ }
          return;
        }
        case "stopped":
          return slot.stopped?.resolve();
      }
    });
    let failure: Error | undefined;
    worker.on("error", (error: unknown) => {
      failure = error instanceof Error ? error : new Error(String(error));
      listening.reject(failure);
    });
    worker.on("exit", (code: number) => {
      slot.stopped?.resolve();
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const error = failure ?? new Error(`The worker thread exited with code ${code}`);
      listening.reject(error);
      if (up && !this.#stopping) this.#died(index, error);
    });
    return listening.promise;
  }

  #handler(name: string): ((...args: unknown[]) => void) | undefined {
    const value = (this.#sink as Record<string, unknown>)[name];
    return typeof value === "function" ? value as (...args: unknown[]) => void : undefined;
  }

  /** A running worker ended on its own: give back its slots, keep its counts, maybe start another. */
  #died(index: number, error: Error): void {
    const slot = this.#slots[index];
    releaseWorkerSlots(this.#limits, index);
    const last = readCounters(this.#stats, index);
    slot.retired = addCounters(slot.retired, { ...last, active: 0 });
    clearCounters(this.#stats, index);
    const restarting = slot.restarts < MAX_WORKER_RESTARTS;
    this.#onExit(index, error, restarting);
    if (!restarting) return;
    slot.restarts++;
    this.#spawn(index).catch((failure: Error) => {
      if (!this.#stopping) this.#onExit(index, failure, false);
    });
  }

  /** Each worker's counters, retired ones included. */
  #rows(): WorkerCounters[] {
    return this.#slots.map((slot, i) => addCounters(readCounters(this.#stats, i), slot.retired));
  }

  /** The sum of every worker's counters since start or the last {@linkcode TunnelWorkers.reset}. */
  totals(): WorkerCounters {
    const sum = this.#rows().reduce((a, b) => addCounters(a, b), zeroCounters());
    return addCounters(sum, this.#baseline, -1);
  }

  /** Per-worker counters (not reset by {@linkcode TunnelWorkers.reset}). */
  perWorker(): WorkerStats[] {
    return this.#rows().map((row, i) => ({
      connections: row.connections,
      active: row.active,
      bytesSent: row.bytesSent,
      bytesReceived: row.bytesReceived,
      restarts: this.#slots[i].restarts,
    }));
  }

  /** Refusals by reason, summed. */
  rejections(): Record<RejectReason, number> {
    const t = this.totals();
    return {
      max_connections: t.max_connections,
      max_connections_per_ip: t.max_connections_per_ip,
      accept_rate: t.accept_rate,
    };
  }

  /** Restarts the sums of {@linkcode TunnelWorkers.totals} at 0. */
  reset(): void {
    this.#baseline = this.#rows().reduce((a, b) => addCounters(a, b), zeroCounters());
    this.#baseline.active = 0;
  }

  /**
   * Ends worker `index` as a crash would (it is then reported and restarted). For tests.
   * @internal
   */
  async killWorker(index: number): Promise<void> {
    await this.#slots[index].worker?.terminate();
  }

  #post(message: ToWorker): void {
    for (const slot of this.#slots) slot.worker?.postMessage(message);
  }

  /** Drains every worker (aborting `signal` closes their connections), then ends the threads. */
  async stop(signal?: AbortSignal): Promise<void> {
    this.#stopping = true;
    this.#post({ type: "stop" });
    const onAbort = () => this.#post({ type: "close" });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      await Promise.all(this.#slots.map((slot) => slot.stopped?.promise));
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    await this.#terminate();
  }

  /** Ends every worker at once (their connections with them). */
  close(): void {
    this.#stopping = true;
    void this.#terminate();
  }

  async #terminate(): Promise<void> {
    await Promise.all(this.#slots.map(async (slot) => {
      const worker = slot.worker;
      if (!worker) return;
      await worker.terminate();
    }));
  }
}
