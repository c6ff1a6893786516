import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type net from "node:net";
import { AF_INET, SOCK_STREAM } from "../../ffi/libc.ts";
import { findSocketFd } from "../../ffi/socket_fd.ts";
import { createSpliceEngine, type SpliceEngine, spliceEngine } from "../../ffi/splice_engine.ts";
import type { SpliceEngineOptions } from "../../ffi/splice_options.ts";
import { NetError, ServerClosedError } from "../../protocols/errors.ts";
import type { TcpConn } from "../../protocols/types.ts";
import { connectClient, readAll, startEchoServer, startServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import { libcOrFail, sysctl, tcpPair } from "./_util.ts";
import { checkPattern, counters, Pattern, sendPattern, startRelay } from "./_splice_util.ts";

const libc = await libcOrFail();

async function engine(options?: SpliceEngineOptions): Promise<SpliceEngine> {
  const created = await createSpliceEngine(options);
  assert.ok(created, "libc loads in the FFI suite");
  return created;
}

/** The process-wide engine (one Worker for the tests that need no special options). */
async function shared(): Promise<SpliceEngine> {
  const engine = await spliceEngine();
  assert.ok(engine);
  return engine;
}

function fdsOf(a: TcpConn, b: TcpConn): [number, number] {
  const fdA = findSocketFd(a, libc), fdB = findSocketFd(b, libc);
  assert.ok(fdA !== undefined && fdB !== undefined);
  return [fdA, fdB];
}

/** True when this process may resize pipes past fs.pipe-max-size (CAP_SYS_RESOURCE). */
function hasSysResource(): boolean {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapEff:"))!;
  return (BigInt(`0x${line.split(/\s+/)[1]}`) & (1n << 24n)) !== 0n;
}

test("SpliceEngine.forward() half-closes: end of stream one way, the other way keeps flowing", async () => {
  const splice = await shared();
  const later = new Pattern(7);
  // The server answers only after the client's end of stream, then ends too.
  await using server = await startServer((socket) => {
    socket.on("data", () => {});
    socket.on("end", () => void sendPattern(socket, later, 1024 * 1024));
  });
  await using relay = await startRelay(server.port, (a, b) => splice.forward(...fdsOf(a, b)));
  const client = await connectClient(relay.port);
  const answer = checkPattern(client, later);
  client.end(new Uint8Array(100_000).fill(1));
  const checked = await answer;
  client.destroy();
  assert.deepEqual(checked, { received: 1024 * 1024, exact: true, ended: true });
  const run = await relay.runs[0];
  assert.equal(run.error, undefined);
  assert.deepEqual(run.result, {
    aToB: 100_000,
    bToA: 1024 * 1024,
    pauses: (run.result as { pauses: number }).pauses,
    end: "eof",
  });
  assert.equal(splice.stats.activePairs, 0);
  assert.equal(splice.stats.pipesInUse, 0, "every pipe went back to the pool or was closed");
});

test("SpliceEngine.forward() updates the counters while bytes move, not only at the end", async () => {
  await using splice = await engine({ syncIntervalMs: 10 });
  await using echo = await startEchoServer();
  const live = counters();
  await using relay = await startRelay(echo.port, (a, b) => splice.forward(...fdsOf(a, b), { counters: live }));
  const client = await connectClient(relay.port);
  const received = readAll(client);
  client.write(new Uint8Array(4 * 1024 * 1024));
  await waitFor(() => live.aToB === 4 * 1024 * 1024 && live.bToA === 4 * 1024 * 1024, "live counters");
  assert.equal(splice.stats.activePairs, 1, "the pair is still open");
  client.end();
  assert.equal((await received).byteLength, 4 * 1024 * 1024);
  client.destroy();
  await relay.runs[0];
});

test("SpliceEngine.forward() resolves 'aborted' on abort and leaves the sockets open and unread", async () => {
  const splice = await shared();
  await using echo = await startEchoServer();
  const stop = new AbortController();
  const aborted = Promise.withResolvers<[TcpConn, TcpConn]>();
  await using relay = await startRelay(echo.port, async (a, b) => {
    const result = await splice.forward(...fdsOf(a, b), { signal: stop.signal });
    aborted.resolve([a, b]);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the test uses a and b meanwhile
    return result;
  });
  const client = await connectClient(relay.port);
  const echoed = Promise.withResolvers<void>();
  client.once("data", () => echoed.resolve());
  client.write("spliced");
  await echoed.promise;
  stop.abort();
  const [a] = await aborted.promise;
  // The engine no longer reads the socket: bytes sent now reach the conn itself.
  client.write("after");
  const reader = a.readable.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  assert.equal(new TextDecoder().decode(value), "after");
  const run = await relay.runs[0];
  assert.deepEqual(run.result, { aToB: 7, bToA: 7, pauses: 0, end: "aborted" });
  client.destroy();
});

test("SpliceEngine.forward() ends a pair that stays idle for idleTimeoutMs", async () => {
  const splice = await shared();
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => splice.forward(...fdsOf(a, b), { idleTimeoutMs: 150 }));
  const client = await connectClient(relay.port);
  const started = performance.now();
  client.write("x");
  const run = await relay.runs[0];
  const elapsed = performance.now() - started;
  assert.deepEqual(run.result, { aToB: 1, bToA: 1, pauses: 0, end: "idle-timeout" });
  assert.ok(elapsed >= 140 && elapsed < 2_000, `ended after ${elapsed} ms`);
  client.destroy();
});

