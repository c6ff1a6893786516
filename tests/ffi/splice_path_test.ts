import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import type net from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createSpliceEngine, spliceEngine } from "../../ffi/splice_engine.ts";
import { createSplicePath, splicePath } from "../../ffi/splice_path.ts";
import { DEFAULT_FAST_PATHS, forward } from "../../forward/engine.ts";
import type { ForwardStats } from "../../forward/types.ts";
import { NetError } from "../../protocols/errors.ts";
import type { Conn } from "../../protocols/types.ts";
import { concat, connectClient, readAll, startEchoServer, startServer } from "../_util/echo_server.ts";
import { test } from "../_util/test.ts";
import { libcOrFail, tcpPair } from "./_util.ts";
import { checkPattern, counters, Pattern, pumpOptions, sendPattern, startRelay } from "./_splice_util.ts";

await libcOrFail();

const SPLICE_FIRST = [splicePath, ...DEFAULT_FAST_PATHS];
const MiB = 1024 * 1024;

test("forward() with splicePath moves 256 MiB both ways at once, byte-exact", async () => {
  const up = new Pattern(1), down = new Pattern(2);
  const size = 256 * MiB;
  const serverSide = Promise.withResolvers<{ received: number; exact: boolean; ended: boolean }>();
  await using server = await startServer((socket: net.Socket) => {
    checkPattern(socket, up).then(serverSide.resolve);
    void sendPattern(socket, down, size);
  });
  const live = counters();
  await using relay = await startRelay(
    server.port,
    (a, b) => forward(a, b, { fastPaths: SPLICE_FIRST, counters: live }),
  );
  const client = await connectClient(relay.port);
  const clientSide = checkPattern(client, down);
  await sendPattern(client, up, size);
  assert.deepEqual(await clientSide, { received: size, exact: true, ended: true });
  assert.deepEqual(await serverSide.promise, { received: size, exact: true, ended: true });
  client.destroy();
  const run = await relay.runs[0];
  const stats = run.result as ForwardStats;
  assert.equal(stats.path, "splice");
  assert.equal(stats.end, "eof");
  assert.equal(stats.aToB, size);
  assert.equal(stats.bToA, size);
  assert.deepEqual([live.aToB, live.bToA], [size, size]);
});

test("splicePath propagates half-close through an echo server", async () => {
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => splicePath.tryForward(a, b, pumpOptions()));
  const payload = new Pattern(5).slice(0, 300_000);
  const client = await connectClient(relay.port);
  const received = readAll(client);
  client.end(payload); // half-close: the echo comes back, then the echo server's end
  assert.deepEqual(await received, payload);
  client.destroy();
  const run = await relay.runs[0];
  assert.deepEqual(run.result, { handled: true, path: "splice", end: "eof" });
});

test("splicePath moves 1,000 concurrent pairs and leaks no fd (counted in a fresh process)", async () => {
  const fixture = fileURLToPath(new URL("./_splice_pairs_fixture.ts", import.meta.url));
  const args = "Bun" in globalThis ? [fixture, "1000"] : ["run", "-A", fixture, "1000"];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { timeout: 50_000 },
      (error, out, err) => error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
  const result = JSON.parse(stdout);
  assert.deepEqual(result, {
    echoedExactly: 1000,
    splicedToEof: 1000,
    maxLive: 1000,
    activeAfter: 0,
    totalPairs: 1000,
    errors: 0,
    fdsBefore: result.fdsBefore,
    fdsAfter: result.fdsBefore, // the same fds open after 1,000 more connections as before them
  });
});

test("splicePath rejects with NetError ECONNRESET and closes both conns when a peer resets", async () => {
  const engine = (await spliceEngine())!;
  const errorsBefore = engine.stats.errors;
  await using server = await startServer((socket: net.Socket) => {
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < 16 * MiB) {
        sent += chunk.byteLength;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.resetAndDestroy();
    };
    pump();
  });
  let closedA: Promise<void> | undefined, closedB: Promise<void> | undefined;
  await using relay = await startRelay(server.port, (a, b) => {
    closedA = a.closed;
    closedB = b.closed;
    return splicePath.tryForward(a, b, pumpOptions());
  });
  const client = await connectClient(relay.port);
  client.on("data", () => {});
  client.on("error", () => {});
  const run = await relay.runs[0];
  assert.ok(run.error instanceof NetError, `rejected with ${run.error}`);
  assert.equal(run.error.code, "ECONNRESET", `${run.error.message} ${(run.error.cause as Error)?.message}`);
  assert.match(run.error.message, /^Cannot forward on fd \d+: connection reset by peer$/);
  await Promise.all([closedA, closedB]);
  assert.equal(engine.stats.errors, errorsBefore + 1);
  client.destroy();
});

