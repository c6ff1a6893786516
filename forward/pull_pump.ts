/**
 * The native pump for pull-style conns (Deno TCP): a read/write loop per direction on a reused
 * buffer, which costs far less CPU than piping web streams.
 *
 * Memory: an idle direction holds only a {@linkcode SMALL_READ_BYTES} buffer; a direction whose
 * reads fill that buffer switches to a pooled `bufferSize` buffer and gives it back once reads
 * turn small again. A direction never reads again before its last chunk was fully written, so
 * at most one buffer per direction is in flight (backpressure comes for free).
 * @module
 */
import { nativeIO, type PullIO } from "../protocols/_native_io.ts";
import type { Conn } from "../protocols/types.ts";
import { sharedBufferPool } from "./buffer_pool.ts";
import type { FastPath, FastPathResult, ForwardCounters, PumpOptions } from "./types.ts";

/** Size of the read buffer an idle direction holds (and the read size below which a large buffer is given back). */
export const SMALL_READ_BYTES = 512;

async function pumpDirection(
  from: PullIO,
  to: PullIO,
  count: (counters: ForwardCounters, n: number) => void,
  options: PumpOptions,
): Promise<void> {
  const pool = options.reuseBuffers ? sharedBufferPool(options.bufferSize) : undefined;
  const small = new Uint8Array(SMALL_READ_BYTES);
  let big: Uint8Array | undefined;
  let buffer: Uint8Array = small;
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      let written = await to.write(n === buffer.byteLength ? buffer : buffer.subarray(0, n));
      if (written < n) {
        options.counters.pauses++; // the kernel's send buffer was full: we wait for it to drain
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
      count(options.counters, n);
      if (buffer === small) {
        if (n === SMALL_READ_BYTES) buffer = big ??= pool?.get() ?? new Uint8Array(options.bufferSize);
      } else if (n <= SMALL_READ_BYTES && pool && big) {
        pool.put(big);
        big = undefined;
        buffer = small;
      }
    }
  } finally {
    if (big) pool?.put(big);
  }
  await to.closeWrite();
}

const countAToB = (c: ForwardCounters, n: number) => void (c.aToB += n);
const countBToA = (c: ForwardCounters, n: number) => void (c.bToA += n);

/** The read/write-loop fast path; handles pairs where both sides offer pull I/O. */
export const pullPump: FastPath = {
  name: "pull-pump",
  async tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult> {
    const ioA = nativeIO(a);
    const ioB = nativeIO(b);
    if (ioA?.kind !== "pull" || ioB?.kind !== "pull") {
      return { handled: false, reason: "a side does not offer pull I/O" };
    }
    // A failure in one direction ends the pair: closing both sides unblocks the other direction.
    let firstError: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      firstError ??= { error };
      a.close();
      b.close();
    };
    await Promise.all([
      pumpDirection(ioA, ioB, countAToB, options).catch(fail),
      pumpDirection(ioB, ioA, countBToA, options).catch(fail),
    ]);
    if (firstError) throw firstError.error;
    return { handled: true, path: "pull-pump" };
  },
};
