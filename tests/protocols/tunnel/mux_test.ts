import assert from "node:assert/strict";
import { isCleanClose, NetError } from "../../../protocols/errors.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { MuxSession } from "../../../protocols/tunnel/mux.ts";
import { encodeFrame, FrameParser, FrameType } from "../../../protocols/tunnel/mux_frame.ts";
import { randomBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { delay, expectBytes, muxPair, openPair, readAll, ScriptedConn, tcpPair, waitFor, writeAll } from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

test("MuxSession carries 64 MiB byte-exact in both directions at once on one stream", async () => {
  await using pair = await muxPair();
  const [s, c, header] = await openPair(pair, encoder.encode("hdr"));
  assert.equal(decoder.decode(header), "hdr");
  const size = 64 * 1024 * 1024;
  const up = randomBytes(size, 1);
  const down = randomBytes(size, 2);
  const started = performance.now();
  await Promise.all([
    writeAll(c.writable, up),
    writeAll(s.writable, down),
    expectBytes(s.readable, up),
    expectBytes(c.readable, down),
  ]);
  const seconds = (performance.now() - started) / 1000;
  // deno-lint-ignore no-console
  console.log(`  64 MiB each way on one stream: ${(2 * size / 1e6 / seconds).toFixed(0)} MB/s total`);
  await Promise.all([s.closed, c.closed]);
  assert.equal(pair.server.streamCount, 0);
  assert.equal(pair.client.streamCount, 0);
});

test("MuxSession streams half-close independently", async () => {
  await using pair = await muxPair();
  const [s, c] = await openPair(pair);
  await writeAll(c.writable, encoder.encode("request"));
  assert.equal(decoder.decode(await readAll(s.readable)), "request");
  // The server can still answer after the client's FIN.
  await writeAll(s.writable, encoder.encode("response"));
  assert.equal(decoder.decode(await readAll(c.readable)), "response");
  await Promise.all([s.closed, c.closed]);
});

test("MuxSession keeps 100 concurrent streams byte-exact", async () => {
  await using pair = await muxPair();
  const accepted = (async () => {
    const conns = [];
    for await (const incoming of pair.client.accept()) {
      conns.push(incoming);
      if (conns.length === 100) return conns;
    }
    throw new Error("session ended");
  })();
  const opened = await Promise.all(
    Array.from({ length: 100 }, (_, i) => pair.server.open(new Uint8Array([i]))),
  );
  const incoming = await accepted;
  assert.equal(pair.server.streamCount, 100);
  await Promise.all(incoming.map(async ({ header, conn }) => {
    const i = header[0];
    const data = randomBytes(100_000 + i * 1000, i + 10);
    // The client echoes each stream back, reversed in direction.
    const echoed = readAll(conn.readable).then((bytes) => writeAll(conn.writable, bytes, 7_000));
    await Promise.all([writeAll(opened[i].writable, data, 9_000), expectBytes(opened[i].readable, data), echoed]);
  }));
  await waitFor(() => pair.server.streamCount === 0 && pair.client.streamCount === 0);
});

test("MuxSession: a stream whose reader never reads does not block another stream", async () => {
  await using pair = await muxPair();
  const [stuckServer] = await openPair(pair, new Uint8Array([1]));
  const [liveServer, liveClient] = await openPair(pair, new Uint8Array([2]));
  // Push 4 MiB into a stream nobody reads: only the window (plus the send buffer) can go out.
  const writer = stuckServer.writable.getWriter();
  let written = 0;
  const pump = (async () => {
    for (let i = 0; i < 64; i++) {
      await writer.write(new Uint8Array(64 * 1024));
      written += 64 * 1024;
    }
  })();
  pump.catch(() => {});
  await delay(100);
  assert.ok(written <= 512 * 1024, `wrote ${written} bytes into a stalled stream`);
  assert.ok(pair.client.bufferedBytes <= 256 * 1024, `client buffers ${pair.client.bufferedBytes} bytes`);
  // The other stream still flows.
  const data = randomBytes(2 * 1024 * 1024, 5);
  await Promise.all([writeAll(liveServer.writable, data), expectBytes(liveClient.readable, data)]);
  assert.ok(written <= 512 * 1024);
  stuckServer.close();
  await assert.rejects(pump);
});

test("MuxSession propagates RST with its code to the other side", async () => {
  await using pair = await muxPair();
  const [s, c] = await openPair(pair);
  const reading = s.readable.getReader().read();
  c.reset("local_unreachable");
  await assert.rejects(reading, (error) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ECONNRESET");
    assert.ok(isCleanClose(error));
    assert.ok(error.cause instanceof TunnelError);
    assert.equal(error.cause.code, "local_unreachable");
    return true;
  });
  assert.equal(s.resetCode, "local_unreachable");
  await assert.rejects(s.writable.getWriter().write(new Uint8Array(1)), (e) => e instanceof NetError);
  await s.closed;
  assert.equal(pair.server.streamCount, 0);
  assert.equal(pair.client.streamCount, 0);
});

