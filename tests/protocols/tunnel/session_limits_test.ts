/**
 * `maxStreamsPerSession` on the tunnel's server and client: config, YAML and CLI checks, the limit
 * enforced over the mux (tcp, tls) and over QUIC, and a session carrying more than the old 1,024.
 * @module
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { resolveTunnelClientConfig, resolveTunnelServerConfig } from "../../../protocols/tunnel/config.ts";
import { parseTunnelConfigFile } from "../../../protocols/tunnel/config_file.ts";
import { runTunnelCommand } from "../../../protocols/tunnel/command.ts";
import { defaultRuntime } from "../../../protocols/runtime.ts";
import { captureIo } from "../../_util/admin.ts";
import { connectClient, randomBytes, readAll, roundTrip, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { makeClient, startServer, TCP_TRANSPORT, TLS_TRANSPORT, TOKEN, type TransportFixture } from "./_tunnel_util.ts";
import { quicFixture } from "./_quic_settings.ts";

const SERVICE = { name: "echo", localAddr: "127.0.0.1:1" };

test("maxStreamsPerSession: defaults to 1024 on both sides; out-of-range values name the key, the value and the bounds", () => {
  const server = resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN });
  const client = resolveTunnelClientConfig({ serverAddr: "h:1", token: TOKEN, services: [SERVICE] });
  assert.equal(server.maxStreamsPerSession, 1024);
  assert.equal(client.maxStreamsPerSession, 1024);
  assert.equal(
    resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN, maxStreamsPerSession: 65_536 })
      .maxStreamsPerSession,
    65_536,
  );
  assert.throws(() => resolveTunnelServerConfig({ listenAddr: ":7000", authToken: TOKEN, maxStreamsPerSession: 0 }), {
    name: "RangeError",
    message: "Cannot use TunnelServerConfig.maxStreamsPerSession = 0: it must be an integer from 1 to 65536",
  });
  assert.throws(
    () =>
      resolveTunnelClientConfig({ serverAddr: "h:1", token: TOKEN, services: [SERVICE], maxStreamsPerSession: 65_537 }),
    {
      name: "RangeError",
      message: "Cannot use TunnelClientConfig.maxStreamsPerSession = 65537: it must be an integer from 1 to 65536",
    },
  );
  assert.throws(
    () =>
      resolveTunnelClientConfig({ serverAddr: "h:1", token: TOKEN, services: [SERVICE], maxStreamsPerSession: 2.5 }),
    { message: "Cannot use TunnelClientConfig.maxStreamsPerSession = 2.5: it must be an integer from 1 to 65536" },
  );
});

test("maxStreamsPerSession in YAML (max_streams_per_session) and on the command line (-max-streams-per-session)", async () => {
  const file = parseTunnelConfigFile(`
server:
  listen: ":7000"
  auth_token: ${TOKEN}
  max_streams_per_session: 4096
client:
  server: h:7000
  token: ${TOKEN}
  max_streams_per_session: "3"
  services: [{ name: pg, local: "127.0.0.1:5432" }]
`);
  assert.equal(file.server?.config.maxStreamsPerSession, 4096);
  assert.equal(file.client?.config.maxStreamsPerSession, 3);
  assert.throws(
    () =>
      parseTunnelConfigFile(
        `client:\n  server: h:1\n  token: ${TOKEN}\n  max_streams_per_session: many\n  services: [{ name: a, local: "h:1" }]\n`,
      ),
    {
      name: "ConfigError",
      message: 'client.max_streams_per_session: "many" is not a whole number; use for example 100',
    },
  );
  const run = async (command: "server" | "client", args: string[]) => {
    const io = captureIo();
    const code = await runTunnelCommand(command, args, { io, runtime: defaultRuntime, version: "test" });
    return { code, err: io.err };
  };
  const server = ["-listen", "127.0.0.1:0", "-token", TOKEN, "-transport", "tcp"];
  assert.deepEqual(await run("server", [...server, "-max-streams-per-session", "0"]), {
    code: 2,
    err: "Cannot use TunnelServerConfig.maxStreamsPerSession = 0: it must be an integer from 1 to 65536\n",
  });
  assert.deepEqual(await run("server", [...server, "-max-streams-per-session", "lots"]), {
    code: 2,
    err: 'Flag "-max-streams-per-session" cannot be "lots": use a whole number\n',
  });
  const client = ["-server", "127.0.0.1:1", "-token", TOKEN, "-local", "127.0.0.1:2", "-transport", "tcp"];
  assert.deepEqual(await run("client", [...client, "-max-streams-per-session", "70000"]), {
    code: 2,
    err: "Cannot use TunnelClientConfig.maxStreamsPerSession = 70000: it must be an integer from 1 to 65536\n",
  });
  const help = captureIo();
  assert.equal(await runTunnelCommand("client", ["-help"], { io: help, runtime: defaultRuntime, version: "t" }), 0);
  assert.match(help.out, /-max-streams-per-session N .*\(default: 1024\)/);
});

/** Resolves on the socket's next data, or its end (so a refused connection cannot hang a test). */
function answered(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    for (const event of ["data", "end", "close"]) socket.once(event, () => resolve());
  });
}

