import assert from "node:assert/strict";
import net from "node:net";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import {
  connectClient,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
  startServer as startTcpServer,
} from "../../_util/echo_server.ts";
import { randomNonce } from "../../../protocols/tunnel/auth.ts";
import {
  makeClient,
  QUIC_TRANSPORT,
  rawAuthenticate,
  rawSession,
  startCuttableRelay,
  startServer,
  TCP_TRANSPORT,
  TLS_TRANSPORT,
  TOKEN,
  type TransportFixture,
} from "./_tunnel_util.ts";

const TRANSPORTS: TransportFixture[] = [TCP_TRANSPORT, TLS_TRANSPORT, QUIC_TRANSPORT];

for (const transport of TRANSPORTS) {
  const name = (what: string) => `reverse tunnel over ${transport.name}: ${what}`;

  test(name("64 MiB echo byte-exact with both directions at once"), async () => {
    await using echo = await startEchoServer();
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    const [status] = client.services();
    assert.equal(status.error, undefined);
    const payload = randomBytes(64 * 1024 * 1024);
    const received = await roundTrip(status.remotePort!, payload);
    assert.equal(received.byteLength, payload.byteLength);
    assert.ok(sameBytes(received, payload), "echoed bytes differ");
    const [info] = server.clients();
    assert.equal(info.clientId, "alice");
    assert.equal(info.services[0].bytesIn, payload.byteLength);
  });

  test(name("half-close: the service answers after the public client ends its side"), async () => {
    await using service = await startTcpServer((socket) => {
      let total = 0;
      socket.on("data", (c: Uint8Array) => total += c.byteLength);
      socket.on("end", () => socket.end(`got ${total} bytes`));
    });
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "svc", localAddr: `127.0.0.1:${service.port}` }],
    });
    await client.start();
    const socket = await connectClient(client.services()[0].remotePort!);
    const answer = readAll(socket);
    socket.end("x".repeat(300_000));
    assert.equal(new TextDecoder().decode(await answer), "got 300000 bytes");
    socket.destroy();
  });

  test(name("100 concurrent connections through one session, each byte-exact"), async () => {
    await using echo = await startEchoServer();
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    const payloads = Array.from({ length: 100 }, (_, i) => randomBytes(64 * 1024 + i, i + 1));
    const results = await Promise.all(payloads.map((p) => roundTrip(port, p)));
    results.forEach((r, i) => assert.ok(sameBytes(r, payloads[i]), `connection ${i} differs`));
  });

  test(name("a wrong token is refused with auth_failed and the client stops"), async () => {
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      token: "wrong-token-0123456789abcdef",
      services: [{ name: "x", localAddr: "127.0.0.1:1" }],
    });
    await assert.rejects(client.start(), (error) => {
      assert.ok(error instanceof TunnelError);
      assert.equal(error.code, "auth_failed");
      assert.equal(error.message, "authentication failed");
      return true;
    });
    assert.deepEqual(server.clients(), []);
  });

  test(name("an unknown client id gets the same answer as a wrong token"), async () => {
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      clientId: "mallory",
      services: [{ name: "x", localAddr: "127.0.0.1:1" }],
    });
    await assert.rejects(client.start(), { name: "TunnelError", message: "authentication failed" });
  });

  test(name("a port outside the allowed range is refused with a clear error; others still register"), async () => {
    await using echo = await startEchoServer();
    await using server = await startServer(transport, { portRange: "30000-30010" });
    await using client = await makeClient(transport, server.addr!.port, {
      services: [
        { name: "web", localAddr: `127.0.0.1:${echo.port}`, remotePort: 80 },
        { name: "echo", localAddr: `127.0.0.1:${echo.port}` },
      ],
    });
    await client.start();
    const [web, ok] = client.services();
    assert.deepEqual(web.error, {
      code: "port_out_of_range",
      message: "port 80 is outside the allowed range 30000-30010",
    });
    assert.ok(ok.remotePort! >= 30000 && ok.remotePort! <= 30010);
  });

  test(name("maxConnectionsPerService refuses the next public connection while the first keeps flowing"), async () => {
    await using echo = await startEchoServer();
    await using server = await startServer(transport, { maxConnectionsPerService: 1 });
    await using client = await makeClient(transport, server.addr!.port, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    const first = await connectClient(port);
    const firstData = readAll(first);
    first.write("one");
    await waitFor(() => server.activeConnections === 1, "the first connection");
    const second = await connectClient(port);
    const secondData = await readAll(second);
    assert.equal(secondData.byteLength, 0, "the refused connection got bytes");
    first.end("two");
    assert.equal(new TextDecoder().decode(await firstData), "onetwo");
    first.destroy();
    second.destroy();
  });

  test(name("PROXY protocol v1 and v2 headers carry the public client's address"), async () => {
    const seen: Uint8Array[] = [];
    await using service = await startTcpServer((socket) => {
      socket.once("data", (c: Uint8Array) => {
        seen.push(c);
        socket.end();
      });
    });
    await using server = await startServer(transport);
    await using client = await makeClient(transport, server.addr!.port, {
      services: [
        { name: "v1", localAddr: `127.0.0.1:${service.port}`, proxyProtocol: "v1" },
        { name: "v2", localAddr: `127.0.0.1:${service.port}`, proxyProtocol: "v2" },
      ],
    });
    await client.start();
    const [v1, v2] = client.services();
    for (const port of [v1.remotePort!, v2.remotePort!]) {
      const socket = await connectClient(port);
      const sourcePort = socket.localPort!;
      const done = readAll(socket);
      socket.write("hello");
      await done;
      socket.destroy();
      const header = seen.at(-1)!;
      if (port === v1.remotePort) {
        assert.equal(
          new TextDecoder().decode(header).split("\r\n")[0],
          `PROXY TCP4 127.0.0.1 127.0.0.1 ${sourcePort} ${port}`,
        );
      } else {
        assert.equal(header[13], 0x11, "AF_INET, STREAM");
        const view = new DataView(header.buffer, header.byteOffset);
        assert.equal(view.getUint16(24), sourcePort);
        assert.equal(view.getUint16(26), port);
      }
    }
  });

  test(name("the client reconnects after the server restarts and the same public port works again"), async () => {
    await using echo = await startEchoServer();
    let server = await startServer(transport, { resumeGraceMs: 5_000 });
    const serverPort = server.addr!.port;
    const registered: number[] = [];
    await using client = await makeClient(transport, serverPort, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    }, { onRegistered: (services) => registered.push(services[0].remotePort ?? -1) });
    await client.start();
    const publicPort = client.services()[0].remotePort!;
    await server.stop();
    // In one process a QUIC endpoint lets go of its UDP port only after its connections drained
    // (a restarted process has no such wait): retry the bind for a moment.
    server = await waitFor(
      () =>
        startServer(transport, { listenAddr: `127.0.0.1:${serverPort}`, portRange: `${publicPort}-${publicPort}` })
          .catch(() => undefined),
      "the server's ports to be free again",
    );
    try {
      const started = Date.now();
      await waitFor(() => registered.length === 2, "a reconnect and a new registration");
      assert.deepEqual(registered, [publicPort, publicPort]);
      assert.ok(Date.now() - started < 5_000, "the client took 5 s or more to come back");
      const payload = randomBytes(100_000);
      assert.ok(sameBytes(await roundTrip(publicPort, payload), payload));
    } finally {
      await server.stop();
    }
  });

  test(name("a session that drops is resumed: same port, no new registration"), async () => {
    if (transport.name === "quic") return; // the cuttable relay is TCP; QUIC resumes the same way (same code path)
    await using echo = await startEchoServer();
    await using server = await startServer(transport);
    await using relay = await startCuttableRelay(server.addr!.port);
    const events: string[] = [];
    await using client = await makeClient(transport, relay.port, {
      services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
    }, {
      onConnected: (info) => events.push(info.resumed ? "resumed" : "new"),
      onRegistered: () => events.push("registered"),
    });
    await client.start();
    const port = client.services()[0].remotePort!;
    relay.cut();
    await waitFor(() => events.includes("resumed"), "the resume");
    assert.deepEqual(events, ["new", "registered", "resumed"]);
    assert.equal(client.services()[0].remotePort, port);
    const payload = randomBytes(10_000);
    assert.ok(sameBytes(await roundTrip(port, payload), payload));
  });
}

