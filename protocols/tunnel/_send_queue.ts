/**
 * Internal: the send side of a mux stream. Writes are queued by reference (no copy); the session
 * writer copies bytes straight from them into its batch, and a write resolves once its last byte
 * was copied. A write whose caller will not reuse the chunk (a web-stream write) resolves at once
 * while the queue holds at most {@linkcode SEND_BUFFER_BYTES}, so a writer can run ahead of the
 * session writer by that much.
 * @module
 */

/** Bytes a stream's web-stream writes may queue before a write waits for the session writer. */
export const SEND_BUFFER_BYTES = 64 * 1024;

interface Entry {
  data: Uint8Array;
  offset: number;
  resolve: (() => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
}

/** A FIFO of pending writes. */
export class SendQueue {
  #entries: (Entry | undefined)[] = [];
  #head = 0;
  #bytes = 0;

  /** Bytes not yet copied out. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues `data` (not copied). With `retain`, the caller promises not to reuse `data`, so the
   * write may resolve before it is copied out.
   */
  enqueue(data: Uint8Array, retain: boolean): Promise<void> {
    const early = retain && this.#bytes + data.byteLength <= SEND_BUFFER_BYTES;
    const entry: Entry = { data, offset: 0, resolve: undefined, reject: undefined };
    const promise = early ? Promise.resolve() : new Promise<void>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.#entries.push(entry);
    this.#bytes += data.byteLength;
    return promise;
  }

  /** Queues a copy of `data`; nobody waits for it. */
  enqueueCopy(data: Uint8Array): void {
    this.#entries.push({ data: data.slice(), offset: 0, resolve: undefined, reject: undefined });
    this.#bytes += data.byteLength;
  }

  /** Copies the next `n` bytes (at most {@linkcode SendQueue.bytes}) into `out` at `at`, resolving completed writes. */
  copyOut(out: Uint8Array, at: number, n: number): void {
    let filled = 0;
    while (filled < n) {
      const entry = this.#entries[this.#head]!;
      const take = Math.min(n - filled, entry.data.byteLength - entry.offset);
      out.set(entry.data.subarray(entry.offset, entry.offset + take), at + filled);
      entry.offset += take;
      filled += take;
      if (entry.offset === entry.data.byteLength) {
        entry.resolve?.();
        this.#entries[this.#head++] = undefined;
      }
    }
    this.#bytes -= n;
    if (this.#head === this.#entries.length) {
      this.#entries.length = 0;
      this.#head = 0;
    } else if (this.#head >= 64 && this.#head * 2 >= this.#entries.length) {
      this.#entries.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Resolves every pending write now, copying what is left of each, so callers may reuse their buffers. */
  settleAll(): void {
    for (let i = this.#head; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      if (!entry.resolve) continue;
      entry.data = entry.data.slice(entry.offset);
      entry.offset = 0;
      entry.resolve();
      entry.resolve = entry.reject = undefined;
    }
  }

  /** Rejects every pending write with `error` and drops all queued bytes. */
  fail(error: unknown): void {
    for (let i = this.#head; i < this.#entries.length; i++) this.#entries[i]!.reject?.(error);
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