/** Opens `count` public connections, each with `hello i` written and echoed back before the next opens. */
async function holdEchoing(
  port: number,
  count: number,
): Promise<{ sockets: net.Socket[]; received: Promise<Uint8Array>[] }> {
  const sockets: net.Socket[] = [];
  const received: Promise<Uint8Array>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await connectClient(port);
    sockets.push(socket);
    const first = answered(socket);
    received.push(readAll(socket));
    socket.write(`hello ${i}`);
    await first;
  }
  return { sockets, received };
}

/** Writes `text` on each socket and waits until each has received something back. */
async function echoOnce(sockets: readonly net.Socket[], text: string): Promise<void> {
  await Promise.all(sockets.map((s) => {
    const answer = answered(s);
    s.write(text);
    return answer;
  }));
}

/**
 * Ends each held connection with its payload and checks everything comes back byte-exact: the
 * greeting, then `extra` (what else was echoed meanwhile), then the payload.
 */
async function finishEchoing(
  held: { sockets: net.Socket[]; received: Promise<Uint8Array>[] },
  extra = "",
): Promise<void> {
  const payloads = held.sockets.map((_, i) => randomBytes(200_000 + i, 40 + i));
  held.sockets.forEach((s, i) => s.end(payloads[i]));
  const results = await Promise.all(held.received);
  for (const [i, got] of results.entries()) {
    const greeting = new TextEncoder().encode(`hello ${i}${extra}`);
    assert.ok(sameBytes(got.subarray(0, greeting.byteLength), greeting), `connection ${i}: greeting differs`);
    assert.ok(sameBytes(got.subarray(greeting.byteLength), payloads[i]), `connection ${i}: payload differs`);
  }
  for (const s of held.sockets) s.destroy();
}

/** Opens one more public connection that sends "extra" and ends; resolves to what came back (nothing when closed). */
async function oneMore(port: number): Promise<Uint8Array> {
  const socket = await connectClient(port);
  const received = readAll(socket);
  socket.end("extra");
  const data = await received;
  socket.destroy();
  return data;
}

for (const transport of [TCP_TRANSPORT, TLS_TRANSPORT] as TransportFixture[]) {
  for (const side of ["client", "server"] as const) {
    test(`session limit over ${transport.name}: the ${side}'s maxStreamsPerSession 3 closes a 4th public connection; the 3 stay byte-exact`, async () => {
      await using echo = await startEchoServer();
      const limit = { maxStreamsPerSession: 3 };
      const refusals: string[] = [];
      await using server = await startServer(transport, side === "server" ? limit : {}, {
        onPublicRefused: (_id, _name, reason) => refusals.push(reason),
      });
      await using client = await makeClient(transport, server.addr!.port, {
        ...(side === "client" ? limit : {}),
        services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
      });
      await client.start();
      const port = client.services()[0].remotePort!;
      const held = await holdEchoing(port, 3);
      assert.equal((await oneMore(port)).byteLength, 0, "the connection beyond the limit got bytes");
      assert.equal(echo.connections, 3, "the client dialed its local service for the 4th stream");
      if (side === "server") {
        // The server's mux refuses the open: counted and reported as a refused public connection.
        assert.equal(server.clients()[0].services[0].refused, 1);
        assert.deepEqual(refusals, [
          "the stream to the client could not be opened: Cannot open a tunnel stream: 3 streams are open (the limit)",
        ]);
      }
      await finishEchoing(held);
    });
  }
}