test("MuxStream.close() flushes, sends FIN, then resets: the peer reads everything, its writes fail", async () => {
  await using pair = await muxPair();
  const [s, c] = await openPair(pair);
  const data = randomBytes(1024 * 1024, 9); // more than a window: close() must wait for credit
  const writer = s.writable.getWriter();
  const wrote = writer.write(data);
  await waitFor(() => pair.client.bufferedBytes >= 256 * 1024, 5_000, "a full window at the client");
  s.close(); // the write is still pending: TCP-like close settles it and keeps its bytes
  await wrote;
  await expectBytes(c.readable, data);
  await s.closed;
  await assert.rejects(
    c.writable.getWriter().write(new Uint8Array(1)),
    (e) => e instanceof NetError && e.code === "ECONNRESET",
  );
  // Our own reads just end after a local close.
  assert.equal((await readAll(s.readable)).byteLength, 0);
  await waitFor(() => pair.server.streamCount === 0 && pair.client.streamCount === 0);
});

test("MuxStream.close() with unread data resets at once, and the peer's reads fail", async () => {
  await using pair = await muxPair();
  const [s, c] = await openPair(pair);
  const w = c.writable.getWriter();
  await w.write(encoder.encode("unread"));
  await waitFor(() => pair.server.bufferedBytes > 0);
  const pending = c.readable.getReader().read();
  s.close();
  await assert.rejects(pending, (e) => e instanceof NetError && e.code === "ECONNRESET");
  assert.equal(c.resetCode, undefined);
});

test("MuxSession: control stream 0 carries bytes both ways", async () => {
  await using pair = await muxPair();
  const cw = pair.client.control.writable.getWriter();
  const sw = pair.server.control.writable.getWriter();
  const sr = pair.server.control.readable.getReader();
  const cr = pair.client.control.readable.getReader();
  await cw.write(encoder.encode("hello"));
  await sw.write(encoder.encode("challenge"));
  assert.equal(decoder.decode((await sr.read()).value), "hello");
  assert.equal(decoder.decode((await cr.read()).value), "challenge");
  // More than a window's worth, to exercise WINDOW on stream 0.
  const big = randomBytes(1024 * 1024, 3);
  cw.releaseLock();
  sr.releaseLock();
  await Promise.all([
    (async () => {
      const w = pair.client.control.writable.getWriter();
      await w.write(big);
      w.releaseLock();
    })(),
    (async () => {
      const r = pair.server.control.readable.getReader();
      let got = 0;
      while (got < big.byteLength) got += (await r.read()).value!.byteLength;
      r.releaseLock();
      assert.equal(got, big.byteLength);
    })(),
  ]);
});

