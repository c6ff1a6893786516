/**
 * QUIC congestion control: `QuicProtocol`'s `congestionControl`, and the tunnel's
 * `quicCongestionControl` (config, YAML, CLI) reaching each side's QUIC sender.
 * @module
 */
import assert from "node:assert/strict";
import { QuicProtocol } from "../../../protocols/quic.ts";
import { QUIC_CONGESTION_CONTROLS } from "../../../protocols/quic_types.ts";
import { runTunnelCommand } from "../../../protocols/tunnel/command.ts";
import { resolveTunnelClientConfig, resolveTunnelServerConfig } from "../../../protocols/tunnel/config.ts";
import { parseTunnelConfigFile } from "../../../protocols/tunnel/config_file.ts";
import { defaultRuntime } from "../../../protocols/runtime.ts";
import { captureIo } from "../../_util/admin.ts";
import { testCerts } from "../../_util/certs.ts";
import { randomBytes, roundTrip, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { quicFixture, recordingRuntime } from "./_quic_settings.ts";
import { makeClient, startServer, TOKEN } from "./_tunnel_util.ts";

const SERVICE = { name: "echo", localAddr: "127.0.0.1:1" };

test("quicCongestionControl: defaults to low-latency on both sides; a bad value names the key, the value and the choices", () => {
  assert.equal(
    resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN }).quicCongestionControl,
    "low-latency",
  );
  const client = resolveTunnelClientConfig({ serverAddr: "h:1", token: TOKEN, services: [SERVICE] });
  assert.equal(client.quicCongestionControl, "low-latency");
  for (const value of QUIC_CONGESTION_CONTROLS) {
    const server = resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN, quicCongestionControl: value });
    assert.equal(server.quicCongestionControl, value);
  }
  assert.throws(
    // @ts-expect-error: not a congestion control
    () => resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN, quicCongestionControl: "bbr" }),
    {
      name: "RangeError",
      message: 'Cannot use TunnelServerConfig.quicCongestionControl = "bbr": use default, throughput or low-latency',
    },
  );
  assert.throws(
    // @ts-expect-error: not a congestion control
    () => resolveTunnelClientConfig({ serverAddr: "h:1", token: TOKEN, services: [SERVICE], quicCongestionControl: 1 }),
    { message: "Cannot use TunnelClientConfig.quicCongestionControl = 1: use default, throughput or low-latency" },
  );
});

test("quicCongestionControl in YAML (quic_congestion_control) and on the command line (-quic-congestion-control)", async () => {
  const file = parseTunnelConfigFile(`
server:
  listen: ":7000"
  auth_token: ${TOKEN}
  quic_congestion_control: throughput
client:
  server: h:7000
  token: ${TOKEN}
  quic_congestion_control: default
  services: [{ name: pg, local: "127.0.0.1:5432" }]
`);
  assert.equal(file.server?.config.quicCongestionControl, "throughput");
  assert.equal(file.client?.config.quicCongestionControl, "default");
  assert.throws(
    () => parseTunnelConfigFile(`server:\n  listen: ":7000"\n  auth_token: ${TOKEN}\n  quic_congestion_control: bbr\n`),
    {
      name: "ConfigError",
      message: 'server.quic_congestion_control: "bbr" is not a congestion control; use one of default, throughput, ' +
        "low-latency",
    },
  );
  const io = captureIo();
  const args = ["-listen", "127.0.0.1:0", "-token", TOKEN, "-transport", "tcp", "-quic-congestion-control", "bbr"];
  assert.equal(await runTunnelCommand("server", args, { io, runtime: defaultRuntime, version: "test" }), 2);
  assert.equal(
    io.err,
    'Flag "-quic-congestion-control" cannot be "bbr": use one of default, throughput, low-latency\n',
  );
  const help = captureIo();
  assert.equal(await runTunnelCommand("server", ["-help"], { io: help, runtime: defaultRuntime, version: "t" }), 0);
  assert.match(help.out, /-quic-congestion-control CC .*\(default: low-latency\)/);
});