test("TunnelClient config errors name the key, the value and the fix", async () => {
  await assert.rejects(
    async () => await makeClient(TCP_TRANSPORT, 1, { token: "short", services: [{ name: "a", localAddr: "h:1" }] }),
    new RangeError(
      'Cannot use TunnelClientConfig.token = a 5-character string: a token must be a string of at least 16 bytes; generate one with "openssl rand -hex 32"',
    ),
  );
  await assert.rejects(
    async () =>
      await makeClient(TCP_TRANSPORT, 1, { services: [{ name: "a", localAddr: "h:1", proxyProtocol: "v3" as "v1" }] }),
    new RangeError(
      'Cannot use TunnelClientConfig.services[0].proxyProtocol = "v3": use "v1" or "v2", or leave it out',
    ),
  );
  assert.ok(TOKEN.length >= 16);
});

test("a socket that connects and says nothing is closed at the handshake deadline", async () => {
  await using server = await startServer(TCP_TRANSPORT, { handshakeTimeoutMs: 200 });
  const socket = net.connect(server.addr!.port, "127.0.0.1");
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  socket.resume(); // read, so the server's close is seen
  const started = Date.now();
  await closed;
  assert.ok(Date.now() - started < 5_000);
});

test("a replayed auth message from an earlier session is refused", async () => {
  await using server = await startServer(TCP_TRANSPORT);
  const port = server.addr!.port;
  const clientNonce = randomNonce();
  // Session 1: an honest handshake, recorded.
  let recordedMac: string;
  {
    using raw = await rawSession(port);
    recordedMac = (await rawAuthenticate(raw, ["resume"], clientNonce)).mac;
    assert.equal((await raw.control.receive()).type, "welcome");
  }
  // Session 2: the attacker replays hello and auth byte for byte.
  using replay = await rawSession(port);
  await replay.control.send({ type: "hello", version: 1, capabilities: ["resume"], clientId: "alice", clientNonce });
  assert.equal((await replay.control.receive()).type, "challenge");
  await replay.control.send({ type: "auth", mac: recordedMac });
  assert.deepEqual(await replay.control.receive(), {
    type: "error",
    code: "auth_failed",
    message: "authentication failed",
  });
});

