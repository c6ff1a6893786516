/**
 * The owned-sockets splice forwarder (ffi/owned_splice.ts) with real sockets on loopback: bytes
 * byte-exact both ways at once, half-close, 1,000 concurrent pairs without an fd leak, resets,
 * a target that is down, limits, idle timeout, graceful shutdown, socket options, IPv6.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { NetError } from "../../protocols/errors.ts";
import { AF_INET, SOCK_CLOEXEC, SOCK_STREAM } from "../../ffi/libc.ts";
import { loadLibc } from "../../ffi/load.ts";
import { encodeSockaddr } from "../../ffi/_owned_sockaddr.ts";
import { listenOwnedSplice, type OwnedSpliceForwarder } from "../../ffi/owned_splice.ts";
import type { OwnedSpliceOptions } from "../../ffi/owned_splice_options.ts";
import { readSocketOptions } from "../../ffi/socket_options.ts";
import {
  closedLoopbackPort,
  connectClient,
  readAll,
  startEchoServer,
  startServer,
  type TestServer,
} from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { sleep, waitFor } from "../_util/wait.ts";
import { checkPattern, openFdCount, Pattern, sendPattern } from "./_splice_util.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function forwarderTo(server: TestServer | number, extra: Partial<OwnedSpliceOptions> = {}) {
  const port = typeof server === "number" ? server : server.port;
  return listenOwnedSplice({ hostname: "127.0.0.1", port: 0, target: { hostname: "127.0.0.1", port }, ...extra });
}

/** Waits until the forwarder has no connection left. */
function settled(forwarder: OwnedSpliceForwarder): Promise<true> {
  return waitFor(() => forwarder.stats.active === 0, "the forwarder to have no connection left");
}

test("listenOwnedSplice() moves 256 MiB each way at once, byte-exact, and counts every byte", async () => {
  const total = 256 * 1024 * 1024;
  await using echo = await startEchoServer();
  await using forwarder = await forwarderTo(echo);
  const pattern = new Pattern(7);
  const client = await connectClient(forwarder.addr.port);
  const checked = checkPattern(client, pattern);
  await sendPattern(client, pattern, total);
  const result = await checked;
  client.destroy();
  assert.deepEqual(result, { received: total, exact: true, ended: true });
  await settled(forwarder);
  const stats = forwarder.stats;
  assert.equal(stats.bytesUp, total);
  assert.equal(stats.bytesDown, total);
  assert.equal(stats.accepted, 1);
  assert.equal(stats.errors, 0);
  assert.equal(stats.pipesInUse, 0);
}, { timeoutMs: 60_000 });

test("listenOwnedSplice() half-closes: the client's end of stream reaches the target, the answer still comes back", async () => {
  // The target answers only after the client's end of stream, with what it counted.
  await using server = await startServer((socket: net.Socket) => {
    let received = 0;
    socket.on("data", (chunk: Uint8Array) => received += chunk.byteLength);
    socket.on("end", () => socket.end(`got ${received} bytes after EOF`));
  });
  await using forwarder = await forwarderTo(server);
  const client = await connectClient(forwarder.addr.port);
  const answer = readAll(client);
  client.end(new Uint8Array(100_000).fill(1));
  assert.equal(text(await answer), "got 100000 bytes after EOF");
  client.destroy();
  await settled(forwarder);
  assert.equal(forwarder.stats.bytesUp, 100_000);
  assert.equal(forwarder.stats.bytesDown, "got 100000 bytes after EOF".length);
});

test("listenOwnedSplice() holds 1,000 concurrent pairs and leaks no fd", async () => {
  const pairs = 1_000;
  await using echo = await startEchoServer();
  const before = openFdCount();
  const forwarder = await forwarderTo(echo);
  const clients = await Promise.all(Array.from({ length: pairs }, () => connectClient(forwarder.addr.port)));
  await waitFor(() => forwarder.stats.active === pairs && forwarder.stats.connecting === 0, "1,000 live pairs");
  const texts = clients.map((_, i) => `pair ${i} `.repeat(1 + (i % 50)));
  const answers = clients.map((client, i) => {
    const answer = readAll(client);
    client.end(texts[i]);
    return answer;
  });
  const echoed = (await Promise.all(answers)).map(text);
  for (const client of clients) client.destroy();
  assert.equal(echoed.filter((answer, i) => answer === texts[i]).length, pairs);
  await settled(forwarder);
  const bytes = texts.reduce((n, t) => n + t.length, 0);
  const stats = forwarder.stats;
  assert.deepEqual([stats.accepted, stats.errors, stats.refused, stats.bytesUp, stats.bytesDown], [
    pairs,
    0,
    0,
    bytes,
    bytes,
  ]);
  await forwarder.close();
  await echo.close();
  await waitFor(() => openFdCount() <= before, `the fd count to come back to ${before} (now ${openFdCount()})`);
}, { timeoutMs: 60_000 });

