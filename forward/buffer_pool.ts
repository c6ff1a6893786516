/**
 * A pool of equally sized byte buffers, so bulk transfers reuse memory and idle
 * connections hold none.
 * @module
 */

/** Default number of free buffers a pool keeps. */
export const DEFAULT_POOL_MAX_FREE = 64;

/** Reuses fixed-size `Uint8Array`s. Buffers beyond `maxFree` are left to the garbage collector. */
export class BufferPool {
  /** Size of every buffer, in bytes. */
  readonly size: number;
  #free: Uint8Array[] = [];
  #maxFree: number;

  /**
   * Creates a pool of `size`-byte buffers.
   *
   * @param size Bytes per buffer.
   * @param maxFree Free buffers kept for reuse. @default {64}
   * @throws {RangeError} If `size` is not a positive integer.
   */
  constructor(size: number, maxFree: number = DEFAULT_POOL_MAX_FREE) {
    if (!Number.isInteger(size) || size <= 0) {
      throw new RangeError(`Cannot create BufferPool as 'size' must be a positive integer: current value is ${size}`);
    }
    this.size = size;
    this.#maxFree = maxFree;
  }

  /** Takes a buffer (a fresh one when none is free). */
  get(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Returns a buffer taken with {@linkcode BufferPool.get}. */
  put(buffer: Uint8Array): void {
    if (buffer.byteLength === this.size && this.#free.length < this.#maxFree) this.#free.push(buffer);
  }

  /** Number of free buffers held. */
  get free(): number {
    return this.#free.length;
  }
}

const pools = new Map<number, BufferPool>();

/** The process-wide pool for buffers of `size` bytes. */
export function sharedBufferPool(size: number): BufferPool {
  let pool = pools.get(size);
  if (!pool) pools.set(size, pool = new BufferPool(size));
  return pool;
}
