import assert from "node:assert/strict";
import { F_DUPFD_CLOEXEC, F_SETPIPE_SZ, type Libc } from "../../ffi/libc.ts";
import { findSocketFd } from "../../ffi/socket_fd.ts";
import { SpliceCore } from "../../ffi/_splice_core.ts";
import { END_EOF } from "../../ffi/_splice_shared.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, tcpPair } from "./_util.ts";
import { Pattern } from "./_splice_util.ts";

const libc = await libcOrFail();
const MiB = 1024 * 1024;

/** The real bindings, except that the first `refusals` F_SETPIPE_SZ calls fail (as past fs.pipe-user-pages-soft). */
function refusingLibc(refusals: number): Libc {
  let left = refusals;
  return {
    ...libc,
    fcntl(fd: number, cmd: number, arg: number): number {
      if (cmd === F_SETPIPE_SZ && left > 0) {
        left--;
        return -1;
      }
      return libc.fcntl(fd, cmd, arg);
    },
  };
}

/** Runs the core on this thread (polling epoll) until `done()`, with a clock that starts `offsetMs` ahead. */
async function drive(core: SpliceCore, done: () => boolean, offsetMs: number): Promise<void> {
  for (let i = 0; !done(); i++) {
    if (i > 20_000) throw new Error("the core made no progress");
    core.now = performance.now() + offsetMs;
    core.step(libc.epoll_wait(core.ep, core.events.bytes, core.events.capacity, 0));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

test("SpliceCore halves the pipe size when F_SETPIPE_SZ is refused, and asks for more again later", async () => {
  await using left = await tcpPair();
  await using right = await tcpPair();
  const fdA = findSocketFd(left.server, libc)!, fdB = findSocketFd(right.client, libc)!;
  const ended: number[] = [];
  const counters = new Float64Array(3);
  const core = new SpliceCore(
    refusingLibc(2),
    { maxPairs: 1, pipeSize: MiB, maxPooledPipes: 0, wakeFd: -1 },
    counters,
    (_slot, end) => ended.push(end),
  );
  try {
    core.add(0, libc.fcntl(fdA, F_DUPFD_CLOEXEC, 0), libc.fcntl(fdB, F_DUPFD_CLOEXEC, 0), 0);
    const pattern = new Pattern(21);
    const writer = left.client.writable.getWriter();
    const reader = right.server.readable.getReader();
    let received = 0, exact = true;
    const batch = async (from: number, to: number, offsetMs: number) => {
      const writing = (async () => {
        for (let at = from; at < to; at += MiB) await writer.write(pattern.slice(at, Math.min(MiB, to - at)));
      })();
      let reading = true;
      const readAll = (async () => {
        while (received < to) {
          const { value } = await reader.read();
          if (!value) break;
          exact &&= pattern.matches(value, received);
          received += value.byteLength;
        }
        reading = false;
      })();
      await drive(core, () => !reading, offsetMs);
      await Promise.all([writing, readAll]);
    };
    await batch(0, 2 * MiB, 0);
    assert.equal(core.pipeRefusals, 2);
    assert.equal(core.pipeTarget, 256 * 1024, "1 MiB refused, 512 KiB refused, 256 KiB granted");
    await batch(2 * MiB, 4 * MiB, 11_000); // past the retry delay: the size doubles back, step by step
    assert.equal(core.pipeRefusals, 2);
    assert.equal(core.pipeTarget, MiB);
    assert.deepEqual([received, exact], [4 * MiB, true]);
    assert.equal(counters[0], 4 * MiB);
    writer.releaseLock();
    reader.releaseLock();
    await left.client.closeWrite();
    await right.server.closeWrite();
    await drive(core, () => ended.length > 0, 11_000);
    assert.deepEqual(ended, [END_EOF]);
    assert.equal(core.liveCount, 0);
    assert.equal(core.pipesInUse, 0);
  } finally {
    core.close();
  }
});