test("listenOwnedSplice() closes both sides and counts an error when the target resets mid-transfer", async () => {
  // 8 MiB queued towards a client that does not read yet, then a reset while they are in flight.
  await using server = await startServer((socket: net.Socket) => {
    socket.write(new Uint8Array(8 * 1024 * 1024).fill(7));
    setTimeout(() => socket.resetAndDestroy(), 20);
  });
  await using forwarder = await forwarderTo(server);
  const client = await connectClient(forwarder.addr.port);
  client.on("error", () => {});
  await waitFor(() => forwarder.stats.errors === 1, "the reset to be seen"); // the client has read nothing yet
  const received = await readAll(client); // resolves on end, close or reset
  client.destroy();
  assert.ok(received.byteLength < 8 * 1024 * 1024);
  await settled(forwarder);
  assert.equal(forwarder.stats.errors, 1);
  assert.equal(forwarder.stats.connectErrors, 0);
});

test("listenOwnedSplice() closes the client and counts a connect error when the target is down", async () => {
  const port = await closedLoopbackPort();
  await using forwarder = await forwarderTo(port);
  const client = await connectClient(forwarder.addr.port);
  const received = await readAll(client);
  client.destroy();
  assert.equal(received.byteLength, 0);
  await settled(forwarder);
  const stats = forwarder.stats;
  assert.deepEqual([stats.accepted, stats.errors, stats.connectErrors, stats.lastConnectError], [
    1,
    1,
    1,
    "ECONNREFUSED",
  ]);
});

test("listenOwnedSplice() closes the client and counts ETIMEDOUT when the target connect takes longer than connectTimeoutMs", async () => {
  // A listener with a full accept queue (backlog 0, one queued connection, nobody accepting)
  // drops further SYNs, so a second connect stays in progress.
  const libc = (await loadLibc())!;
  const addr = encodeSockaddr("127.0.0.1", 0)!;
  const fd = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  try {
    assert.equal(libc.bind(fd, addr.bytes, addr.bytes.byteLength), 0);
    assert.equal(libc.listen(fd, 0), 0);
    const port = libc.getsockname(fd)!.port;
    await using forwarder = await forwarderTo(port, { connectTimeoutMs: 200 });
    const first = await connectClient(forwarder.addr.port); // fills the queue
    await waitFor(() => forwarder.stats.active === 1 && forwarder.stats.connecting === 0, "the first to connect");
    const second = await connectClient(forwarder.addr.port);
    assert.equal((await readAll(second)).byteLength, 0);
    second.destroy();
    first.destroy(); // its pair stays open (the target never accepts it) until the forwarder closes
    await waitFor(() => forwarder.stats.connectErrors === 1, "the connect error to be counted");
    const stats = forwarder.stats;
    assert.deepEqual([stats.connectErrors, stats.lastConnectError], [1, "ETIMEDOUT"]);
  } finally {
    libc.close(fd);
  }
});

test("listenOwnedSplice() refuses clients past maxConnections by closing them at once", async () => {
  await using echo = await startEchoServer();
  await using forwarder = await forwarderTo(echo, { maxConnections: 1 });
  const first = await connectClient(forwarder.addr.port);
  await waitFor(() => forwarder.stats.active === 1 && forwarder.stats.connecting === 0, "one live pair");
  const second = await connectClient(forwarder.addr.port);
  assert.equal((await readAll(second)).byteLength, 0);
  second.destroy();
  const answer = readAll(first);
  first.end("still served");
  assert.equal(text(await answer), "still served");
  first.destroy();
  await settled(forwarder);
  assert.deepEqual([forwarder.stats.accepted, forwarder.stats.refused, forwarder.stats.errors], [2, 1, 0]);
});

test("listenOwnedSplice() closes a connection idle for idleTimeoutMs", async () => {
  await using echo = await startEchoServer();
  await using forwarder = await forwarderTo(echo, { idleTimeoutMs: 150 });
  const client = await connectClient(forwarder.addr.port);
  const answer = readAll(client);
  client.write("ping");
  assert.equal(text(await answer), "ping"); // then nothing moves, and the forwarder closes it
  client.destroy();
  await settled(forwarder);
  assert.equal(forwarder.stats.idleTimeouts, 1);
  assert.equal(forwarder.stats.errors, 0);
});

