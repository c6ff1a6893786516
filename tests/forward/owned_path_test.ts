/**
 * `forwardPath: "owned"`: a Tunnel (and the CLI) running owned-socket splice forwarders instead of
 * a listener and accept loop. Real sockets on loopback: bytes byte-exact both ways, stats and
 * `/metrics` read from the forwarders' shared counters, workers as several forwarders on one
 * port, settings the path cannot honour refused by name, and a draining stop.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import process from "node:process";
import { main } from "../../cli.ts";
import { resolveTunnelConfig, type TunnelConfig } from "../../forward/config.ts";
import { parseConfigFile } from "../../forward/config_file.ts";
import { Tunnel } from "../../forward/tunnel.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import { captureIo, startWithAdmin } from "../_util/admin.ts";
import { metricValue } from "./_metric_value.ts";
import {
  closedLoopbackPort,
  connectClient,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
} from "../_util/echo_server.ts";
import { runtimeName, test } from "../_util/test.ts";
import { probe } from "./_probe.ts";
import { waitFor } from "../_util/wait.ts";

const SIZES = [1, 65_536, 1_000_003, 4 * 1024 * 1024];

test('Tunnel with forwardPath "owned" forwards byte-exact both ways and reports exact stats from the forwarder', async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "owned",
  });
  await tunnel.start();
  assert.equal(tunnel.forwardPath, "owned");
  assert.equal(tunnel.state, "listening");
  assert.equal(tunnel.workerCount, 1);
  assert.equal(tunnel.breaker, undefined);
  for (const [i, size] of SIZES.entries()) {
    const payload = randomBytes(size, i + 1);
    assert.ok(sameBytes(await roundTrip(tunnel.addr!.port, payload), payload), `${size} bytes byte-exact`);
  }
  await waitFor(() => tunnel.stats().active === 0, "the connections to end");
  const total = SIZES.reduce((a, b) => a + b, 0);
  const stats = tunnel.stats();
  assert.equal(stats.forwardPath, "owned");
  assert.equal(stats.connections, SIZES.length);
  assert.equal(stats.bytesReceived, total);
  assert.equal(stats.bytesSent, total);
  assert.equal(stats.rejected, 0);
  assert.equal(stats.errors, 0);
  assert.equal(stats.workers, undefined);
  assert.deepEqual(stats.owned, {
    connecting: 0,
    connectErrors: 0,
    idleTimeouts: 0,
    acceptErrors: 0,
    pipesInUse: 0,
    listening: 1,
  });
  assert.deepEqual(tunnel.connections(), []);
  stats.reset();
  const after = tunnel.stats();
  assert.equal(after.connections, 0);
  assert.equal(after.bytesSent, 0);
  await tunnel.stop();
  assert.equal(tunnel.state, "stopped");
  assert.equal(tunnel.stats().owned!.listening, 0);
});

test('Tunnel with forwardPath "owned" counts refusals by maxConnections and failed target connects', async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "owned",
    maxConnections: 1,
  });
  await tunnel.start();
  const held = await connectClient(tunnel.addr!.port);
  try {
    assert.ok(await probe(held));
    const refused = await connectClient(tunnel.addr!.port);
    assert.equal((await readAll(refused)).byteLength, 0); // closed at once
    refused.destroy();
    await waitFor(() => tunnel.stats().rejected === 1, "the refusal to be counted");
    assert.equal(tunnel.rejections.max_connections, 1);
    assert.equal(tunnel.stats().connections, 1);
  } finally {
    held.destroy();
  }
  await tunnel.stop();

  const port = await closedLoopbackPort();
  await using down = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${port}`, forwardPath: "owned" });
  await down.start();
  for (let i = 0; i < 3; i++) await roundTrip(down.addr!.port, new Uint8Array([1]));
  await waitFor(() => down.stats().errors === 3, "three failed connects");
  assert.equal(down.stats().owned!.connectErrors, 3);
  assert.equal(down.stats().owned!.lastConnectError, "ECONNREFUSED");
});

test('Tunnel with forwardPath "owned" and workers: 2 runs two forwarders on one port and sums their counters', async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "owned",
    workers: 2,
  });
  await tunnel.start();
  assert.equal(tunnel.workerCount, 2);
  assert.equal(tunnel.stats().owned!.listening, 2);
  const held: net.Socket[] = [];
  try {
    // Held connections until both forwarders have one (the kernel hashes clients over them; bounded).
    for (let i = 0; i < 64 && !tunnel.stats().workers!.every((w) => w.active > 0); i++) {
      const socket = await connectClient(tunnel.addr!.port);
      held.push(socket);
      assert.ok(await probe(socket));
      await waitFor(() => tunnel.stats().active === held.length, "the forwarders to count the connection");
    }
    const workers = tunnel.stats().workers!;
    assert.equal(workers.length, 2);
    assert.ok(workers.every((w) => w.active > 0), "both forwarders got connections");
    assert.equal(workers[0].active + workers[1].active, held.length);
  } finally {
    held.forEach((s) => s.destroy());
  }
  await waitFor(() => tunnel.stats().active === 0, "the held connections to end");
  const payload = randomBytes(300_000, 9);
  assert.ok(sameBytes(await roundTrip(tunnel.addr!.port, payload), payload));
  await waitFor(() => tunnel.stats().active === 0, "the last connection to end");
  const stats = tunnel.stats();
  assert.equal(stats.connections, held.length + 1);
  assert.equal(stats.bytesReceived, held.length + payload.byteLength);
  assert.equal(stats.workers!.reduce((n, w) => n + w.bytesReceived, 0), stats.bytesReceived);
  await tunnel.stop();
});

test('Tunnel with forwardPath "owned": stop() closes the listener at once and lets an open connection finish', async () => {
  await using echo = await startEchoServer();
  const tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "owned",
    drainTimeoutMs: 30_000,
  });
  await tunnel.start();
  const port = tunnel.addr!.port;
  const client = await connectClient(port);
  assert.ok(await probe(client));
  const stopped = tunnel.stop();
  await waitFor(() => tunnel.stats().owned!.listening === 0, "the listener to close");
  await assert.rejects(connectClient(port)); // refused by the kernel
  const received = readAll(client);
  const payload = randomBytes(200_000, 3);
  client.end(payload); // the open connection still forwards, both ways
  assert.ok(sameBytes(await received, payload));
  client.destroy();
  await stopped;
  assert.equal(tunnel.state, "stopped");
  assert.equal(tunnel.stats().bytesReceived, payload.byteLength + 1);
});

test('forwardPath "owned" refuses every setting it cannot honour, naming the key, the value and the fix', () => {
  const base: TunnelConfig = { listenAddr: "127.0.0.1:0", targetAddr: "127.0.0.1:9", forwardPath: "owned" };
  const cases: [Partial<TunnelConfig>, string][] = [
    [
      { protocol: "tls", tls: { certFile: "c.pem", keyFile: "k.pem" } },
      'Cannot use TunnelConfig.protocol = "tls" with forwardPath "owned": the owned-socket forwarder forwards plain TCP only; use forwardPath "auto" (it picks the path tls needs)',
    ],
    [
      { targetTls: {} },
      'Cannot use TunnelConfig.targetTls = {} with forwardPath "owned": the owned-socket forwarder accepts, connects and splices in its Worker and cannot speak TLS to the target; use forwardPath "auto"',
    ],
    [
      { dialAttempts: 3 },
      'Cannot use TunnelConfig.dialAttempts = 3 with forwardPath "owned": the owned-socket forwarder connects to the target once per client; use forwardPath "splice"',
    ],
    [
      { breakerFailureThreshold: 5 },
      'Cannot use TunnelConfig.breakerFailureThreshold = 5 with forwardPath "owned": the owned-socket forwarder accepts, connects and splices in its Worker: it has no circuit breaker; use forwardPath "splice"',
    ],
    [
      { upstreamPoolSize: 4 },
      'Cannot use TunnelConfig.upstreamPoolSize = 4 with forwardPath "owned": the owned-socket forwarder accepts, connects and splices in its Worker: it keeps no warm upstream connections; use forwardPath "splice"',
    ],
    [
      { maxConnectionsPerIp: 2 },
      'Cannot use TunnelConfig.maxConnectionsPerIp = 2 with forwardPath "owned": the owned-socket forwarder accepts, connects and splices in its Worker: it counts connections, not sources; use forwardPath "splice"',
    ],
    [
      { acceptRatePerSecond: 100 },
      'Cannot use TunnelConfig.acceptRatePerSecond = 100 with forwardPath "owned": the owned-socket forwarder accepts, connects and splices in its Worker: it has no accept-rate limit; use forwardPath "splice"',
    ],
    [
      { maxBufferedBytes: 1024 },
      'Cannot use TunnelConfig.maxBufferedBytes = 1024 with forwardPath "owned": bytes move through kernel pipes, which the budget does not cover; use forwardPath "pump"',
    ],
  ];
  for (const [extra, message] of cases) {
    assert.throws(() => resolveTunnelConfig({ ...base, ...extra }), { name: "TypeError", message });
  }
  // Defaults that need a connection object just do not apply; explicit "off" values are fine.
  assert.equal(resolveTunnelConfig({ ...base, dialAttempts: 1, breakerFailureThreshold: 0 }).forwardPath, "owned");
  assert.throws(() => resolveTunnelConfig({ ...base, forwardPath: "kernel" as "owned" }), {
    message: 'Cannot use TunnelConfig.forwardPath = "kernel": use one of auto, splice, pump, owned',
  });
  const tunnel = new Tunnel(base);
  assert.throws(() => tunnel.setProtocol(new TcpProtocol()), {
    message:
      'Cannot set the protocol with forwardPath "owned": the owned-socket forwarder accepts plain TCP itself, without a Protocol; use forwardPath "splice"',
  });
});

test("YAML forward_path: owned and the CLI's -forward-path owned select the owned path", async () => {
  const yaml = (extra: string) =>
    `protocols:\n  - name: tcp\n    listen: "127.0.0.1:0"\n    target: "127.0.0.1:9"\n    forward_path: owned\n${extra}`;
  assert.equal(parseConfigFile(yaml("")).tunnels[0].forwardPath, "owned");
  assert.throws(
    () => parseConfigFile(yaml("    upstream_pool_size: 2\n")),
    /upstreamPoolSize = 2 with forwardPath "owned"/,
  );
  const io = captureIo();
  const code = await main(
    ["-listen", "127.0.0.1:0", "-target", "127.0.0.1:9", "-forward-path", "owned", "-dial-attempts", "3"],
    { io },
  );
  assert.equal(code, 2);
  assert.match(io.err, /dialAttempts = 3 with forwardPath \\?"owned\\?"/);
});

test("the CLI with -forward-path owned forwards byte-exact and exports exact /metrics and /status", async () => {
  await using echo = await startEchoServer();
  const run = await startWithAdmin([
    "-listen",
    "127.0.0.1:0",
    "-target",
    `127.0.0.1:${echo.port}`,
    "-forward-path",
    "owned",
    "-dial-attempts",
    "1",
  ]);
  try {
    assert.match(run.io.err, /ready tunnels=1 runtime=\w+ engine=owned-splice workers=1/);
    for (const [i, size] of SIZES.entries()) {
      const payload = randomBytes(size, i + 11);
      assert.ok(sameBytes(await roundTrip(run.ports[0], payload), payload));
    }
    const total = SIZES.reduce((a, b) => a + b, 0);
    const base = `http://127.0.0.1:${run.adminPort}`;
    const status = await waitFor(async () => {
      const s = await (await fetch(`${base}/status`)).json();
      return s.tunnels[0].stats.active === 0 ? s : undefined;
    }, "the connections to end");
    const row = status.tunnels[0];
    assert.equal(row.stats.forwardPath, "owned");
    assert.equal(row.stats.connections, SIZES.length);
    assert.equal(row.stats.bytesReceived, total);
    assert.deepEqual(row.connections, []);
    assert.match(row.connectionsNote, /forwardPath "owned" has no per-connection rows/);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metricValue(metrics, "ts_tunnel_connections_total"), SIZES.length);
    assert.equal(metricValue(metrics, "ts_tunnel_bytes_received_total"), total);
    assert.equal(metricValue(metrics, "ts_tunnel_bytes_sent_total"), total);
    assert.equal(metricValue(metrics, "ts_tunnel_connections_active"), 0);
    // A second scrape adds nothing: the counters grow by what moved since the last one.
    const again = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metricValue(again, "ts_tunnel_connections_total"), SIZES.length);
  } finally {
    assert.equal(await run.stop(), 0);
  }
});

test("the CLI with -forward-path owned counts failed target connects in errors_total{phase=dial}", async () => {
  const port = await closedLoopbackPort();
  const run = await startWithAdmin([
    "-listen",
    "127.0.0.1:0",
    "-target",
    `127.0.0.1:${port}`,
    "-forward-path",
    "owned",
    "-dial-attempts",
    "1",
  ]);
  try {
    for (let i = 0; i < 4; i++) await roundTrip(run.ports[0], new Uint8Array([1]));
    const base = `http://127.0.0.1:${run.adminPort}`;
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return text.includes('phase="dial"} 4') ? text : undefined;
    }, "four dial errors");
    assert.equal(metricValue(metrics, 'ts_tunnel_errors_total{listener="127.0.0.1:0",protocol="tcp",phase="dial"}'), 4);
    assert.equal(metricValue(metrics, "ts_tunnel_connections_total"), 4);
  } finally {
    assert.equal(await run.stop(), 0);
  }
});

test('without FFI, forwardPath "owned" fails to start with the reason (exit 2 from the CLI)', async () => {
  const { execFile } = await import("node:child_process");
  const cli = new URL("../../cli.ts", import.meta.url).pathname;
  const result = await new Promise<{ code: number; err: string }>((resolve) => {
    execFile(
      process.execPath,
      [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "--allow-sys",
        cli,
        "-listen",
        "127.0.0.1:0",
        "-target",
        "127.0.0.1:9",
        "-forward-path",
        "owned",
        "-dial-attempts",
        "1",
        "-workers",
        "1",
      ],
      { timeout: 60_000 },
      (error, _out, err) => resolve({ code: (error as { code?: number } | null)?.code ?? 0, err }),
    );
  });
  assert.equal(result.code, 2, result.err);
  assert.match(result.err, /forwardPath \\?"owned\\?" needs the Linux kernel path, which is unavailable: .*ffi/i);
}, { ignore: runtimeName === "bun" ? "Bun cannot run without FFI" : false });
