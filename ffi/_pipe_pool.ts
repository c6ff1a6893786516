/**
 * Internal: the splice engine's pipes. A direction takes a pipe only while bytes are in flight and
 * gives it back as soon as it is empty, so an idle pair holds no pipe. Empty pipes are kept for
 * reuse, up to a bound (pooled pipes count against the user's pipe quota too).
 *
 * Sizing: new pipes are resized with `F_SETPIPE_SZ`, and the size granted (its result) is what the
 * engine uses. A refusal (a user past `fs.pipe-user-pages-soft`, or a size above
 * `fs.pipe-max-size` without `CAP_SYS_RESOURCE`) halves the size asked for next, down to
 * {@linkcode MIN_PIPE_SIZE}, below which the kernel default is kept; after
 * {@linkcode PIPE_RETRY_MS} without a refusal the size doubles again, up to the one configured.
 * @module
 */
import { F_GETPIPE_SZ, F_SETPIPE_SZ, type Libc, O_CLOEXEC, O_NONBLOCK } from "./libc.ts";

/** The smallest pipe size worth asking for; below it the kernel default is kept. */
export const MIN_PIPE_SIZE = 64 * 1024;
/** After a refused `F_SETPIPE_SZ`, wait this long before asking for a larger size again. */
export const PIPE_RETRY_MS = 10_000;

/** Pipes for the splice engine. Not thread-safe: the loop's thread owns it. */
export class PipePool {
  /** After a successful {@linkcode PipePool.take}: the read end. */
  r = -1;
  /** After a successful {@linkcode PipePool.take}: the write end. */
  w = -1;
  /** After a successful {@linkcode PipePool.take}: the capacity in bytes. */
  size = 0;
  /** Pipes taken and not given back. */
  inUse = 0;
  /** Times `F_SETPIPE_SZ` was refused. */
  refusals = 0;
  /** Pipes created so far. */
  created = 0;
  #libc: Libc;
  #wanted: number;
  #target: number;
  #lastRefusal = -Infinity;
  #poolR: Int32Array;
  #poolW: Int32Array;
  #poolSize: Int32Array;
  #count = 0;
  #fds = new Int32Array(2);

  /**
   * @param libc The bindings of the loop's thread.
   * @param pipeSize The size to ask for (0 keeps the kernel default).
   * @param maxPooled Empty pipes kept for reuse.
   */
  constructor(libc: Libc, pipeSize: number, maxPooled: number) {
    this.#libc = libc;
    this.#wanted = pipeSize;
    this.#target = pipeSize;
    this.#poolR = new Int32Array(maxPooled);
    this.#poolW = new Int32Array(maxPooled);
    this.#poolSize = new Int32Array(maxPooled);
  }

  /** Empty pipes kept for reuse. */
  get pooled(): number {
    return this.#count;
  }

  /** The size asked for now (0: the kernel default). */
  get target(): number {
    return this.#target;
  }

  /**
   * Takes a pooled pipe or makes one; its ends and size are then in `r`, `w` and `size` (no
   * allocation). `now` (ms) paces the size's recovery after refusals.
   * @returns False, with errno set, when no pipe can be made (`EMFILE`, `ENFILE`).
   */
  take(now: number): boolean {
    if (this.#count > 0) {
      const i = --this.#count;
      this.r = this.#poolR[i];
      this.w = this.#poolW[i];
      this.size = this.#poolSize[i];
      this.inUse++;
      return true;
    }
    const libc = this.#libc;
    if (libc.pipe2(this.#fds, O_NONBLOCK | O_CLOEXEC) !== 0) return false;
    const w = this.#fds[1];
    this.created++;
    if (this.#target < this.#wanted && now - this.#lastRefusal >= PIPE_RETRY_MS) {
      this.#target = Math.min(this.#wanted, Math.max(MIN_PIPE_SIZE, this.#target * 2));
    }
    let size = -1;
    if (this.#target > 0) {
      size = libc.fcntl(w, F_SETPIPE_SZ, this.#target); // the size granted (rounded up), or -1
      if (size < 0) {
        this.refusals++;
        this.#lastRefusal = now;
        const half = this.#target >>> 1;
        this.#target = half >= MIN_PIPE_SIZE ? half : 0;
      }
    }
    if (size <= 0) size = libc.fcntl(w, F_GETPIPE_SZ, 0);
    this.r = this.#fds[0];
    this.w = w;
    this.size = size > 0 ? size : 4096; // F_GETPIPE_SZ cannot fail on a pipe; never use capacity 0
    this.inUse++;
    return true;
  }

  /** Gives a pipe back: pooled when empty and not smaller than today's size, else closed. */
  release(r: number, w: number, size: number, empty: boolean): void {
    this.inUse--;
    // A pipe made small while sizes were refused is replaced once they recover.
    if (empty && this.#count < this.#poolR.length && size >= Math.min(this.#target, this.#wanted)) {
      const i = this.#count++;
      this.#poolR[i] = r;
      this.#poolW[i] = w;
      this.#poolSize[i] = size;
      return;
    }
    this.#libc.close(r);
    this.#libc.close(w);
  }

  /** Closes the pooled pipes. */
  close(): void {
    for (let i = 0; i < this.#count; i++) {
      this.#libc.close(this.#poolR[i]);
      this.#libc.close(this.#poolW[i]);
    }
    this.#count = 0;
  }
}
