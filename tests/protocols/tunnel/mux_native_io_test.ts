/**
 * The multiplexer over native I/O, on every runtime through in-memory conns: streams offer push
 * I/O on push sessions (so the push pump takes a stream and a socket), and the pull reader's
 * pooled buffers survive arbitrary read splits with slow and fast consumers.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { forward } from "../../../forward/engine.ts";
import { nativeIO, type PullIO, type PushIO } from "../../../protocols/_native_io.ts";
import { NetError } from "../../../protocols/errors.ts";
import type { Conn } from "../../../protocols/types.ts";
import { PUSH_SEND_BUFFER_BYTES } from "../../../protocols/tunnel/_mux_stream.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { MuxSession } from "../../../protocols/tunnel/mux.ts";
import { concat, randomBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { pullConnPair, pushConnPair } from "./_native_conns.ts";
import { delay, expectBytes, type MuxPair, openPair, prng, readAll, waitFor, writeAll } from "./_util.ts";

function sessions(a: Conn, b: Conn): MuxPair {
  const server = new MuxSession(a, { role: "server", protocol: "tcp" });
  const client = new MuxSession(b, { role: "client", protocol: "tcp" });
  return {
    server,
    client,
    async [Symbol.asyncDispose]() {
      server.close();
      client.close();
      await Promise.all([server.closed, client.closed]);
    },
  };
}

/** Records what a push sink receives. */
function recorder() {
  const state = { chunks: [] as Uint8Array[], ends: 0, drains: 0, closes: [] as unknown[] };
  return {
    state,
    sink: {
      data: (chunk: Uint8Array) => void state.chunks.push(chunk.slice()),
      end: () => void state.ends++,
      drain: () => void state.drains++,
      close: (error?: unknown) => void state.closes.push(error),
    },
  };
}

test("a stream of a push session offers push I/O, and forward() moves it through the push pump, byte-exact", async () => {
  await using pair = sessions(...pushConnPair());
  const [serverSide, clientSide] = await openPair(pair);
  assert.equal(nativeIO(clientSide)?.kind, "push");
  // The local service: an echo behind a push conn.
  const [local, service] = pushConnPair();
  service.attach({ data: (chunk) => void service.write(chunk), end: () => service.end(), drain() {}, close() {} });
  service.resume();
  const forwarding = forward(clientSide, local);
  const data = randomBytes(4 * 1024 * 1024, 31);
  await Promise.all([writeAll(serverSide.writable, data), expectBytes(serverSide.readable, data)]);
  const stats = await forwarding;
  assert.equal(stats.path, "push-pump");
  assert.equal(stats.aToB, data.byteLength);
  assert.equal(stats.bToA, data.byteLength);
});

test("push I/O holds data while paused, delivers it on resume, then end(); writes are bounded and drain", async () => {
  await using pair = sessions(...pushConnPair());
  const [serverSide, clientSide] = await openPair(pair);
  const io = nativeIO(clientSide) as PushIO;
  const { state, sink } = recorder();
  io.attach(sink);
  const data = randomBytes(100_000, 32);
  await writeAll(serverSide.writable, data);
  await delay(20);
  assert.equal(state.chunks.length, 0, "a paused stream delivers nothing");
  io.resume();
  await waitFor(() => state.ends === 1, 5_000, "end()");
  assert.deepEqual(concat(state.chunks), data);

  const big = randomBytes(3 * PUSH_SEND_BUFFER_BYTES, 33);
  const reading = readAll(serverSide.readable);
  let offset = 0;
  let first = true;
  while (offset < big.byteLength) {
    const drains = state.drains;
    const n = io.write(big.subarray(offset));
    assert.ok(n >= 0 && n <= PUSH_SEND_BUFFER_BYTES, `write took ${n} bytes`);
    if (first) assert.ok(n < big.byteLength, "a write beyond the send buffer is refused in part");
    first = false;
    offset += n;
    if (offset < big.byteLength) await waitFor(() => state.drains > drains, 5_000, "drain()");
  }
  io.end();
  assert.deepEqual(await reading, big);
  assert.equal(state.closes.length, 0);
});