test("a resume without valid auth is refused and the owner keeps its port", async () => {
  await using echo = await startEchoServer();
  await using server = await startServer(TCP_TRANSPORT);
  let sessionId = "";
  await using client = await makeClient(TCP_TRANSPORT, server.addr!.port, {
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  }, { onConnected: (info) => void (sessionId = info.sessionId) });
  await client.start();
  const publicPort = client.services()[0].remotePort!;
  using attacker = await rawSession(server.addr!.port);
  await attacker.control.send({
    type: "hello",
    version: 1,
    capabilities: ["resume"],
    clientId: "alice",
    clientNonce: randomNonce(),
    resume: { sessionId },
  });
  assert.equal((await attacker.control.receive()).type, "challenge");
  await attacker.control.send({ type: "auth", mac: "A".repeat(43) });
  assert.deepEqual(await attacker.control.receive(), {
    type: "error",
    code: "auth_failed",
    message: "authentication failed",
  });
  // A missing auth (hello, then silence) is refused the same way at the deadline.
  const payload = randomBytes(50_000);
  assert.ok(sameBytes(await roundTrip(publicPort, payload), payload), "the owner's port stopped working");
  assert.equal(server.clients()[0].connected, true);
});

test("failed authentications are rate-limited per source IP", async () => {
  const codes: string[] = [];
  await using server = await startServer(TCP_TRANSPORT, { authFailureBurst: 2, authFailuresPerMinute: 1 }, {
    onRejected: (_addr, code) => codes.push(code),
  });
  const wrong = { token: "wrong-token-0123456789abcdef", services: [{ name: "x", localAddr: "127.0.0.1:1" }] };
  for (let i = 0; i < 2; i++) {
    await using client = await makeClient(TCP_TRANSPORT, server.addr!.port, wrong);
    await assert.rejects(client.start(), { message: "authentication failed" });
  }
  // From now on 127.0.0.1 is cut before any handshake, even with the right token.
  await using honest = await makeClient(TCP_TRANSPORT, server.addr!.port, {
    services: [{ name: "x", localAddr: "127.0.0.1:1" }],
  });
  honest.start().catch(() => {});
  await waitFor(() => codes.includes("rate_limited"), "the rate limit");
  assert.deepEqual(codes.slice(0, 3), ["auth_failed", "auth_failed", "rate_limited"]);
  assert.deepEqual(server.clients(), []);
});