test("MuxSession.ping() measures a round trip", async () => {
  await using pair = await muxPair();
  const rtt = await pair.client.ping();
  assert.ok(rtt >= 0 && rtt < 5_000);
  assert.ok(await pair.server.ping() >= 0);
});

test("MuxSession.close() ends the peer session, resets streams and resolves closed", async () => {
  await using pair = await muxPair();
  const [s, c] = await openPair(pair);
  pair.server.close(new TunnelError("shutting_down", "bye"));
  pair.server.close();
  await pair.server.closed;
  await pair.client.closed;
  assert.ok(pair.server.closeReason instanceof TunnelError);
  assert.ok(pair.client.closeReason instanceof TunnelError);
  assert.equal((pair.client.closeReason as TunnelError).code, "shutting_down");
  await assert.rejects(readAll(c.readable), (e) => isCleanClose(e));
  await assert.rejects(readAll(s.readable), (e) => isCleanClose(e));
  await assert.rejects(pair.server.open(new Uint8Array(1)), (e) => e instanceof NetError && e.code === "ECLOSED");
});

test("MuxSession flushes control data queued before close()", async () => {
  await using pair = await muxPair();
  const w = pair.server.control.writable.getWriter();
  void w.write(encoder.encode("last words")).catch(() => {});
  pair.server.close(new TunnelError("auth_failed", "authentication failed"));
  const r = pair.client.control.readable.getReader();
  assert.equal(decoder.decode((await r.read()).value), "last words");
  await pair.client.closed;
  assert.equal((pair.client.closeReason as TunnelError).code, "auth_failed");
});

test("MuxSession ends with a protocol error when the peer sends beyond the window", async () => {
  const [raw, conn] = await tcpPair();
  await using session = new MuxSession(conn, { role: "client", protocol: "tcp" });
  const w = raw.writable.getWriter();
  await w.write(encodeFrame(FrameType.OPEN, 2, new Uint8Array([1])));
  const chunk = encodeFrame(FrameType.DATA, 2, new Uint8Array(16384));
  for (let i = 0; i < 17; i++) await w.write(chunk); // 17 * 16 KiB > 256 KiB
  await session.closed;
  assert.ok(session.closeReason instanceof TunnelError);
  assert.equal(session.closeReason.code, "protocol");
  assert.match(session.closeReason.message, /exceeds the receive window/);
  // The peer is told why: RST on stream 0 with code 1.
  const rest = await readAll(raw.readable);
  assert.deepEqual([...rest.subarray(-11)], [3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
  raw.close();
});

test("MuxSession ends with a protocol error on a malformed frame (web-stream conn)", async () => {
  const conn = new ScriptedConn({ keepWrites: true });
  const session = new MuxSession(conn, { role: "client" });
  conn.push(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0]));
  await session.closed;
  assert.ok(session.closeReason instanceof TunnelError);
  assert.equal(session.closeReason.message, "Invalid mux frame: unknown type 9 on stream 0");
  assert.ok(conn.isClosed);
});

test("MuxSession rejects OPEN from a client and frames for unknown streams", async () => {
  for (
    const [role, frame, message] of [
      [
        "server",
        encodeFrame(FrameType.OPEN, 2, new Uint8Array([1])),
        "Invalid mux frame: OPEN for stream 2 from the client",
      ],
      [
        "client",
        encodeFrame(FrameType.DATA, 4, new Uint8Array([1])),
        "Invalid mux frame: DATA for stream 4, which was never opened",
      ],
      [
        "client",
        encodeFrame(FrameType.OPEN, 3, new Uint8Array([1])),
        "Invalid mux frame: OPEN for stream 3 (expected an even id above 0)",
      ],
      ["client", encodeFrame(FrameType.PING, 2, new Uint8Array(8)), "Invalid mux frame: PING on stream 2 (must be 0)"],
      [
        "client",
        encodeFrame(FrameType.WINDOW, 0, new Uint8Array(4)),
        "Invalid mux frame: WINDOW with increment 0 on stream 0",
      ],
    ] as const
  ) {
    const conn = new ScriptedConn();
    const session = new MuxSession(conn, { role });
    conn.push(frame);
    await session.closed;
    assert.ok(session.closeReason instanceof TunnelError);
    assert.equal(session.closeReason.message, message);
  }
});

