/**
 * Internal: the Worker that runs the owned-sockets forwarder's loop ({@linkcode OwnedLoop}), started
 * by `owned_splice.ts` with the shared memory as `workerData`; loads its own libc bindings (errno is
 * per thread). It blocks in `epoll_wait` between events; the main thread's commands arrive through
 * shared memory and the wake eventfd, so no message is needed to reach it.
 *
 * Messages to the main thread: `{ type: "ready" }`, `{ type: "drained" }` (listening stopped and
 * the last connection ended), `{ type: "stopped" }` (every socket closed), `{ type: "failed", message }`.
 *
 * The loop runs in slices of at most {@linkcode SLICE_MS}, yielding to the Worker's event loop
 * between them.
 * @module
 */
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { setImmediate } from "node:timers";
import { EINTR, type Libc } from "./libc.ts";
import { loadLibc } from "./load.ts";
import { OwnedLoop } from "./_owned_loop.ts";
import type { OwnedShared } from "./_owned_shared.ts";

/** Longest run of the loop before it yields to the Worker's event loop. */
const SLICE_MS = 50;
/** Upper bound on waits per slice. */
const SLICE_WAITS = 100_000;

function run(libc: Libc, loop: OwnedLoop, port: MessagePort): void {
  let drainedSent = false;
  const slice = () => {
    try {
      const core = loop.core, events = core.events;
      let now = performance.now();
      const until = now + SLICE_MS;
      for (let i = 0; i < SLICE_WAITS; i++) {
        loop.takeCommand();
        if (loop.closed) {
          port.postMessage({ type: "stopped" });
          return;
        }
        if (loop.draining && loop.active === 0 && !drainedSent) {
          drainedSent = true;
          port.postMessage({ type: "drained" });
        }
        const n = libc.epoll_wait(core.ep, events.bytes, events.capacity, loop.timeoutMs(now));
        if (n < 0 && libc.errno() !== EINTR) throw new Error(`epoll_wait failed: ${libc.strerror(libc.errno())}`);
        now = performance.now();
        loop.step(n, now);
        if (now >= until) break;
      }
      setImmediate(slice);
    } catch (error) {
      port.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    }
  };
  slice();
}

const port = parentPort as MessagePort;
const shared = workerData as OwnedShared;
const libc = await loadLibc();
if (!libc) port.postMessage({ type: "failed", message: "the Worker cannot load libc" });
else {
  let loop: OwnedLoop | undefined;
  try {
    loop = new OwnedLoop(libc, shared);
  } catch (error) {
    port.postMessage({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  }
  if (loop) {
    port.postMessage({ type: "ready" });
    run(libc, loop, port);
  }
}
