import assert from "node:assert/strict";
import type net from "node:net";
import { main } from "../../cli.ts";
import { resolveTunnelConfig } from "../../forward/config.ts";
import { parseConfigFile } from "../../forward/config_file.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { autoWorkers, TunnelWorkers } from "../../forward/workers.ts";
import { NetError } from "../../protocols/errors.ts";
import { captureIo, startWithAdmin } from "../_util/admin.ts";
import { connectClient, randomBytes, roundTrip, sameBytes, startEchoServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { probe } from "./_probe.ts";
import { waitFor } from "../_util/wait.ts";

const MIB = 1024 * 1024;

/** Opens held connections until every one of the tunnel's workers has one (bounded). */
async function holdOnEveryWorker(tunnel: Tunnel, port: number): Promise<net.Socket[]> {
  const held: net.Socket[] = [];
  for (let i = 0; i < 64; i++) {
    const socket = await connectClient(port);
    held.push(socket);
    assert.ok(await probe(socket), "a held connection is forwarded");
    if (tunnel.stats().workers!.every((w) => w.active > 0)) return held;
    await waitFor(() => tunnel.stats().active === held.length, "the worker to publish its count");
    if (tunnel.stats().workers!.every((w) => w.active > 0)) return held;
  }
  held.forEach((s) => s.destroy());
  throw new Error("64 connections all went to one worker");
}

test("Tunnel with workers: 2 spreads connections over both workers, 1 MiB+ byte-exact through each, and sums stats", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, workers: 2 });
  await tunnel.start();
  assert.equal(tunnel.workerCount, 2);
  const port = tunnel.addr!.port;
  let sent = 0;
  let count = 0;
  // Batches of 4 connections of 1 MiB+ each, until both workers carried at least one (bounded).
  for (let batch = 0; batch < 8; batch++) {
    const payloads = Array.from({ length: 4 }, (_, i) => randomBytes(MIB + 1000 * (batch * 4 + i), batch * 4 + i + 1));
    const echoed = await Promise.all(payloads.map((p) => roundTrip(port, p)));
    echoed.forEach((e, i) => assert.ok(sameBytes(e, payloads[i]), `connection ${batch * 4 + i} echoed other bytes`));
    sent += payloads.reduce((n, p) => n + p.byteLength, 0);
    count += payloads.length;
    await waitFor(() => {
      const s = tunnel.stats();
      return s.connections === count && s.active === 0 && s.bytesSent === sent;
    }, "the workers to publish their counters");
    if (tunnel.stats().workers!.every((w) => w.connections > 0)) break;
  }
  const stats = tunnel.stats();
  assert.equal(stats.workers!.length, 2);
  for (const w of stats.workers!) {
    assert.ok(w.connections > 0, "each worker accepted connections");
    assert.ok(w.bytesReceived >= MIB && w.bytesSent >= MIB, "each worker forwarded 1 MiB+ both ways");
  }
  assert.equal(stats.connections, count);
  assert.equal(stats.bytesReceived, sent);
  assert.equal(stats.bytesSent, sent);
  assert.equal(stats.workers!.reduce((n, w) => n + w.connections, 0), count);
  assert.equal(stats.errors, 0);
  assert.ok(stats.forwardPath === "splice" || stats.forwardPath === "pump");
  stats.reset();
  assert.equal(tunnel.stats().connections, 0);
  assert.equal(tunnel.stats().bytesSent, 0);
});

test("Tunnel with workers: 2 enforces maxConnections over both workers together", async () => {
  await using echo = await startEchoServer();
  const rejected: string[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, workers: 2, maxConnections: 3 },
    { observer: { onReject: (_addr, detail) => rejected.push(detail) } },
  );
  await tunnel.start();
  const sockets: net.Socket[] = [];
  try {
    const forwarded: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = await connectClient(tunnel.addr!.port);
      sockets.push(socket);
      forwarded.push(await probe(socket));
    }
    assert.deepEqual(forwarded, [true, true, true, false, false, false, false, false, false, false]);
    await waitFor(() => tunnel.stats().rejected === 7 && rejected.length === 7, "the refusals to be counted");
    assert.equal(tunnel.stats().active, 3);
    assert.equal(tunnel.rejections.max_connections, 7);
    assert.equal(rejected[0], "maxConnections (3) reached");
    // A slot freed in one worker can be taken in either.
    sockets[0].destroy();
    await waitFor(() => tunnel.stats().active === 2, "the closed connection to end");
    const again = await connectClient(tunnel.addr!.port);
    sockets.push(again);
    assert.equal(await probe(again), true);
  } finally {
    sockets.forEach((s) => s.destroy());
  }
});

test("Tunnel with workers: 2 stop() drains connections in every worker, then closes", async () => {
  await using echo = await startEchoServer();
  const tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, workers: 2 });
  await tunnel.start();
  const port = tunnel.addr!.port;
  const held = await holdOnEveryWorker(tunnel, port);
  let stopped = false;
  const stopping = tunnel.stop().then(() => void (stopped = true));
  try {
    await waitFor(() => tunnel.state === "stopping", "the stop to begin");
    // Refused once every worker's listener is closed; the held connections still forward.
    await waitFor(
      () => connectClient(port).then((s) => (s.destroy(), false), () => true),
      "the listeners to close",
    );
    for (const socket of held) assert.equal(await probe(socket), true);
    assert.equal(stopped, false);
  } finally {
    held.forEach((s) => s.destroy());
  }
  await stopping;
  assert.equal(tunnel.state, "stopped");
  assert.equal(tunnel.stats().active, 0);
});