test("MuxSession resets OPENs beyond maxStreams with too_many_connections", async () => {
  await using pair = await muxPair({ maxStreams: 2 });
  const a = await pair.server.open(new Uint8Array([1]));
  const b = await pair.server.open(new Uint8Array([2]));
  await assert.rejects(
    pair.server.open(new Uint8Array([3])),
    (e) => e instanceof TunnelError && e.code === "too_many_connections",
  );
  a.close();
  b.close();
  await waitFor(() => pair.server.streamCount === 0);
});

test("MuxSession ends when the connection closes, with a clean-close reason", async () => {
  const [raw, conn] = await tcpPair();
  const session = new MuxSession(conn, { role: "server" });
  raw.close();
  await session.closed;
  assert.ok(isCleanClose(session.closeReason));
});

/** The DATA frames a scripted server session wrote, batch by batch, as `[streamId, bytes]`. */
function dataFrames(conn: ScriptedConn): [number, number][][] {
  return conn.writes.map((batch) => {
    const parser = new FrameParser();
    parser.push(batch);
    const frames: [number, number][] = [];
    for (let f = parser.next(); f !== undefined; f = parser.next()) {
      if (f.type === FrameType.DATA) frames.push([f.streamId, f.payload.byteLength]);
    }
    return frames;
  });
}

test("MuxSession sends a small write ahead of another stream's queued bulk data", async () => {
  const conn = new ScriptedConn({ keepWrites: true });
  await using session = new MuxSession(conn, { role: "server" });
  const bulk = await session.open(new Uint8Array([1]));
  const small = await session.open(new Uint8Array([2]));
  void bulk.writable.getWriter().write(new Uint8Array(200 * 1024));
  void small.writable.getWriter().write(encoder.encode("ping"));
  await waitFor(() => dataFrames(conn).flat().reduce((n, [, bytes]) => n + bytes, 0) === 200 * 1024 + 4);
  const frames = dataFrames(conn).flat();
  assert.deepEqual(frames[0], [small.id, 4], "the small write goes first");
  assert.ok(frames.slice(1).every(([id]) => id === bulk.id));
});

test("MuxSession gives small writes at most half a batch; queued bulk data gets the rest", async () => {
  const conn = new ScriptedConn({ keepWrites: true });
  await using session = new MuxSession(conn, { role: "server" });
  const bulk = await session.open(new Uint8Array([1]));
  const smalls = await Promise.all(Array.from({ length: 16 }, (_, i) => session.open(new Uint8Array([i + 2]))));
  void bulk.writable.getWriter().write(new Uint8Array(200 * 1024));
  for (const s of smalls) void s.writable.getWriter().write(new Uint8Array(16 * 1024));
  const total = 200 * 1024 + 16 * 16 * 1024;
  await waitFor(() => dataFrames(conn).flat().reduce((n, [, bytes]) => n + bytes, 0) === total);
  const [first] = dataFrames(conn).filter((batch) => batch.length > 0);
  const bytesOf = (which: (id: number) => boolean) =>
    first.filter(([id]) => which(id)).reduce((n, [, bytes]) => n + bytes, 0);
  const smallBytes = bytesOf((id) => id !== bulk.id);
  const bulkBytes = bytesOf((id) => id === bulk.id);
  assert.ok(smallBytes <= 128 * 1024 + 16 * 1024, `small writes took ${smallBytes} bytes of the first batch`);
  assert.ok(bulkBytes >= 96 * 1024, `the bulk stream got ${bulkBytes} bytes of the first batch`);
});
