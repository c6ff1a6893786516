/**
 * Internal: the entry of one tunnel worker thread (started by `workers.ts` with a
 * {@linkcode WorkerInit} as `workerData`). It runs a whole {@linkcode Tunnel} on its own event
 * loop: a `SO_REUSEPORT` listener on the tunnel's port (the kernel spreads new connections over
 * the workers), limits shared with the other workers, its counters in shared memory, and the
 * observer events the main thread listens to sent as messages. `stop` drains it, `close` ends
 * every connection; either way it reports `stopped`, and the main thread ends the thread.
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { resolveTunnelConfig } from "./config.ts";
import { Tunnel, type TunnelObserver } from "./tunnel.ts";
import {
  assignWorkerRole,
  eventToWire,
  FORWARDED_EVENTS,
  type FromWorker,
  toWire,
  type ToWorker,
  type WorkerInit,
  workerShare,
} from "./_worker_context.ts";
import { SharedConnectionLimits } from "./_worker_limits.ts";
import { PUBLISH_INTERVAL_MS, publishCounters } from "./_worker_stats.ts";

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

let tunnel: Tunnel | undefined;
let publishQueued = false;
function publish(): void {
  publishQueued = false;
  if (tunnel) publishCounters(init.stats, init.index, tunnel);
}
/** Coalesces the events of one turn into one write of the row. */
function publishSoon(): void {
  if (publishQueued) return;
  publishQueued = true;
  setTimeout(publish, 0);
}

const observer: Record<string, (...args: unknown[]) => void> = {};
for (const name of FORWARDED_EVENTS) {
  const wanted = init.events.includes(name);
  observer[name] = (...args: unknown[]) => {
    publishSoon();
    if (wanted) send({ type: "event", name, args: eventToWire(name, args) });
  };
}

const options = { observer: observer as TunnelObserver };
assignWorkerRole(options, {
  limits: new SharedConnectionLimits(init.limits, init.index),
  firstId: init.index + 1,
  idStep: init.count,
  share: workerShare(resolveTunnelConfig(init.config), init.count),
});
const closing = new AbortController();
let timer: ReturnType<typeof setInterval> | undefined;

port.on("message", (message: ToWorker) => {
  if (message.type === "close") closing.abort();
  if (message.type !== "stop" && message.type !== "close") return;
  void (async () => {
    if (closing.signal.aborted) tunnel?.close();
    await tunnel?.stop({ signal: closing.signal });
    clearInterval(timer);
    publish();
    send({ type: "stopped" });
  })();
});

try {
  tunnel = new Tunnel(init.config, options);
  await tunnel.start();
  publish();
  timer = setInterval(() => {
    if (tunnel!.stats().active > 0) publish();
  }, PUBLISH_INTERVAL_MS);
  send({
    type: "listening",
    addr: tunnel.addr!,
    forwardPath: tunnel.forwardPath,
    spliceUnavailable: tunnel.spliceUnavailableReason,
    socketOptionsUnavailable: tunnel.socketOptionsUnavailableReason,
  });
} catch (error) {
  tunnel = undefined;
  send({ type: "failed", error: toWire(error) });
}
