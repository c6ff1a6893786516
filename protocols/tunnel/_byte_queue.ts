/**
 * Internal: the receive queue of a mux stream. It keeps memory close to the bytes it holds:
 * - a payload may be *borrowed* (kept as a view into the session's read buffer, no copy), but
 *   the distinct buffers a queue pins this way total at most {@linkcode MAX_PINNED_BYTES} (one
 *   buffer always; consecutive payloads from one buffer pin it once);
 * - small payloads that arrive while the reader is behind are packed into shared
 *   {@linkcode PACK_BYTES} buffers, so a flood of 1-byte frames costs bytes, not objects.
 * A borrowed payload from a pooled {@linkcode ReadBuffer} holds a reference on it until the
 * payload is read out, so the reader can reuse the buffer afterwards.
 * @module
 */
import type { ReadBuffer } from "./_mux_buffers.ts";

/** Most bytes of read buffers one queue pins with borrowed views (beyond its first buffer). */
export const MAX_PINNED_BYTES = 256 * 1024;
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

const OWNED = 0;
const BORROWED = 1;
/** Borrowed, and the last queued chunk of its buffer: dropping it unpins the buffer. */
const BORROWED_LAST = 2;

/** A FIFO of byte chunks with cheap partial reads. */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #flags: number[] = [];
  #leases: (ReadBuffer | undefined)[] = [];
  #head = 0;
  #headOffset = 0;
  #bytes = 0;
  /** Bytes of the distinct buffers pinned by borrowed chunks. */
  #pinned = 0;
  /** The packing buffer backing the last chunk, while that chunk may still grow. */
  #pack: Uint8Array | undefined;
  #packFill = 0;

  /** Bytes queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Appends a payload. `lease` is the pooled buffer a borrowed payload views, if any.
   * @returns True if the queue kept a view into the caller's buffer (the caller must not reuse it).
   */
  push(payload: Uint8Array, ownership: PayloadOwnership, lease?: ReadBuffer): boolean {
    const n = payload.byteLength;
    if (n === 0) return false;
    this.#bytes += n;
    if (ownership === "own") {
      this.#append(payload, OWNED, undefined);
      return false;
    }
    if (ownership === "borrow") {
      const last = this.#chunks.length - 1;
      if (last >= this.#head && this.#flags[last] === BORROWED_LAST && this.#chunks[last].buffer === payload.buffer) {
        this.#flags[last] = BORROWED; // same buffer as the tail: it is pinned already
        lease?.retain();
        this.#append(payload, BORROWED_LAST, lease);
        return true;
      }
      const size = payload.buffer.byteLength;
      if (this.#pinned === 0 || this.#pinned + size <= MAX_PINNED_BYTES) {
        this.#pinned += size;
        lease?.retain();
        this.#append(payload, BORROWED_LAST, lease);
        return true;
      }
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
      this.#append(fresh.subarray(0, n), OWNED, undefined);
      this.#pack = fresh;
      this.#packFill = n;
      return false;
    }
    this.#append(payload.slice(), OWNED, undefined);
    return false;
  }

  #append(chunk: Uint8Array, flag: number, lease: ReadBuffer | undefined): void {
    this.#chunks.push(chunk);
    this.#flags.push(flag);
    this.#leases.push(lease);
    this.#pack = undefined;
  }

  /**
   * Removes and returns up to `max` bytes from the head chunk as a view, or `undefined` when
   * empty. With `keep`, the caller may keep the view (its buffer is never reused); without, the
   * caller must be done with it before it next awaits.
   */
  take(max: number = Infinity, keep = true): Uint8Array | undefined {
    if (this.#bytes === 0) return undefined;
    const chunk = this.#chunks[this.#head];
    if (keep) this.#leases[this.#head]?.escape();
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
      const chunk = this.take(target.byteLength - filled, false)!;
      target.set(chunk, filled);
      filled += chunk.byteLength;
    }
    return filled;
  }

  #dropHead(): void {
    const head = this.#head;
    const flag = this.#flags[head];
    if (flag === BORROWED_LAST) this.#pinned -= this.#chunks[head].buffer.byteLength;
    this.#leases[head]?.release();
    this.#leases[head] = undefined;
    this.#headOffset = 0;
    this.#head++;
    if (this.#head === this.#chunks.length) {
      this.#chunks.length = 0;
      this.#flags.length = 0;
      this.#leases.length = 0;
      this.#head = 0;
      this.#pack = undefined; // the packed chunk left the queue: the next one starts fresh
    } else if (this.#head >= 64 && this.#head * 2 >= this.#chunks.length) {
      this.#chunks.splice(0, this.#head);
      this.#flags.splice(0, this.#head);
      this.#leases.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Drops everything. */
  clear(): void {
    for (let i = this.#head; i < this.#leases.length; i++) this.#leases[i]?.release();
    this.#chunks = [];
    this.#flags = [];
    this.#leases = [];
    this.#head = 0;
    this.#headOffset = 0;
    this.#bytes = 0;
    this.#pinned = 0;
    this.#pack = undefined;
  }
}
