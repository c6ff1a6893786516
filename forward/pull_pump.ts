/**
 * The native pump for pull-style conns (Deno TCP): a read/write loop per direction on a reused
 * buffer, which costs far less CPU than piping web streams.
 *
 * Memory: an idle direction holds only a {@linkcode SMALL_READ_BYTES} buffer; a direction whose
 * reads fill that buffer switches to a pooled `bufferSize` buffer and gives it back once reads
 * turn small again. A direction never reads again before its last chunk was fully written, so
 * at most one buffer per direction is in flight (backpressure comes for free). With a memory
 * budget, the large buffer is reserved from it first; when the budget is spent the direction keeps
 * reading through its small buffer (slower, never stalled) and retries at the next full read.
 * @module
 */
import { nativeIO, type PullIO } from "../protocols/_native_io.ts";
import type { Conn } from "../protocols/types.ts";
import { sharedBufferPool } from "./buffer_pool.ts";
import type { FastPath, FastPathResult, MemoryReservation, PumpOptions } from "./types.ts";

/** Size of the read buffer an idle direction holds (and the read size below which a large buffer is given back). */
export const SMALL_READ_BYTES = 512;

/** Shared by the two directions of a pair: the first failure closes both sides. */
interface PairState {
  readonly a: Conn;
  readonly b: Conn;
  failure?: { error: unknown };
}

async function pumpDirection(
  from: PullIO,
  to: PullIO,
  aToB: boolean,
  options: PumpOptions,
  state: PairState,
): Promise<void> {
  const pool = options.reuseBuffers ? sharedBufferPool(options.bufferSize) : undefined;
  const counters = options.counters;
  const small = new Uint8Array(SMALL_READ_BYTES);
  let big: Uint8Array | undefined;
  let buffer: Uint8Array = small;
  let reserved: MemoryReservation | undefined;
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      let written = await to.write(n === buffer.byteLength ? buffer : buffer.subarray(0, n));
      if (written < n) {
        counters.pauses++; // the kernel's send buffer was full: we wait for it to drain
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
      if (aToB) counters.aToB += n;
      else counters.bToA += n;
      if (buffer === small) {
        if (n === SMALL_READ_BYTES && (!options.memory || (reserved = options.memory.tryReserve(options.bufferSize)))) {
          buffer = big ??= pool?.get() ?? new Uint8Array(options.bufferSize);
        }
      } else if (n <= SMALL_READ_BYTES && pool && big) {
        pool.put(big);
        big = undefined;
        buffer = small;
        reserved?.release();
        reserved = undefined;
      }
    }
    await to.closeWrite();
  } catch (error) {
    // A failure in one direction ends the pair: closing both sides unblocks the other direction.
    state.failure ??= { error };
    state.a.close();
    state.b.close();
  } finally {
    if (big) pool?.put(big);
    reserved?.release();
  }
}

const HANDLED: FastPathResult = { handled: true, path: "pull-pump" };
const DECLINED: FastPathResult = { handled: false, reason: "a side does not offer pull I/O" };

/** The read/write-loop fast path; handles pairs where both sides offer pull I/O. */
export const pullPump: FastPath = {
  name: "pull-pump",
  // Not an async function: a pair forwarded for hours should not keep one more suspended frame.
  tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult> {
    const ioA = nativeIO(a);
    const ioB = nativeIO(b);
    if (ioA?.kind !== "pull" || ioB?.kind !== "pull") return Promise.resolve(DECLINED);
    const state: PairState = { a, b };
    return Promise.all([pumpDirection(ioA, ioB, true, options, state), pumpDirection(ioB, ioA, false, options, state)])
      .then(() => {
        if (state.failure) throw state.failure.error;
        return HANDLED;
      });
  },
};