test("ts-tunnel server and client over QUIC pass their -quic-congestion-control and -max-streams-per-session to QUIC", async () => {
  await using echo = await startEchoServer();
  const certs = await testCerts();
  const { runtime, calls } = await recordingRuntime();
  const stop = new AbortController();
  const options = (io: ReturnType<typeof captureIo>) => ({
    io,
    runtime: () => Promise.resolve(runtime),
    signal: stop.signal,
    version: "test",
  });
  const serverIo = captureIo();
  const serverExit = runTunnelCommand("server", [
    ...["-listen", "127.0.0.1:0", "-token", TOKEN, "-transport", "quic", "-bind-host", "127.0.0.1"],
    ...["-cert", certs.fullchainFile, "-key", certs.keyFile, "-port-range", "31200-31300"],
    ...["-quic-congestion-control", "throughput", "-max-streams-per-session", "77"],
  ], options(serverIo));
  const clientIo = captureIo();
  let clientExit: Promise<number> | undefined;
  try {
    const quicPort = await waitFor(
      () => Number(/tunnel server listening .*quic=127\.0\.0\.1:(\d+)/.exec(serverIo.err)?.[1]) || undefined,
      "the server's listening line",
    );
    clientExit = runTunnelCommand("client", [
      ...["-server", `127.0.0.1:${quicPort}`, "-server-name", "localhost", "-ca", certs.caFile, "-token", TOKEN],
      ...["-local", `127.0.0.1:${echo.port}`, "-name", "echo", "-transport", "quic"],
      ...["-quic-congestion-control", "default", "-max-streams-per-session", "300"],
    ], options(clientIo));
    const publicPort = await waitFor(
      () => Number(/service exposed service=echo port=(\d+)/.exec(clientIo.err)?.[1]) || undefined,
      "the client's exposed line",
    );
    const payload = randomBytes(256 * 1024, 7);
    assert.ok(sameBytes(await roundTrip(publicPort, payload), payload));
  } finally {
    stop.abort();
  }
  assert.equal(await clientExit, 0);
  assert.equal(await serverExit, 0);
  assert.match(clientIo.err, /connected to the tunnel server .*transport=quic/);
  assert.deepEqual(
    calls.listens.map((o) => [o.congestionControl, o.maxConcurrentBidiStreams]),
    [["throughput", 77]],
  );
  assert.deepEqual(
    calls.connects.map((o) => [o.congestionControl, o.maxConcurrentBidiStreams]),
    [["default", 300]],
  );
});

for (const value of QUIC_CONGESTION_CONTROLS) {
  test(`reverse tunnel over quic with quicCongestionControl "${value}": 8 MiB each way and 20 concurrent connections byte-exact`, async () => {
    await using echo = await startEchoServer();
    const { runtime, calls } = await recordingRuntime();
    const transport = quicFixture({ quicCongestionControl: value }, { quicCongestionControl: value }, runtime);
    await using server = await startServer(transport, { quicCongestionControl: value });
    await using client = await makeClient(transport, server.addr!.port, {
      quicCongestionControl: value,
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    assert.equal(client.transport, "quic");
    const port = client.services()[0].remotePort!;
    const bulk = randomBytes(8 * 1024 * 1024, 3);
    assert.ok(sameBytes(await roundTrip(port, bulk), bulk), "the 8 MiB echo differs");
    const small = Array.from({ length: 20 }, (_, i) => randomBytes(10_000 + i, 100 + i));
    const echoed = await Promise.all(small.map((p) => roundTrip(port, p)));
    echoed.forEach((got, i) => assert.ok(sameBytes(got, small[i]), `connection ${i} differs`));
    assert.deepEqual(calls.listens.map((o) => o.congestionControl), [value]);
    assert.deepEqual(calls.connects.map((o) => o.congestionControl), [value]);
  });
}

test("serverQuic and clientQuic without settings: low-latency, and 1024 streams advertised", async () => {
  await using echo = await startEchoServer();
  const { runtime, calls } = await recordingRuntime();
  const transport = quicFixture({}, {}, runtime);
  await using server = await startServer(transport);
  await using client = await makeClient(transport, server.addr!.port, {
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  });
  await client.start();
  const payload = randomBytes(64 * 1024, 9);
  assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
  for (const options of [...calls.listens, ...calls.connects]) {
    assert.equal(options.congestionControl, "low-latency");
    assert.equal(options.maxConcurrentBidiStreams, 1024);
  }
  assert.equal(calls.listens.length + calls.connects.length, 2);
});

test('QuicProtocol with congestionControl "low-latency" passes it to both ends and moves bytes; a bad value is refused', async () => {
  const certs = await testCerts();
  const { runtime, calls } = await recordingRuntime();
  const quic = new QuicProtocol({
    runtime,
    congestionControl: "low-latency",
    server: { certFile: certs.fullchainFile, keyFile: certs.keyFile },
    client: { caFile: certs.caFile, serverName: "localhost" },
  });
  const listener = await quic.listen({ hostname: "127.0.0.1", port: 0 });
  const echoing = (async () => {
    for await (const incoming of listener) {
      const stream = await incoming.handshake();
      void stream.readable.pipeTo(stream.writable).catch(() => {});
    }
  })();
  try {
    const stream = await quic.dial({ hostname: "127.0.0.1", port: listener.addr.port }, { timeoutMs: 10_000 });
    const payload = randomBytes(1024 * 1024, 5);
    const writer = stream.writable.getWriter();
    const [received] = await Promise.all([
      new Response(stream.readable).arrayBuffer(),
      writer.write(payload).then(() => writer.close()),
    ]);
    assert.ok(sameBytes(new Uint8Array(received), payload), "echoed bytes differ");
  } finally {
    listener.close();
    await echoing;
    await quic[Symbol.asyncDispose]();
    await listener.closed;
  }
  assert.deepEqual(calls.listens.map((o) => o.congestionControl), ["low-latency"]);
  assert.deepEqual(calls.connects.map((o) => o.congestionControl), ["low-latency"]);
  assert.throws(
    // @ts-expect-error: not a congestion control
    () => new QuicProtocol({ congestionControl: "bbr" }),
    {
      name: "RangeError",
      message: 'Cannot create the quic protocol as \'congestionControl\' must be one of "default", "throughput", ' +
        '"low-latency": current value is "bbr"',
    },
  );
});
