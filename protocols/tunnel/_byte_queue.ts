/**
 * Internal: the receive queue of a mux stream. It keeps memory close to the bytes it holds:
 * - a payload may be *borrowed* (kept as a view into the session's read buffer, no copy), but at
 *   most {@linkcode MAX_BORROWED} at a time, so a stream retains at most that many read buffers;
 * - small payloads that arrive while the reader is behind are packed into shared
 *   {@linkcode PACK_BYTES} buffers, so a flood of 1-byte frames costs bytes, not objects.
 * @module
 */

/** Most borrowed views a queue holds at once. */
export const MAX_BORROWED = 4;
/** Payloads below this size are packed when the queue is not empty. */
const SMALL_BYTES = 2048;
/** Size of a packing buffer. */
const PACK_BYTES = 16 * 1024;

/** What the queue may do with a payload it is given. */
export type PayloadOwnership =
  /** The caller reuses the bytes: copy them. */
  | "copy"
  /** The bytes are a view into a buffer the caller will not reuse: keep the view if allowed. */
  | "borrow"
  /** The bytes are a fresh allocation of exactly this payload: keep them. */
  | "own";

/** A FIFO of byte chunks with cheap partial reads. */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #borrowedFlags: boolean[] = [];
  #head = 0;
  #headOffset = 0;
  #bytes = 0;
  #borrowed = 0;
  /** The packing buffer backing the last chunk, while that chunk may still grow. */
  #pack: Uint8Array | undefined;
  #packFill = 0;

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Appends a payload.
   * @returns True if the queue kept a view into the caller's buffer (the caller must not reuse it).
   */
  push(payload: Uint8Array, ownership: PayloadOwnership): boolean {
    const n = payload.byteLength;
    if (n === 0) return false;
    this.#bytes += n;
    if (ownership === "own") {
      this.#append(payload, false);
      return false;
    }
    if (ownership === "borrow" && this.#borrowed < MAX_BORROWED) {
      this.#append(payload, true);
      return true;
    }
    if (n < SMALL_BYTES && this.#chunks.length > this.#head) {
      const pack = this.#pack;
      const last = this.#chunks.length - 1;
      if (pack && PACK_BYTES - this.#packFill >= n) {
        pack.set(payload, this.#packFill);
        const start = this.#chunks[last].byteOffset;
        this.#packFill += n;
        this.#chunks[last] = pack.subarray(start, this.#packFill);
        return false;
      }
      const fresh = new Uint8Array(PACK_BYTES);
      fresh.set(payload);
      this.#append(fresh.subarray(0, n), false);
      this.#pack = fresh;
      this.#packFill = n;
      return false;
    }
    this.#append(payload.slice(), false);
    return false;
  }

  #append(chunk: Uint8Array, borrowed: boolean): void {
    this.#chunks.push(chunk);
    this.#borrowedFlags.push(borrowed);
    if (borrowed) this.#borrowed++;
    this.#pack = undefined;
  }

  /** Removes and returns up to `max` bytes from the head chunk (a view), or `undefined` when empty. */
  take(max: number = Infinity): Uint8Array | undefined {
    if (this.#bytes === 0) return undefined;
    const chunk = this.#chunks[this.#head];
    const left = chunk.byteLength - this.#headOffset;
    if (left > max) {
      const out = chunk.subarray(this.#headOffset, this.#headOffset + max);
      this.#headOffset += max;
      this.#bytes -= max;
      return out;
    }
    const out = this.#headOffset === 0 ? chunk : chunk.subarray(this.#headOffset);
    this.#bytes -= left;
    this.#dropHead();
    return out;
  }

  /** Copies up to `target.byteLength` bytes into `target`; returns the count. */
  readInto(target: Uint8Array): number {
    let filled = 0;
    while (filled < target.byteLength && this.#bytes > 0) {
      const chunk = this.take(target.byteLength - filled)!;
      target.set(chunk, filled);
      filled += chunk.byteLength;
    }
    return filled;
  }

  #dropHead(): void {
    if (this.#borrowedFlags[this.#head]) this.#borrowed--;
    this.#headOffset = 0;
    this.#head++;
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#borrowedFlags.length = 0;
      this.#head = 0;
      this.#pack = undefined; // the packed chunk left the queue: the next one starts fresh
    } else if (this.#head >= 64 && this.#head * 2 >= this.#chunks.length) {
      this.#chunks.splice(0, this.#head);
      this.#borrowedFlags.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Drops everything. */
  clear(): void {
    this.#chunks = [];
    this.#borrowedFlags = [];
    this.#head = 0;
    this.#headOffset = 0;
    this.#bytes = 0;
    this.#borrowed = 0;
    this.#pack = undefined;
  }
}
