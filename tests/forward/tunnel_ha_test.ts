import assert from "node:assert/strict";
import net from "node:net";
import { Tunnel } from "../../forward/tunnel.ts";
import { TunnelMetrics } from "../../ha/metrics.ts";
import type { ConnectionEnd } from "../../forward/tunnel.ts";
import { UpstreamUnavailableError } from "../../forward/upstream.ts";
import { test } from "../_util/test.ts";
import { sleep, waitFor } from "../_util/wait.ts";
import {
  closedLoopbackPort,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
  startServer,
} from "../_util/echo_server.ts";

/** Connects from a chosen loopback source address. */
function connectFrom(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress, allowHalfOpen: true }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Starts an echo server on a given port. */
function echoOn(port: number) {
  return startServer((socket) => void socket.pipe(socket), "127.0.0.1", port);
}

test("the breaker opens after repeated dial failures, clients fail fast, and a probe closes it once the target is back", async () => {
  const port = await closedLoopbackPort();
  const ends: ConnectionEnd[] = [];
  const transitions: string[] = [];
  await using tunnel = new Tunnel(
    {
      listenAddr: "127.0.0.1:0",
      targetAddr: `127.0.0.1:${port}`,
      dialAttempts: 1,
      breakerFailureThreshold: 3,
      breakerSuccessThreshold: 1,
      breakerCooldownMs: 300,
    },
    { observer: { onConnectionEnd: (end) => ends.push(end) } },
  );
  await tunnel.start();
  const listen = tunnel.addr!.port;
  const hello = new TextEncoder().encode("hello");
  for (let i = 0; i < 3; i++) assert.equal((await roundTrip(listen, hello)).byteLength, 0);
  await waitFor(() => ends.length === 3, "three failed dials");
  assert.equal(tunnel.breaker?.state, "open");
  assert.ok(ends.every((e) => (e.error as { code?: string }).code === "ECONNREFUSED"));
  // While open: the client is closed at once, without a dial.
  assert.equal((await roundTrip(listen, hello)).byteLength, 0);
  await waitFor(() => ends.length === 4, "the fail-fast end");
  assert.ok(ends[3].error instanceof UpstreamUnavailableError, String(ends[3].error));
  assert.match((ends[3].error as Error).message, /circuit open after repeated failures \(retry in \d+ ms\)$/);
  // The target comes back; after the cooldown one probe goes through and closes the circuit.
  await using _echo = await echoOn(port);
  await sleep(350);
  assert.equal(new TextDecoder().decode(await roundTrip(listen, hello)), "hello");
  assert.equal(tunnel.breaker?.state, "closed");
  assert.equal(new TextDecoder().decode(await roundTrip(listen, hello)), "hello");
  assert.equal(tunnel.stats().errors, 4);
  transitions.push(tunnel.breaker!.state);
});

test("a dial that fails is retried with backoff, so a target that comes up a moment later is reached", async () => {
  const port = await closedLoopbackPort();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${port}`,
    dialAttempts: 5,
    dialRetryInitialDelayMs: 100,
    dialRetryMaxDelayMs: 200,
  });
  await tunnel.start();
  const answer = roundTrip(tunnel.addr!.port, new TextEncoder().encode("late"));
  await sleep(60);
  await using _echo = await echoOn(port);
  assert.equal(new TextDecoder().decode(await answer), "late");
  assert.equal(tunnel.stats().errors, 0);
});

test("maxConnectionsPerIp refuses a second connection from one IP but not from another", async () => {
  await using echo = await startEchoServer();
  const rejected: string[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, maxConnectionsPerIp: 1 },
    { observer: { onReject: (_addr, detail, reason) => rejected.push(`${reason}: ${detail}`) } },
  );
  await tunnel.start();
  const port = tunnel.addr!.port;
  const first = await connectFrom(port, "127.0.0.1");
  const firstData = readAll(first);
  first.write("a");
  await waitFor(() => tunnel.stats().active === 1, "the first connection");
  const second = await connectFrom(port, "127.0.0.1");
  assert.equal((await readAll(second)).byteLength, 0);
  second.destroy();
  const other = await connectFrom(port, "127.0.0.2");
  const otherData = readAll(other);
  other.end("b");
  assert.equal(new TextDecoder().decode(await otherData), "b");
  other.destroy();
  first.end("c");
  assert.equal(new TextDecoder().decode(await firstData), "ac");
  first.destroy();
  assert.deepEqual(rejected, ["max_connections_per_ip: maxConnectionsPerIp (1) reached for 127.0.0.1"]);
  assert.equal(tunnel.rejections.max_connections_per_ip, 1);
});

test("acceptRatePerSecond refuses connections beyond the burst", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    acceptRatePerSecond: 1,
    acceptBurst: 2,
  });
  await tunnel.start();
  const port = tunnel.addr!.port;
  const results: number[] = [];
  for (let i = 0; i < 3; i++) results.push((await roundTrip(port, new TextEncoder().encode("x"))).byteLength);
  assert.deepEqual(results, [1, 1, 0]);
  assert.equal(tunnel.stats().rejected, 1);
  assert.equal(tunnel.rejections.accept_rate, 1);
});

test("Tunnel.connections() lists open connections with their bytes", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}` });
  await tunnel.start();
  const client = await connectFrom(tunnel.addr!.port, "127.0.0.1");
  const data = readAll(client);
  client.write("12345");
  await waitFor(() => tunnel.connections()[0]?.bytesOut === 5, "the echo to be counted");
  const [info] = tunnel.connections();
  assert.equal(info.id, 1);
  assert.equal(info.bytesIn, 5);
  assert.equal(info.remoteAddr.hostname, "127.0.0.1");
  assert.ok(Date.now() - info.startedAt < 10_000);
  assert.ok(info.lastActiveAt >= info.startedAt);
  await sleep(30);
  client.write("678");
  await waitFor(() => tunnel.connections()[0]?.bytesOut === 8, "the second echo to be counted");
  const [later] = tunnel.connections();
  assert.ok(later.lastActiveAt >= info.lastActiveAt + 25, `lastActiveAt ${later.lastActiveAt} did not advance`);
  client.end();
  await data;
  client.destroy();
});

