/**
 * Internal: each worker thread's counters in a `SharedArrayBuffer` (one row of doubles per worker,
 * written only by that worker), so the main thread's synchronous `Tunnel.stats()` sums them
 * without a message round trip. A worker writes its row after every connection event (once per
 * turn of its event loop) and every {@linkcode PUBLISH_INTERVAL_MS} while bytes move.
 * @module
 */
import type { RejectReason } from "./admission.ts";

/** How often a worker refreshes its row while connections are open. */
export const PUBLISH_INTERVAL_MS = 250;

const FIELDS = [
  "connections",
  "active",
  "rejected",
  "bytesSent",
  "bytesReceived",
  "errors",
  "backpressurePauses",
  "max_connections",
  "max_connections_per_ip",
  "accept_rate",
] as const;
const WIDTH = FIELDS.length;

/** One worker's counters (the additive part of `TunnelStats`, and refusals by reason). */
export type WorkerCounters = Record<(typeof FIELDS)[number], number>;

/** What a worker publishes: its tunnel's stats and refusals. */
export interface CounterSource {
  stats(): {
    connections: number;
    active: number;
    rejected: number;
    bytesSent: number;
    bytesReceived: number;
    errors: number;
    backpressurePauses: number;
  };
  readonly rejections: Readonly<Record<RejectReason, number>>;
}

/** Allocates the rows for `workers` workers. */
export function allocateStats(workers: number): SharedArrayBuffer {
  return new SharedArrayBuffer(8 * WIDTH * workers);
}

/** Writes a worker's row (worker side). */
export function publishCounters(memory: SharedArrayBuffer, worker: number, source: CounterSource): void {
  const row = new Float64Array(memory, 8 * WIDTH * worker, WIDTH);
  const stats = source.stats();
  const rejections = source.rejections;
  for (let i = 0; i < WIDTH; i++) {
    const name = FIELDS[i];
    row[i] = name in rejections ? rejections[name as RejectReason] : stats[name as keyof typeof stats];
  }
}

/** Reads a worker's row (main side). */
export function readCounters(memory: SharedArrayBuffer, worker: number): WorkerCounters {
  const row = new Float64Array(memory, 8 * WIDTH * worker, WIDTH);
  return Object.fromEntries(FIELDS.map((name, i) => [name, row[i]])) as WorkerCounters;
}

/** Zeroes a worker's row (main side, before a replacement worker starts). */
export function clearCounters(memory: SharedArrayBuffer, worker: number): void {
  new Float64Array(memory, 8 * WIDTH * worker, WIDTH).fill(0);
}

/** Counters with every field 0. */
export function zeroCounters(): WorkerCounters {
  return Object.fromEntries(FIELDS.map((name) => [name, 0])) as WorkerCounters;
}

/** `a + b`, or `a - b` with `sign` -1, field by field (`active` is taken from `a`). */
export function addCounters(a: WorkerCounters, b: WorkerCounters, sign: 1 | -1 = 1): WorkerCounters {
  const out = zeroCounters();
  for (const name of FIELDS) {
    out[name] = name === "active" ? a.active + (sign === 1 ? b.active : 0) : a[name] + sign * b[name];
  }
  return out;
}
