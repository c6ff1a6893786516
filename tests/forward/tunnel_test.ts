import assert from "node:assert/strict";
import { Tunnel } from "../../forward/tunnel.ts";
import type { ConnectionEnd } from "../../forward/tunnel.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import {
  closedLoopbackPort,
  connectClient,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
  startServer,
} from "../_util/echo_server.ts";

test("Tunnel forwards 200 concurrent connections byte-exact and counts them", async () => {
  await using echo = await startEchoServer();
  await using tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}` });
  await tunnel.start();
  const port = tunnel.addr!.port;
  const payloads = Array.from({ length: 200 }, (_, i) => randomBytes(4096 + i * 37, i + 1));
  const results = await Promise.all(payloads.map((p) => roundTrip(port, p)));
  results.forEach((r, i) => assert.ok(sameBytes(r, payloads[i]), `connection ${i} echoed different bytes`));
  const total = payloads.reduce((n, p) => n + p.byteLength, 0);
  await waitFor(() => tunnel.stats().active === 0, "all connections to end");
  const stats = tunnel.stats();
  assert.equal(stats.connections, 200);
  assert.equal(stats.errors, 0);
  assert.equal(stats.bytesReceived, total);
  assert.equal(stats.bytesSent, total);
  stats.reset();
  assert.equal(tunnel.stats().connections, 0);
  assert.equal(tunnel.stats().bytesSent, 0);
});

test("Tunnel closes the client promptly and counts an error when the target refuses", async () => {
  const port = await closedLoopbackPort();
  const ends: ConnectionEnd[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${port}` },
    { observer: { onConnectionEnd: (end) => ends.push(end) } },
  );
  await tunnel.start();
  const started = Date.now();
  const client = await connectClient(tunnel.addr!.port);
  const received = await readAll(client);
  client.destroy();
  assert.equal(received.byteLength, 0);
  assert.ok(Date.now() - started < 2000, "the client was not closed promptly");
  await waitFor(() => ends.length === 1, "the connection end event");
  assert.equal(tunnel.stats().errors, 1);
  assert.equal(ends[0].phase, "dial");
  assert.equal((ends[0].error as { code?: string }).code, "ECONNREFUSED");
  assert.match(
    String((ends[0].error as Error).message),
    /^Cannot dial "127\.0\.0\.1:\d+" over tcp: connection refused$/,
  );
});

test("Tunnel closes a connection after connectionTimeoutMs without traffic", async () => {
  await using echo = await startEchoServer();
  const ends: ConnectionEnd[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, connectionTimeoutMs: 200 },
    { observer: { onConnectionEnd: (end) => ends.push(end) } },
  );
  await tunnel.start();
  const client = await connectClient(tunnel.addr!.port);
  const received = readAll(client);
  client.write("ping");
  const started = Date.now();
  const data = await received;
  const elapsed = Date.now() - started;
  client.destroy();
  assert.equal(new TextDecoder().decode(data), "ping");
  assert.ok(elapsed >= 150, `closed after ${elapsed} ms, before the idle timeout`);
  await waitFor(() => ends.length === 1, "the connection end event");
  assert.equal(ends[0].stats?.end, "idle-timeout");
  assert.equal(tunnel.stats().errors, 0);
});

test("Tunnel.stop() lets an in-flight transfer finish, then refuses new connections", async () => {
  // The server answers 300 ms after the request ends, so the transfer is in flight during stop().
  await using server = await startServer((socket) => {
    socket.on("data", () => {});
    socket.on("end", () => setTimeout(() => socket.end(randomBytes(1024 * 1024)), 300));
  });
  const tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${server.port}` });
  await tunnel.start();
  const port = tunnel.addr!.port;
  const client = await connectClient(port);
  const received = readAll(client);
  client.end("request");
  await waitFor(() => tunnel.stats().active === 1, "the connection to be active");
  const stopped = tunnel.stop();
  const data = await received;
  client.destroy();
  await stopped;
  assert.ok(sameBytes(data, randomBytes(1024 * 1024)), "the in-flight response was cut");
  await assert.rejects(connectClient(port), (error: { code?: string }) => error.code === "ECONNREFUSED");
});

test("Tunnel.stop() force-closes connections still open after drainTimeoutMs", async () => {
  await using echo = await startEchoServer();
  const tunnel = new Tunnel({ listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, drainTimeoutMs: 100 });
  await tunnel.start();
  const client = await connectClient(tunnel.addr!.port);
  const received = readAll(client);
  client.write("hold");
  await waitFor(() => tunnel.stats().active === 1, "the connection to be active");
  const started = Date.now();
  await tunnel.stop();
  assert.ok(Date.now() - started < 2000);
  assert.equal(new TextDecoder().decode(await received), "hold");
  client.destroy();
  assert.equal(tunnel.stats().active, 0);
});

test("Tunnel refuses connections beyond maxConnections while existing ones keep flowing", async () => {
  await using echo = await startEchoServer();
  const rejected: string[] = [];
  await using tunnel = new Tunnel(
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, maxConnections: 1 },
    { observer: { onReject: (_addr, reason) => rejected.push(reason) } },
  );
  await tunnel.start();
  const first = await connectClient(tunnel.addr!.port);
  const firstData = readAll(first);
  first.write("one");
  await waitFor(() => tunnel.stats().active === 1, "the first connection");
  const second = await connectClient(tunnel.addr!.port);
  assert.equal((await readAll(second)).byteLength, 0);
  second.destroy();
  first.end("-two");
  assert.equal(new TextDecoder().decode(await firstData), "one-two");
  first.destroy();
  assert.deepEqual(rejected, ["maxConnections (1) reached"]);
  assert.equal(tunnel.stats().rejected, 1);
});

test("Tunnel.start() rejects with EADDRINUSE when the port is taken", async () => {
  await using echo = await startEchoServer();
  const tunnel = new Tunnel({ listenAddr: `127.0.0.1:${echo.port}`, targetAddr: "127.0.0.1:1" });
  await assert.rejects(tunnel.start(), (error: { code?: string; message?: string }) => {
    assert.equal(error.code, "EADDRINUSE");
    assert.equal(error.message, `Cannot listen on "127.0.0.1:${echo.port}": address already in use`);
    return true;
  });
});

test("Tunnel splices in the kernel by default on Linux and uses the native pump with forwardPath: pump", async () => {
  await using echo = await startEchoServer();
  for (const [mode, expected] of [["auto", "splice"], ["pump", "pump"]] as const) {
    const ends: ConnectionEnd[] = [];
    await using tunnel = new Tunnel(
      { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${echo.port}`, forwardPath: mode },
      { observer: { onConnectionEnd: (end) => ends.push(end) } },
    );
    await tunnel.start();
    assert.equal(tunnel.stats().forwardPath, expected);
    const payload = randomBytes(3 * 1024 * 1024, 11);
    assert.ok(sameBytes(await roundTrip(tunnel.addr!.port, payload), payload));
    await waitFor(() => ends.length === 1, "the connection end");
    const pumpName = "Bun" in globalThis ? "push-pump" : "pull-pump";
    assert.equal(ends[0].stats?.path, expected === "splice" ? "splice" : pumpName);
    assert.equal(ends[0].stats?.aToB, payload.byteLength);
    assert.equal(tunnel.stats().bytesSent, payload.byteLength);
  }
});