test("missed heartbeats end a silent session and the client reconnects on its own", async () => {
  await using echo = await startEchoServer();
  await using server = await startServer(TCP_TRANSPORT, { heartbeatMs: 50, heartbeatMisses: 3 });
  await using relay = await startCuttableRelay(server.addr!.port);
  const events: string[] = [];
  await using client = await makeClient(TCP_TRANSPORT, relay.port, {
    services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }],
  }, {
    onConnected: (info) => events.push(info.resumed ? "resumed" : "new"),
    onDisconnected: (reason) => events.push(`down: ${reason}`),
  });
  await client.start();
  relay.freeze(); // packets vanish; no FIN, no RST
  await waitFor(() => events.some((e) => e.startsWith("down: ")), "the client to notice");
  assert.ok(events.includes("down: 3 heartbeats went unanswered"), events.join("; "));
  await waitFor(() => events.length >= 3, "a reconnect through the relay");
});

test("maxServicesPerClient and the server's maxConnections are enforced with clear answers", async () => {
  await using echo = await startEchoServer();
  await using server = await startServer(TCP_TRANSPORT, { maxServicesPerClient: 1, maxConnections: 1 });
  await using client = await makeClient(TCP_TRANSPORT, server.addr!.port, {
    services: [
      { name: "one", localAddr: `127.0.0.1:${echo.port}` },
      { name: "two", localAddr: `127.0.0.1:${echo.port}` },
    ],
  });
  await client.start();
  const [one, two] = client.services();
  assert.equal(one.error, undefined);
  assert.deepEqual(two.error, { code: "too_many_services", message: "at most 1 services per client" });
  const port = one.remotePort!;
  const first = await connectClient(port);
  const firstData = readAll(first);
  first.write("a");
  await waitFor(() => server.activeConnections === 1, "the first connection");
  const second = await connectClient(port);
  assert.equal((await readAll(second)).byteLength, 0, "a connection over the global limit got bytes");
  first.end("b");
  assert.equal(new TextDecoder().decode(await firstData), "ab");
  first.destroy();
  second.destroy();
  await waitFor(() => server.activeConnections === 0, "the slot to be given back");
});

test("UDP blocked (a QUIC port that never answers): an auto client falls back to TLS and says so", async () => {
  const dgram = await import("node:dgram");
  await using echo = await startEchoServer();
  await using server = await startServer(TLS_TRANSPORT);
  // Packets to the server's port number over UDP vanish, as behind a firewall that drops UDP.
  const blackhole = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => blackhole.bind(server.addr!.port, "127.0.0.1", () => resolve()));
  blackhole.on("message", () => {});
  try {
    const fallbacks: string[] = [];
    await using client = await makeClient(
      { ...TLS_TRANSPORT, clientQuic: QUIC_TRANSPORT.clientQuic },
      server.addr!.port,
      { transport: "auto", quicFallbackMs: 300, services: [{ name: "echo", localAddr: `127.0.0.1:${echo.port}` }] },
      { onFallback: (from, to) => fallbacks.push(`${from} -> ${to}`) },
    );
    await client.start();
    assert.deepEqual(fallbacks, ["quic -> tls"]);
    assert.equal(client.transport, "tls");
    const payload = randomBytes(100_000);
    assert.ok(sameBytes(await roundTrip(client.services()[0].remotePort!, payload), payload));
  } finally {
    blackhole.close();
  }
});
