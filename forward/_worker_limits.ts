/**
 * Internal: connection limits shared by a tunnel's worker threads. `maxConnections` and
 * `maxConnectionsPerIp` are counters in a `SharedArrayBuffer`, taken with a compare-and-swap
 * (`Atomics`), so N accept loops together never admit more than the configured number.
 *
 * Per source IP, addresses are hashed into {@linkcode IP_BUCKETS} counters: two addresses that
 * share a bucket share its limit (refused early, never admitted beyond it). Each worker also counts
 * what it holds, so a worker that dies can have its permits given back by the main thread.
 * @module
 */
import type { Permit } from "../ha/limiter.ts";
import { OncePermit } from "../ha/_permit.ts";

/** Counters per source IP (hashed). */
export const IP_BUCKETS = 65_536;

/** The shared memory of {@linkcode SharedConnectionLimits}; sent to every worker. */
export interface SharedLimitsMemory {
  /** `[0]`: connections open in all workers; `[1 + i]`: held by worker `i`. */
  readonly counts: SharedArrayBuffer;
  /** Per IP bucket: open in all workers (absent without `maxConnectionsPerIp`). */
  readonly perIp?: SharedArrayBuffer;
  /** Per worker and IP bucket: held by that worker (absent without `maxConnectionsPerIp`). */
  readonly perIpHeld?: SharedArrayBuffer;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
}

/** Allocates the shared counters for `workers` accept loops. */
export function allocateSharedLimits(
  workers: number,
  maxConnections: number,
  maxConnectionsPerIp: number,
): SharedLimitsMemory {
  const perIp = maxConnectionsPerIp > 0;
  return {
    counts: new SharedArrayBuffer(4 * (1 + workers)),
    perIp: perIp ? new SharedArrayBuffer(4 * IP_BUCKETS) : undefined,
    perIpHeld: perIp ? new SharedArrayBuffer(4 * IP_BUCKETS * workers) : undefined,
    maxConnections,
    maxConnectionsPerIp,
  };
}

/** FNV-1a of the address text, folded into a bucket index. */
function bucketOf(ip: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) hash = Math.imul(hash ^ ip.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % IP_BUCKETS;
}

/** Adds 1 to `array[index]` unless it is at `max`; true when it did. */
function incrementBelow(array: Int32Array, index: number, max: number): boolean {
  for (let current = Atomics.load(array, index); current < max;) {
    const seen = Atomics.compareExchange(array, index, current, current + 1);
    if (seen === current) return true;
    current = seen;
  }
  return false;
}

/** One worker's view of the shared counters; the shape {@linkcode Admission} takes. */
export class SharedConnectionLimits {
  readonly #counts: Int32Array;
  readonly #perIp?: Int32Array;
  readonly #held?: Int32Array;
  readonly #slot: number;
  readonly #max: number;
  readonly #maxPerIp: number;

  /**
   * @param memory The shared counters.
   * @param worker This worker's index.
   */
  constructor(memory: SharedLimitsMemory, worker: number) {
    this.#counts = new Int32Array(memory.counts);
    if (memory.perIp && memory.perIpHeld) {
      this.#perIp = new Int32Array(memory.perIp);
      this.#held = new Int32Array(memory.perIpHeld, 4 * IP_BUCKETS * worker, IP_BUCKETS);
    }
    this.#slot = 1 + worker;
    this.#max = memory.maxConnections > 0 ? memory.maxConnections : 0x7fffffff;
    this.#maxPerIp = memory.maxConnectionsPerIp > 0 ? memory.maxConnectionsPerIp : 0x7fffffff;
  }

  /** Connections open in all workers. */
  get active(): number {
    return Atomics.load(this.#counts, 0);
  }

  /** Connections open in all workers from `ip`'s bucket. */
  perKey(ip: string): number {
    return this.#perIp ? Atomics.load(this.#perIp, bucketOf(ip)) : 0;
  }

  /** Takes a slot in both limits, or none; `undefined` at a limit. */
  tryAcquire(ip: string): Permit | undefined {
    const counts = this.#counts;
    if (!incrementBelow(counts, 0, this.#max)) return undefined;
    const perIp = this.#perIp;
    const bucket = perIp ? bucketOf(ip) : -1;
    if (perIp && !incrementBelow(perIp, bucket, this.#maxPerIp)) {
      Atomics.sub(counts, 0, 1);
      return undefined;
    }
    Atomics.add(counts, this.#slot, 1);
    if (this.#held) Atomics.add(this.#held, bucket, 1);
    return new OncePermit(() => {
      if (perIp) {
        Atomics.sub(perIp, bucket, 1);
        Atomics.sub(this.#held!, bucket, 1);
      }
      Atomics.sub(counts, this.#slot, 1);
      Atomics.sub(counts, 0, 1);
    });
  }
}

/**
 * Gives back every slot a dead worker held (main thread, after the worker exited: nothing of it
 * runs any more).
 */
export function releaseWorkerSlots(memory: SharedLimitsMemory, worker: number): void {
  const counts = new Int32Array(memory.counts);
  const held = Atomics.exchange(counts, 1 + worker, 0);
  if (held) Atomics.sub(counts, 0, held);
  if (!memory.perIp || !memory.perIpHeld) return;
  const perIp = new Int32Array(memory.perIp);
  const mine = new Int32Array(memory.perIpHeld, 4 * IP_BUCKETS * worker, IP_BUCKETS);
  for (let i = 0; i < IP_BUCKETS; i++) {
    const n = mine[i];
    if (n) {
      Atomics.sub(perIp, i, n);
      mine[i] = 0;
    }
  }
}
