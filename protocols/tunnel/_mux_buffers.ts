/**
 * Internal: the read buffers of a mux session's reader. Received `DATA` payloads stay in the
 * buffer they were read into (streams keep views, no copy); a buffer goes back to its pool once
 * the reader has moved on and every view was read out (copied by a pull read, or handed to a
 * push sink that does not keep it). A view handed to the application as it is (a web-stream
 * chunk) marks the buffer *escaped*: it is left to the garbage collector, never reused.
 * @module
 */

/** A read buffer and the count of its users (the reader, and each stream chunk viewing it). */
export class ReadBuffer {
  readonly bytes: Uint8Array;
  readonly #pool: ReadBufferPool | undefined;
  #refs = 1;
  #escaped = false;

  constructor(bytes: Uint8Array, pool?: ReadBufferPool) {
    this.bytes = bytes;
    this.#pool = pool;
  }

  /** True while someone besides the reader holds a view. */
  get shared(): boolean {
    return this.#refs > 1 || this.#escaped;
  }

  /** One more view is kept. */
  retain(): void {
    this.#refs++;
  }

  /** A view was read out (or dropped); the last release returns the buffer to its pool. */
  release(): void {
    if (--this.#refs === 0 && !this.#escaped) this.#pool?.put(this);
  }

  /** A view left for the application: the buffer is never reused. */
  escape(): void {
    this.#escaped = true;
  }

  /** Pool use only: the buffer was taken again. */
  reset(): void {
    this.#refs = 1;
  }
}

/** Free read buffers of one size; holds at most `maxFree` of them. */
export class ReadBufferPool {
  readonly size: number;
  readonly #maxFree: number;
  #free: ReadBuffer[] = [];

  constructor(size: number, maxFree: number) {
    this.size = size;
    this.#maxFree = maxFree;
  }

  /** A buffer with the caller as its only user. */
  get(): ReadBuffer {
    const buffer = this.#free.pop();
    if (!buffer) return new ReadBuffer(new Uint8Array(this.size), this);
    buffer.reset();
    return buffer;
  }

  put(buffer: ReadBuffer): void {
    if (this.#free.length < this.#maxFree) this.#free.push(buffer);
  }

  /** Drops the free buffers (the session is idle, or ended). */
  clear(): void {
    this.#free = [];
  }
}