test("push I/O reports the peer's reset as close(NetError ECONNRESET) with the tunnel code", async () => {
  await using pair = sessions(...pushConnPair());
  const [serverSide, clientSide] = await openPair(pair);
  const io = nativeIO(clientSide) as PushIO;
  const { state, sink } = recorder();
  io.attach(sink);
  io.resume();
  const writer = serverSide.writable.getWriter();
  await writer.write(new Uint8Array(1000));
  await waitFor(() => state.chunks.length > 0, 5_000, "data");
  serverSide.reset("shutting_down");
  await waitFor(() => state.closes.length === 1, 5_000, "close()");
  const error = state.closes[0];
  assert.ok(error instanceof NetError && error.code === "ECONNRESET");
  assert.ok(error.cause instanceof TunnelError && error.cause.code === "shutting_down");
  assert.equal(state.ends, 0);
  assert.equal(io.write(new Uint8Array(10)), -1);
});

test("a pull read waiting on an idle stream completes with the next data, then null after FIN, and ECONNRESET after a reset", async () => {
  await using pair = sessions(...pullConnPair(prng(7)));
  const [serverSide, clientSide] = await openPair(pair);
  const io = nativeIO(clientSide) as PullIO;
  assert.equal(io.kind, "pull");
  const buffer = new Uint8Array(8);
  const waiting = io.read(buffer); // nothing sent yet: the read waits
  await assert.rejects(io.read(new Uint8Array(1)), /Cannot read tunnel stream \d+: a read is already pending/);
  const writer = serverSide.writable.getWriter();
  await writer.write(new TextEncoder().encode("hello tunnel")); // 12 bytes, more than the buffer
  assert.equal(await waiting, 8);
  assert.equal(new TextDecoder().decode(buffer), "hello tu");
  assert.equal(await io.read(buffer), 4);
  assert.equal(new TextDecoder().decode(buffer.subarray(0, 4)), "nnel");
  const atEnd = io.read(buffer);
  await writer.close();
  assert.equal(await atEnd, null);

  const [serverSide2, clientSide2] = await openPair(pair);
  const io2 = nativeIO(clientSide2) as PullIO;
  const reset = io2.read(buffer);
  serverSide2.reset("shutting_down");
  await assert.rejects(reset, (error) => error instanceof NetError && error.code === "ECONNRESET");
  clientSide.close();
  clientSide2.close();
});

test("the pull reader's pooled buffers survive random read splits with stalled, slow, fast and web-stream readers", async () => {
  const random = prng(0xb0f);
  await using pair = sessions(...pullConnPair(random));
  const size = 3 * 1024 * 1024;
  const streams = await Promise.all([openPair(pair), openPair(pair), openPair(pair), openPair(pair)]);
  const inputs = streams.map((_, i) => randomBytes(i === 3 ? 200_000 : size, 40 + i));
  const slow = async (io: PullIO, expected: Uint8Array, stalled?: Promise<unknown>) => {
    await stalled; // meanwhile, the views this stream keeps pin their read buffers
    const buffer = new Uint8Array(7000);
    const got: Uint8Array[] = [];
    for (let n = await io.read(buffer); n !== null; n = await io.read(buffer)) {
      got.push(buffer.slice(0, n));
      if (random() < 0.05) await delay(1); // views pile up in the queue meanwhile
    }
    assert.ok(Buffer.from(concat(got)).equals(Buffer.from(expected)), "a pull reader got other bytes");
  };
  const others = Promise.all([
    writeAll(streams[0][0].writable, inputs[0]),
    slow(nativeIO(streams[0][1]) as PullIO, inputs[0]),
    writeAll(streams[1][0].writable, inputs[1]),
    expectBytes(streams[1][1].readable, inputs[1]),
    // Client to server.
    writeAll(streams[2][1].writable, inputs[2]),
    slow(nativeIO(streams[2][0]) as PullIO, inputs[2]),
  ]);
  await Promise.all([
    others,
    writeAll(streams[3][0].writable, inputs[3]),
    slow(nativeIO(streams[3][1]) as PullIO, inputs[3], others),
  ]);
});