// A Bun client advertises at least 50 streams (its node:quic returns stream credit only in steps of 50).
const QUIC_LIMIT = runtimeName === "bun" ? 60 : 3;

test(`session limit over quic: the client advertises maxStreamsPerSession ${QUIC_LIMIT}, so one more public connection gets no stream while ${QUIC_LIMIT} are open`, async () => {
  await using echo = await startEchoServer();
  const transport = quicFixture({}, { maxStreamsPerSession: QUIC_LIMIT });
  await using server = await startServer(transport, { streamOpenTimeoutMs: 300 });
  await using client = await makeClient(transport, server.addr!.port, {
    maxStreamsPerSession: QUIC_LIMIT,
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  });
  await client.start();
  assert.equal(client.transport, "quic");
  const port = client.services()[0].remotePort!;
  const held = await holdEchoing(port, QUIC_LIMIT);
  const extraData = oneMore(port); // "extra" comes back once it gets through
  if (runtimeName === "deno") {
    // quinn waits for stream credit under the open's deadline (streamOpenTimeoutMs): then it is closed and counted.
    assert.equal((await extraData).byteLength, 0, "the connection beyond the limit got bytes");
    assert.equal(server.clients()[0].services[0].refused, 1);
    assert.equal(echo.connections, QUIC_LIMIT);
    await finishEchoing(held);
  } else {
    // Bun's node:quic hands out the stream at once and sends it when credit comes back, without a deadline.
    await echoOnce(held.sockets, "ping");
    assert.equal(echo.connections, QUIC_LIMIT, "a stream reached the client beyond its advertised limit");
    await finishEchoing(held, "ping");
    assert.equal(new TextDecoder().decode(await extraData), "extra");
  }
});

test("session limit over quic: a client with maxStreamsPerSession 3 keeps getting stream credit: 60 connections one after another", async () => {
  await using echo = await startEchoServer();
  const transport = quicFixture({}, { maxStreamsPerSession: 3 });
  await using server = await startServer(transport, { streamOpenTimeoutMs: 5_000 });
  await using client = await makeClient(transport, server.addr!.port, {
    maxStreamsPerSession: 3,
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  });
  await client.start();
  const port = client.services()[0].remotePort!;
  for (let i = 0; i < 60; i++) {
    const payload = randomBytes(1000 + i, i + 1);
    assert.ok(sameBytes(await roundTrip(port, payload), payload), `connection ${i}`);
  }
  assert.equal(server.clients()[0].services[0].refused, 0);
});

test(
  "maxStreamsPerSession 2000 on both sides: 1,500 concurrent connections through one tcp session, each byte-exact",
  async () => {
    const COUNT = 1_500;
    await using echo = await startEchoServer();
    await using server = await startServer(TCP_TRANSPORT, {
      maxStreamsPerSession: 2_000,
      maxConnectionsPerService: 2_000,
    });
    await using client = await makeClient(TCP_TRANSPORT, server.addr!.port, {
      maxStreamsPerSession: 2_000,
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    const sockets: net.Socket[] = [];
    try {
      // Open all of them and have each echo a greeting, so every stream is open at the same time.
      const received: Promise<Uint8Array>[] = [];
      const greeted: Promise<void>[] = [];
      for (let batch = 0; batch < COUNT; batch += 100) {
        // Listeners go on as each socket connects: a refused one may be closed before its batch is.
        await Promise.all(Array.from({ length: 100 }, (_, n) =>
          connectClient(port).then((socket) => {
            const i = batch + n;
            sockets[i] = socket;
            greeted[i] = answered(socket);
            received[i] = readAll(socket);
            socket.write(`#${i};`);
          })));
      }
      await Promise.all(greeted);
      assert.equal(server.clients()[0].services[0].refused, 0);
      await waitFor(() => server.activeConnections === COUNT, `${COUNT} active connections`);
      assert.equal(echo.connections, COUNT);
      sockets.forEach((s, i) => s.end(`payload ${i}`));
      const results = await Promise.all(received);
      for (const [i, got] of results.entries()) {
        assert.equal(new TextDecoder().decode(got), `#${i};payload ${i}`, `connection ${i}`);
      }
    } finally {
      for (const s of sockets) s.destroy();
    }
  },
  { timeoutMs: 120_000 },
);