test("OwnedSpliceForwarder.shutdown() stops accepting, lets open connections finish, then resolves", async () => {
  await using echo = await startEchoServer();
  const forwarder = await forwarderTo(echo);
  const port = forwarder.addr.port;
  const client = await connectClient(port);
  const answer = readAll(client);
  client.write("before ");
  await waitFor(() => forwarder.stats.bytesDown === 7, "the first echo");
  let done = false;
  const stopping = forwarder.shutdown({ signal: AbortSignal.timeout(20_000) }).then(() => done = true);
  await waitFor(() => !forwarder.stats.listening, "the listening socket to close");
  await assert.rejects(connectClient(port), (error: { code?: string }) => error.code === "ECONNREFUSED");
  await sleep(50);
  assert.equal(done, false); // still draining: the connection is open
  client.end("after");
  assert.equal(text(await answer), "before after");
  client.destroy();
  await stopping;
  assert.equal(forwarder.stats.active, 0);
  assert.equal(forwarder.stats.bytesUp, 12);
});

test("OwnedSpliceForwarder.shutdown() closes the connections still open when its signal aborts", async () => {
  await using echo = await startEchoServer();
  const forwarder = await forwarderTo(echo);
  const client = await connectClient(forwarder.addr.port);
  const closed = readAll(client);
  await waitFor(() => forwarder.stats.active === 1 && forwarder.stats.connecting === 0, "one live pair");
  await forwarder.shutdown({ signal: AbortSignal.timeout(100) });
  await closed;
  client.destroy();
  assert.equal(forwarder.stats.errors, 0);
});

test("listenOwnedSplice() sets its socket options on client (inherited from the listener) and target sockets", async () => {
  const libc = (await loadLibc())!;
  await using echo = await startEchoServer();
  await using forwarder = await forwarderTo(echo, { socketOptions: { noDelay: true, keepAlive: true } });
  const client = await connectClient(forwarder.addr.port);
  await waitFor(() => forwarder.stats.active === 1 && forwarder.stats.connecting === 0, "one live pair");
  const clientPort = client.localPort!;
  // The forwarder's accepted socket: local port = the forwarder's, peer port = the client's.
  const accepted = libc.listFds().find((fd) =>
    libc.socketPort(fd, false) === forwarder.addr.port && libc.socketPort(fd, true) === clientPort
  );
  const dialed = libc.listFds().find((fd) =>
    libc.socketPort(fd, true) === echo.port && libc.getsockname(fd)?.address === "127.0.0.1" &&
    libc.socketPort(fd, false) !== echo.port
  );
  assert.ok(accepted !== undefined && dialed !== undefined);
  for (const fd of [accepted, dialed]) {
    const values = readSocketOptions(fd, libc);
    assert.deepEqual([values.noDelay, values.keepAlive], [true, true]);
  }
  client.destroy();
  await settled(forwarder);
});

test("listenOwnedSplice() listens and connects over IPv6, and resolves a host-name target", async () => {
  await using echo6 = await startEchoServer("::1");
  await using forwarder = await listenOwnedSplice({
    hostname: "::1",
    port: 0,
    target: { hostname: "::1", port: echo6.port },
  });
  assert.equal(forwarder.addr.hostname, "::1");
  const client = await connectClient(forwarder.addr.port, "::1");
  const answer = readAll(client);
  client.end("over IPv6");
  assert.equal(text(await answer), "over IPv6");
  client.destroy();

  await using echo = await startEchoServer();
  await using named = await listenOwnedSplice({
    hostname: "127.0.0.1",
    port: 0,
    target: { hostname: "localhost", port: echo.port },
  });
  assert.equal(named.target.port, echo.port);
  if (named.target.hostname === "127.0.0.1") { // localhost may resolve to ::1 first, where echo is not
    const second = await connectClient(named.addr.port);
    const echoed = readAll(second);
    second.end("by name");
    assert.equal(text(await echoed), "by name");
    second.destroy();
  }
});

test("listenOwnedSplice() rejects a port in use with NetError EADDRINUSE and bad options with RangeError", async () => {
  await using echo = await startEchoServer();
  await using forwarder = await forwarderTo(echo);
  await assert.rejects(
    listenOwnedSplice({ hostname: "127.0.0.1", port: forwarder.addr.port, target: { hostname: "127.0.0.1", port: 1 } }),
    (error) => {
      assert.ok(error instanceof NetError);
      assert.equal(error.code, "EADDRINUSE");
      assert.equal(
        error.message,
        `Cannot listen on "127.0.0.1:${forwarder.addr.port}" over tcp: address already in use`,
      );
      return true;
    },
  );
  await assert.rejects(
    listenOwnedSplice({ hostname: "localhost", port: 0, target: { hostname: "127.0.0.1", port: 1 } }),
    {
      name: "RangeError",
      message:
        `Cannot start the owned splice forwarder as 'hostname' must be an IP literal such as "0.0.0.0" or "::": current value is "localhost"`,
    },
  );
  await assert.rejects(
    listenOwnedSplice({ port: 0, target: { hostname: "127.0.0.1", port: 1 }, maxConnections: 0 }),
    {
      name: "RangeError",
      message:
        "Cannot start the owned splice forwarder as 'maxConnections' must be an integer from 1 to 1048576: current value is 0",
    },
  );
});
