/**
 * A quick relay benchmark for docs/SPLICE.md (not a test; not part of the suite): one connection
 * moves BYTES one way through a relay process, and the relay's throughput and CPU time (user +
 * system, all threads) are printed as JSON.
 *
 * ```sh
 * node_modules/.bin/deno run -A tests/ffi/_splice_bench.ts --relay deno --mode splice-worker
 * node_modules/.bin/deno run -A tests/ffi/_splice_bench.ts --relay deno --mode splice-main
 * node_modules/.bin/deno run -A tests/ffi/_splice_bench.ts --relay bun --mode pump
 * ```
 * Modes: `splice-worker` (epoll loop in a Worker), `splice-main` (Deno only: nonblocking
 * `epoll_wait`, splices on the main thread), `pump` (the native pull/push pumps, no FFI).
 * `direct` runs no relay (the baseline). The sender and the sink are socat processes (1 MiB
 * buffers, `/dev/zero` to `/dev/null`), cheap enough that the relay is what is measured; the relay
 * is a child process that reports its own CPU time (`process.cpuUsage()`, all threads).
 * @module
 */
import { spawn } from "node:child_process";
import net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { DEFAULT_FAST_PATHS, forward } from "../../forward/engine.ts";
import type { FastPath } from "../../forward/types.ts";
import { createSpliceEngine } from "../../ffi/splice_engine.ts";
import type { SpliceLoopMode } from "../../ffi/splice_options.ts";
import { createSplicePath } from "../../ffi/splice_path.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    relay: { type: "string", default: "deno" },
    mode: { type: "string", default: "splice-worker" },
    bytes: { type: "string", default: String(2 * 1024 ** 3) },
    connections: { type: "string", default: "1" },
  },
});

async function relay(targetPort: number, mode: string, connections: number): Promise<void> {
  const tcp = new TcpProtocol();
  let fastPaths: readonly FastPath[] = DEFAULT_FAST_PATHS;
  if (mode !== "pump") {
    const loop: SpliceLoopMode = mode === "splice-main" ? "main-thread" : "worker";
    const engine = createSpliceEngine({ loop });
    await (await engine)?.start();
    fastPaths = [createSplicePath({ engine: () => engine }), ...DEFAULT_FAST_PATHS];
  }
  const listener = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  process.stdout.write(`${listener.addr.port}\n`);
  // Event-loop lag on the relay's main thread: how late a 10 ms timer fires, at worst.
  let maxLagMs = 0;
  let last = performance.now();
  const lagTimer = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - 10);
    last = now;
  }, 10);
  let cpu: ReturnType<typeof process.cpuUsage> | undefined;
  let started = 0;
  const forwards: Promise<{ path: string; aToB: number }>[] = [];
  for await (const incoming of listener) {
    const client = await incoming.handshake({ timeoutMs: 5_000 });
    const upstream = await tcp.dial({ hostname: "127.0.0.1", port: targetPort });
    if (!cpu) {
      cpu = process.cpuUsage();
      started = performance.now();
    }
    forwards.push(forward(client, upstream, { fastPaths }));
    if (forwards.length === connections) break;
  }
  const all = await Promise.all(forwards);
  const used = process.cpuUsage(cpu);
  clearInterval(lagTimer);
  const aToB = all.reduce((n, s) => n + s.aToB, 0);
  process.stdout.write(
    JSON.stringify({ path: all[0].path, aToB, ms: performance.now() - started, maxLagMs, ...used }) + "\n",
  );
  listener.close();
  process.exit(0);
}

function exited(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve) => child.once("exit", (code) => resolve(code ?? -1)));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs the relay child and resolves to its port and a promise of its JSON report. */
async function startRelay(
  sinkPort: number,
): Promise<{ port: number; report: Promise<Record<string, number | string>> }> {
  const self = new URL(import.meta.url).pathname;
  const relayBin = values.relay === "bun" ? "node_modules/.bin/bun" : "node_modules/.bin/deno";
  const relayArgs = values.relay === "bun"
    ? [self, "relay", String(sinkPort), values.mode!, values.connections!]
    : ["run", "-A", self, "relay", String(sinkPort), values.mode!, values.connections!];
  const child = spawn(relayBin, relayArgs, { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  const portReady = Promise.withResolvers<number>();
  const report = Promise.withResolvers<Record<string, number | string>>();
  let buffered = "";
  child.stdout!.on("data", (chunk: Uint8Array) => {
    buffered += new TextDecoder().decode(chunk);
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      lines.push(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
      if (lines.length === 1) portReady.resolve(Number(lines[0]));
      if (lines.length === 2) report.resolve(JSON.parse(lines[1]));
    }
  });
  return { port: await portReady.promise, report: report.promise };
}

/** socat as sender and sink (1 MiB buffers): cheap enough that the relay is what is measured. */
async function drive(): Promise<void> {
  const bytes = Number(values.bytes);
  const connections = Number(values.connections);
  const sinkPort = await freePort();
  const fork = connections > 1 ? ",fork" : "";
  const sink = spawn("socat", [
    "-b",
    "1048576",
    "-u",
    `TCP-LISTEN:${sinkPort},bind=127.0.0.1,reuseaddr${fork}`,
    "/dev/null",
  ]);
  const sinkDone = exited(sink);
  await new Promise((resolve) => setTimeout(resolve, 200)); // socat binds
  const direct = values.mode === "direct";
  const relay = direct ? undefined : await startRelay(sinkPort);
  const target = relay ? relay.port : sinkPort;
  const started = performance.now();
  const each = Math.floor(bytes / connections);
  const senders = Array.from(
    { length: connections },
    () => exited(spawn("socat", ["-b", "1048576", "-u", `/dev/zero,readbytes=${each}`, `TCP:127.0.0.1:${target}`])),
  );
  await Promise.all(senders);
  if (relay) await relay.report;
  if (connections === 1) await sinkDone;
  else sink.kill();
  const seconds = (performance.now() - started) / 1000;
  const result: Record<string, unknown> = {
    relay: direct ? "none" : values.relay,
    mode: values.mode,
    connections,
    bytes,
    seconds: +seconds.toFixed(3),
    gbPerSecond: +(bytes / seconds / 1e9).toFixed(2),
  };
  if (relay) {
    const report = await relay.report;
    const user = Number(report.user) / 1e6, system = Number(report.system) / 1e6;
    Object.assign(result, {
      path: report.path,
      relayUserS: +user.toFixed(2),
      relaySysS: +system.toFixed(2),
      relayCpuS: +(user + system).toFixed(2),
      gbitPerCpuSecond: +(bytes * 8 / (user + system) / 1e9).toFixed(1),
      maxLagMs: +Number(report.maxLagMs).toFixed(1),
    });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

if (positionals[0] === "relay") await relay(Number(positionals[1]), positionals[2], Number(positionals[3] ?? 1));
else await drive();