test("splicePath declines, touching nothing, when a side is not a plain TCP conn", async () => {
  await using pair = await tcpPair();
  await using other = await tcpPair();
  // A conn that wraps a TCP conn (as TLS would) is not plain TCP, even though a socket is under it.
  const wrapped: Conn = {
    readable: pair.server.readable,
    writable: pair.server.writable,
    localAddr: pair.server.localAddr,
    remoteAddr: pair.server.remoteAddr,
    closed: pair.server.closed,
    closeWrite: () => pair.server.closeWrite(),
    close: () => pair.server.close(),
    [Symbol.asyncDispose]: () => pair.server[Symbol.asyncDispose](),
  };
  const writer = pair.client.writable.getWriter();
  await writer.write(new TextEncoder().encode("still here"));
  const result = await splicePath.tryForward(wrapped, other.client, pumpOptions());
  assert.deepEqual(result, { handled: false, reason: "a side is not a plain TCP conn" });
  const result2 = await splicePath.tryForward(other.client, wrapped, pumpOptions());
  assert.equal(result2.handled, false);
  // Nothing was read: the bytes are still there for the conn's own reader.
  const reader = pair.server.readable.getReader();
  const { value } = await reader.read();
  assert.equal(new TextDecoder().decode(value), "still here");
  reader.releaseLock();
  writer.releaseLock();
});

test("splicePath declines when there is no engine, or no socket under a conn", async () => {
  await using pair = await tcpPair();
  await using other = await tcpPair();
  const noEngine = createSplicePath({ engine: () => Promise.resolve(undefined) });
  assert.deepEqual(await noEngine.tryForward(pair.server, other.client, pumpOptions()), {
    handled: false,
    reason: "the splice engine is unavailable",
  });
  other.client.close();
  const result = await splicePath.tryForward(pair.server, other.client, pumpOptions());
  assert.deepEqual(result, { handled: false, reason: "no kernel socket found under a conn (closed?)" });
  const aborted = await splicePath.tryForward(pair.server, other.server, {
    ...pumpOptions(),
    signal: AbortSignal.abort(),
  });
  assert.deepEqual(aborted, { handled: false, reason: "the signal is already aborted" });
  // The declined pair still forwards through the pumps.
  const writer = pair.client.writable.getWriter();
  await writer.write(new TextEncoder().encode("ping"));
  writer.releaseLock();
  const reader = pair.server.readable.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "ping");
  reader.releaseLock();
});

test(
  "splicePath declines without --allow-ffi (Deno)",
  async () => {
    const fixture = fileURLToPath(new URL("./_no_ffi_splice_fixture.ts", import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["run", "--no-prompt", "--deny-ffi", "--allow-net=127.0.0.1", "--allow-read", fixture],
        { timeout: 30_000 },
        (error, out, err) => error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    assert.deepEqual(JSON.parse(stdout), {
      handled: false,
      reason: "FFI is unavailable: FFI permission not granted: run Deno with --allow-ffi",
      forwarded: "ping",
    });
  },
  { ignore: "Bun" in globalThis && "Bun has no permission model" },
);

test("splicePath stops on abort, and when a conn is closed under it; forward() reports 'aborted'", async () => {
  await using echo = await startEchoServer();
  const stop = new AbortController();
  const viaSignal = await startRelay(
    echo.port,
    (a, b) => splicePath.tryForward(a, b, { ...pumpOptions(), signal: stop.signal }),
  );
  const closing = new AbortController();
  const viaForward = await startRelay(
    echo.port,
    (a, b) => forward(a, b, { fastPaths: SPLICE_FIRST, signal: closing.signal }),
  );
  try {
    for (const [relay, abort] of [[viaSignal, stop], [viaForward, closing]] as const) {
      const client = await connectClient(relay.port);
      const echoed = Promise.withResolvers<void>();
      client.once("data", () => echoed.resolve());
      client.write("x");
      await echoed.promise;
      abort.abort(); // forward() closes both conns at once: the splice path sees them close
      const run = await relay.runs[0];
      assert.equal(run.error, undefined);
      assert.equal((run.result as { end: string }).end, "aborted");
      client.destroy();
    }
    assert.equal(((await viaForward.runs[0]).result as ForwardStats).path, "splice");
  } finally {
    await viaSignal.close();
    await viaForward.close();
  }
});

test("splicePath ends an idle pair after idleTimeoutMs", async () => {
  await using echo = await startEchoServer();
  await using relay = await startRelay(
    echo.port,
    (a, b) => splicePath.tryForward(a, b, pumpOptions({ idleTimeoutMs: 100 })),
  );
  const client = await connectClient(relay.port);
  const received = readAll(client);
  client.write("idle soon");
  const run = await relay.runs[0];
  assert.deepEqual(run.result, { handled: true, path: "splice", end: "idle-timeout" });
  assert.equal(new TextDecoder().decode(concat([await received])), "idle soon", "the relay closed the conns");
  client.destroy();
});

test("a private engine serves a splice path of its own", async () => {
  await using engine = (await createSpliceEngine({ pipeSize: 256 * 1024, maxPooledPipes: 2 }))!;
  const path = createSplicePath({ engine: () => Promise.resolve(engine) });
  await using echo = await startEchoServer();
  await using relay = await startRelay(echo.port, (a, b) => path.tryForward(a, b, pumpOptions()));
  const client = await connectClient(relay.port);
  const pattern = new Pattern(9);
  const checked = checkPattern(client, pattern);
  await sendPattern(client, pattern, 8 * MiB);
  assert.deepEqual(await checked, { received: 8 * MiB, exact: true, ended: true });
  client.destroy();
  await relay.runs[0];
  assert.equal(engine.stats.totalPairs, 1);
  assert.equal(engine.stats.pipeSize, 256 * 1024);
  assert.ok(engine.stats.pipesPooled <= 2);
});