test("maxBufferedBytes: a spent budget slows connections but every byte arrives, and the budget is given back", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "pump", // the budget covers user-space buffers; splice buffers in kernel pipes
    maxBufferedBytes: 1, // smaller than any buffer: every reservation is refused
  });
  await tunnel.start();
  const payload = randomBytes(16 * 1024 * 1024);
  const received = await roundTrip(tunnel.addr!.port, payload);
  assert.ok(sameBytes(received, payload), "echoed bytes differ from the payload");
  await waitFor(() => tunnel.stats().active === 0, "the connection to end");
  assert.ok(tunnel.memory!.rejected > 0, "the budget refused no reservation");
  assert.equal(tunnel.memory!.used, 0);
});

test("maxBufferedBytes: with room in the budget, reservations are granted and all given back", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({
    listenAddr: "127.0.0.1:0",
    targetAddr: `127.0.0.1:${echo.port}`,
    forwardPath: "pump",
    maxBufferedBytes: 64 * 1024 * 1024,
  });
  await tunnel.start();
  const payloads = Array.from({ length: 4 }, () => randomBytes(4 * 1024 * 1024));
  const received = await Promise.all(payloads.map((p) => roundTrip(tunnel.addr!.port, p)));
  received.forEach((r, i) => assert.ok(sameBytes(r, payloads[i]), `connection ${i}: bytes differ`));
  await waitFor(() => tunnel.stats().active === 0, "the connections to end");
  assert.equal(tunnel.memory!.rejected, 0);
  assert.equal(tunnel.memory!.used, 0);
});

test("with upstreamPoolSize, clients get warm pre-dialed connections and the pool metrics count them", async () => {
  await using echo = await startEchoServer();
  const metrics = await TunnelMetrics.create({ defaultMetrics: false });
  const tunnel: Tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, upstreamPoolSize: 2 },
    { observer: metrics.observe(() => tunnel, { listener: "pool", protocol: "tcp", target: "echo" }) },
  );
  await using _tunnel = tunnel;
  await tunnel.start();
  await waitFor(() => tunnel.pool?.stats().idle === 2, "the pool to fill");
  for (const word of ["one", "two", "three"]) {
    assert.equal(new TextDecoder().decode(await roundTrip(tunnel.addr!.port, new TextEncoder().encode(word))), word);
    await waitFor(() => tunnel.pool?.stats().idle === 2, "the pool to refill");
  }
  const stats = tunnel.pool!.stats();
  assert.equal(stats.reused, 3);
  assert.equal(stats.created, 5);
  const text = await metrics.text();
  assert.match(text, /^ts_tunnel_pool_connections_reused_total\{listener="pool",protocol="tcp"\} 3$/m);
  assert.match(text, /^ts_tunnel_pool_connections_created_total\{listener="pool",protocol="tcp"\} 5$/m);
  assert.match(text, /^ts_tunnel_pool_connections_active\{listener="pool",protocol="tcp"\} 2$/m);
});