test("SpliceEngine.forward() rejects with NetError ECONNRESET when a peer resets mid-transfer", async () => {
  const splice = await shared();
  const errorsBefore = splice.stats.errors;
  // The upstream streams bytes, then resets the connection.
  await using server = await startServer((socket: net.Socket) => {
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < 8 * 1024 * 1024) {
        sent += chunk.byteLength;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.resetAndDestroy();
    };
    pump();
  });
  await using relay = await startRelay(server.port, (a, b) => splice.forward(...fdsOf(a, b)));
  const client = await connectClient(relay.port);
  client.on("data", () => {});
  client.on("error", () => {});
  const run = await relay.runs[0];
  assert.ok(run.error instanceof NetError, `rejected with ${run.error}`);
  assert.equal(run.error.code, "ECONNRESET");
  assert.equal(run.error.op, "read");
  assert.match(run.error.message, /^Cannot forward on fd \d+: connection reset by peer$/);
  assert.equal(splice.stats.errors, errorsBefore + 1);
  client.destroy();
});

test("SpliceEngine rejects bad fds, declines when full, and ends live pairs when closed", async () => {
  const splice = await engine({ maxPairs: 1 });
  await assert.rejects(splice.forward(-1, 4), RangeError);
  await assert.rejects(splice.forward(5, 5), RangeError);
  await assert.rejects(splice.forward(5, 6, { idleTimeoutMs: -1 }), RangeError);
  assert.throws(() => splice.tryForward(5, 5), RangeError);
  await using left = await tcpPair();
  await using right = await tcpPair();
  const live = splice.forward(...fdsOf(left.server, right.client));
  assert.equal(splice.hasCapacity, false, "maxPairs is 1");
  assert.equal(splice.tryForward(...fdsOf(right.server, left.client)), undefined, "full: declined, nothing touched");
  await assert.rejects(splice.forward(...fdsOf(right.server, left.client)), RangeError);
  await splice.close();
  assert.deepEqual(await live, { aToB: 0, bToA: 0, pauses: 0, end: "aborted" });
  await using blocking = await engine();
  const socket = libc.socket(AF_INET, SOCK_STREAM, 0); // blocking, unlike every runtime's socket
  try {
    const [fd] = fdsOf(right.server, left.client);
    assert.equal(blocking.tryForward(socket, fd), undefined);
    await assert.rejects(
      blocking.forward(socket, fd),
      /^NetError: Cannot forward on fd \d+: the socket is in blocking mode$/,
    );
  } finally {
    libc.close(socket);
  }
  assert.equal(splice.closed, true);
  assert.equal(splice.tryForward(...fdsOf(right.server, left.client)), undefined);
  await assert.rejects(splice.forward(5, 6), ServerClosedError);
  await splice.close(); // idempotent
  await assert.rejects(createSpliceEngine({ pipeSize: 100 }), RangeError);
});

test("SpliceEngine checks what F_SETPIPE_SZ grants and halves the size when it is refused", async () => {
  const maxSize = sysctl("fs/pipe-max-size");
  await using splice = await engine({ pipeSize: 2 * maxSize });
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => splice.forward(...fdsOf(a, b)));
  const client = await connectClient(relay.port);
  const pattern = new Pattern(3);
  const checked = checkPattern(client, pattern);
  await sendPattern(client, pattern, 8 * 1024 * 1024);
  assert.deepEqual(await checked, { received: 8 * 1024 * 1024, exact: true, ended: true });
  client.destroy();
  await relay.runs[0];
  const stats = splice.stats;
  if (hasSysResource()) {
    assert.equal(stats.pipeSizeRefusals, 0, "privileged: the size above fs.pipe-max-size is granted");
  } else {
    // Without CAP_SYS_RESOURCE the kernel refuses sizes above fs.pipe-max-size (EPERM).
    assert.equal(stats.pipeSizeRefusals, 1);
    assert.equal(stats.pipeSize, maxSize);
  }
});

test("SpliceEngine with loop 'main-thread' moves a pair on Deno, and is refused on Bun", async () => {
  if ("Bun" in globalThis) {
    await assert.rejects(createSpliceEngine({ loop: "main-thread" }), TypeError);
    return;
  }
  await using splice = await engine({ loop: "main-thread" });
  assert.equal(splice.stats.loop, "main-thread");
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => splice.forward(...fdsOf(a, b)));
  const client = await connectClient(relay.port);
  const pattern = new Pattern(11);
  const checked = checkPattern(client, pattern);
  await sendPattern(client, pattern, 16 * 1024 * 1024);
  assert.deepEqual(await checked, { received: 16 * 1024 * 1024, exact: true, ended: true });
  client.destroy();
  const run = await relay.runs[0];
  assert.equal((run.result as { end: string }).end, "eof");
});
