/**
 * The fallback that moves any pair: a read/write loop over each side's web streams. One chunk per
 * direction is in flight at a time, so memory stays bounded by the streams' own queues.
 * @module
 */
import type { Conn } from "../protocols/types.ts";
import type { FastPath, FastPathResult, ForwardCounters, PumpOptions } from "./types.ts";

async function copy(
  from: Conn,
  to: Conn,
  count: (counters: ForwardCounters, n: number) => void,
  options: PumpOptions,
): Promise<void> {
  const reader = from.readable.getReader();
  const writer = to.writable.getWriter();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (writer.desiredSize !== null && writer.desiredSize <= 0) options.counters.pauses++;
      await writer.ready;
      await writer.write(value);
      count(options.counters, value.byteLength);
    }
  } finally {
    reader.releaseLock();
    writer.releaseLock();
  }
  await to.closeWrite();
}

const countAToB = (c: ForwardCounters, n: number) => void (c.aToB += n);
const countBToA = (c: ForwardCounters, n: number) => void (c.bToA += n);

/** Moves any pair through its web streams; never declines. */
export const streamPipe: FastPath = {
  name: "stream-pipe",
  async tryForward(a: Conn, b: Conn, options: PumpOptions): Promise<FastPathResult> {
    let firstError: { error: unknown } | undefined;
    const fail = (error: unknown) => {
      firstError ??= { error };
      a.close();
      b.close();
    };
    await Promise.all([
      copy(a, b, countAToB, options).catch(fail),
      copy(b, a, countBToA, options).catch(fail),
    ]);
    if (firstError) throw firstError.error;
    return { handled: true, path: "stream-pipe" };
  },
};