test("Tunnel with workers rejects bad values with the key, the value and the fix", () => {
  const base = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:1" };
  assert.throws(() => new Tunnel({ ...base, workers: 0 }), {
    name: "RangeError",
    message:
      'Cannot use TunnelConfig.workers = 0: it is the number of accept loops (worker threads), from 1 to 256; use a positive integer or "auto"',
  });
  assert.throws(() => new Tunnel({ ...base, workers: "many" as unknown as number }), /workers = "many"/);
  assert.throws(() => new Tunnel({ ...base, protocol: "http2", h2c: true, workers: 2 }), {
    name: "TypeError",
    message:
      'Cannot use TunnelConfig.workers = 2 with protocol "http2": only tcp listeners run in several workers; use workers: 1 or "auto"',
  });
  assert.equal(autoWorkers(2), 1);
  assert.equal(autoWorkers(3), 1);
  assert.equal(autoWorkers(4), 2);
  assert.equal(autoWorkers(64), 16);
});

test("Tunnel with workers: 2 fails to start with EADDRINUSE on a port another listener holds", async () => {
  await using echo = await startEchoServer();
  const tunnel = new Tunnel({ listenAddr: `127.0.0.1:${echo.port}`, targetAddr: `127.0.0.1:${echo.port}`, workers: 2 });
  await assert.rejects(() => tunnel.start(), (error) => error instanceof NetError && error.code === "EADDRINUSE");
});

test("the CLI with -workers 2 says so at start, and /metrics and /status sum both workers", async () => {
  await using echo = await startEchoServer();
  const run = await startWithAdmin(["-listen", "127.0.0.1:0", "-target", `127.0.0.1:${echo.port}`, "-workers", "2"]);
  try {
    const ready = await waitFor(() => /ready .*/.exec(run.io.err)?.[0], "the ready line");
    assert.match(ready, /workers=2/);
    const sizes = [1000, 70_000, 123_457, 300_001, 5, 65_536];
    for (const size of sizes) {
      const payload = randomBytes(size, size);
      assert.ok(sameBytes(await roundTrip(run.ports[0], payload), payload));
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const base = `http://127.0.0.1:${run.adminPort}`;
    const status = await waitFor(async () => {
      const body = await (await fetch(`${base}/status`)).json() as {
        tunnels: { stats: { connections: number; active: number; bytesSent: number; workers: unknown[] } }[];
      };
      const s = body.tunnels[0].stats;
      return s.connections === sizes.length && s.active === 0 && s.bytesSent === total ? s : undefined;
    }, "/status to show every connection");
    assert.equal(status.workers.length, 2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(metrics)?.[1]);
    assert.equal(value("ts_tunnel_connections_total"), sizes.length);
    assert.equal(value("ts_tunnel_bytes_received_total"), total);
    assert.equal(value("ts_tunnel_bytes_sent_total"), total);
    assert.equal(value("ts_tunnel_connections_active"), 0);
    assert.equal(value("ts_tunnel_connection_duration_seconds_count"), sizes.length);
  } finally {
    assert.equal(await run.stop(), 0);
  }
});

test("a worker that dies is reported, its connection slots are given back, and it is restarted", async () => {
  await using echo = await startEchoServer();
  const config = { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, workers: 2, maxConnections: 1 };
  const exits: { worker: number; error: Error; restarting: boolean }[] = [];
  const workers = await TunnelWorkers.start(config, resolveTunnelConfig(config), 2, {}, (worker, error, restarting) => {
    exits.push({ worker, error, restarting });
  });
  const held: net.Socket[] = [];
  try {
    const socket = await connectClient(workers.addr.port);
    held.push(socket);
    assert.equal(await probe(socket), true);
    const busy = await waitFor(() => {
      const i = workers.perWorker().findIndex((w) => w.active === 1);
      return i >= 0 ? i : undefined;
    }, "the worker holding the connection");
    await workers.killWorker(busy);
    await waitFor(() => exits.length === 1, "the exit report");
    assert.equal(exits[0].worker, busy);
    assert.equal(exits[0].restarting, true);
    assert.match(exits[0].error.message, /^The worker thread exited with code \d+$/);
    // The dead worker's slot is free again (maxConnections is 1), and the restarted worker accepts.
    await waitFor(() => workers.perWorker()[busy].restarts === 1, "the restart");
    const again = await connectClient(workers.addr.port);
    held.push(again);
    assert.equal(await probe(again), true);
    assert.equal(workers.totals().connections, 2);
  } finally {
    held.forEach((s) => s.destroy());
    await workers.stop();
  }
});

test("YAML workers and the CLI's -workers flag are validated with the key, the value and the fix", async () => {
  const entry = (workers: string) =>
    `protocols:\n  - name: tcp\n    listen: ":1"\n    target: "127.0.0.1:2"\n    workers: ${workers}\n`;
  assert.equal(parseConfigFile(entry("4")).tunnels[0].workers, 4);
  assert.equal(parseConfigFile(entry("auto")).tunnels[0].workers, "auto");
  assert.throws(
    () => parseConfigFile(entry("0")),
    /protocols\[0\]\.workers.*0 is not a number of accept loops; use a positive integer or auto/,
  );
  const io = captureIo();
  assert.equal(await main(["-listen", "127.0.0.1:0", "-target", "127.0.0.1:1", "-workers", "two"], { io }), 2);
  assert.match(io.err, /Flag "-workers": "two" is not a number of workers; use for example 4, or auto/);
});
