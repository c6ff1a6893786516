import assert from "node:assert/strict";
import { isCleanClose, NetError } from "../../../protocols/errors.ts";
import { ControlChannel } from "../../../protocols/tunnel/control_channel.ts";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import { encodeMessage, MAX_MESSAGE_BYTES } from "../../../protocols/tunnel/messages.ts";
import { test } from "../../_util/test.ts";
import { VALID_MESSAGES } from "./_samples.ts";
import { muxPair, ScriptedConn, tcpPair } from "./_util.ts";

function lengthPrefix(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

test("ControlChannel exchanges every message type over TCP, concurrent sends intact and in order", async () => {
  const [a, b] = await tcpPair();
  const left = new ControlChannel(a, { protocol: "tcp" });
  const right = new ControlChannel(b, { protocol: "tcp" });
  try {
    await Promise.all(VALID_MESSAGES.map((m) => left.send(m)));
    for (const expected of VALID_MESSAGES) assert.deepEqual(await right.receive(), expected);
    // Concurrent receives are served in call order.
    const pending = [right.receive(), right.receive()];
    await left.send({ type: "ping", seq: 1, sentAt: 1 });
    await left.send({ type: "ping", seq: 2, sentAt: 2 });
    assert.deepEqual((await Promise.all(pending)).map((m) => (m as { seq: number }).seq), [1, 2]);
  } finally {
    left.close();
    right.close();
  }
});

test("ControlChannel reassembles messages that arrive a byte at a time or several per chunk", async () => {
  const conn = new ScriptedConn();
  const channel = new ControlChannel(conn);
  const frames = VALID_MESSAGES.map((m) => encodeMessage(m));
  for (const frame of frames) for (const byte of frame) conn.push(new Uint8Array([byte]));
  for (const expected of VALID_MESSAGES) assert.deepEqual(await channel.receive(), expected);
  const joined = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  frames.reduce((at, f) => (joined.set(f, at), at + f.byteLength), 0);
  conn.push(joined);
  for (const expected of VALID_MESSAGES) assert.deepEqual(await channel.receive(), expected);
  channel.close();
});

test("ControlChannel rejects an oversized length before reading the body, and stays failed", async () => {
  const conn = new ScriptedConn();
  const channel = new ControlChannel(conn);
  conn.push(lengthPrefix(MAX_MESSAGE_BYTES + 1));
  const check = (error: unknown) => {
    assert.ok(error instanceof TunnelError);
    assert.equal(error.code, "protocol");
    assert.equal(
      error.message,
      `Invalid control message: length ${MAX_MESSAGE_BYTES + 1} exceeds the limit of 65536 bytes`,
    );
    return true;
  };
  await assert.rejects(channel.receive(), check);
  await assert.rejects(channel.receive(), check);
  channel.close();
});

test("ControlChannel reports an invalid message as a protocol error", async () => {
  const conn = new ScriptedConn();
  const channel = new ControlChannel(conn);
  const body = new TextEncoder().encode('{"type":"ping","seq":-1,"sentAt":0}');
  conn.push(new Uint8Array([...lengthPrefix(body.byteLength), ...body]));
  await assert.rejects(channel.receive(), {
    name: "TunnelError",
    message: 'Invalid "ping" message: "seq" must be an integer from 0 to 4294967295',
  });
  channel.close();
});

test("ControlChannel.receive() rejects with NetError ECLOSED when the conn ends, between or inside messages", async () => {
  const between = new ScriptedConn();
  const a = new ControlChannel(between);
  between.push(encodeMessage({ type: "pong", seq: 1 }));
  between.end();
  assert.deepEqual(await a.receive(), { type: "pong", seq: 1 });
  await assert.rejects(a.receive(), (error) => {
    assert.ok(error instanceof NetError && isCleanClose(error));
    assert.equal(error.code, "ECLOSED");
    assert.equal(error.message, "Cannot receive control message: connection is closed");
    return true;
  });
  const inside = new ScriptedConn();
  const b = new ControlChannel(inside);
  inside.push(encodeMessage({ type: "pong", seq: 1 }).subarray(0, 10));
  inside.end();
  await assert.rejects(b.receive(), {
    name: "NetError",
    message: "Cannot receive control message: connection closed inside a message (10 of 27 bytes)",
  });
});

test("an aborted ControlChannel.receive() loses nothing: the next receive gets the message", async () => {
  const conn = new ScriptedConn();
  const channel = new ControlChannel(conn);
  const controller = new AbortController();
  const waiting = channel.receive({ signal: controller.signal });
  const frame = encodeMessage({ type: "pong", seq: 9 });
  conn.push(frame.subarray(0, 6));
  await new Promise((resolve) => setTimeout(resolve, 5));
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, { message: "stop" });
  await assert.rejects(channel.receive({ signal: AbortSignal.abort(new Error("already")) }), { message: "already" });
  conn.push(frame.subarray(6));
  assert.deepEqual(await channel.receive(), { type: "pong", seq: 9 });
  channel.close();
});

test("ControlChannel.close() fails pending and later calls with ECLOSED and closes the conn", async () => {
  const conn = new ScriptedConn();
  const channel = new ControlChannel(conn);
  const pending = channel.receive();
  channel.close();
  channel.close();
  await assert.rejects(pending, (e) => e instanceof NetError && e.code === "ECLOSED");
  await assert.rejects(channel.receive(), (e) => e instanceof NetError && e.code === "ECLOSED");
  await assert.rejects(channel.send({ type: "pong", seq: 1 }), {
    name: "NetError",
    message: "Cannot send control message: the channel is closed",
  });
  assert.ok(conn.isClosed);
});

test("ControlChannel runs over the mux control stream, and sees the peer's last message before its reset", async () => {
  await using pair = await muxPair();
  const server = new ControlChannel(pair.server.control);
  const client = new ControlChannel(pair.client.control);
  await client.send(VALID_MESSAGES[0]);
  assert.deepEqual(await server.receive(), VALID_MESSAGES[0]);
  void server.send({ type: "error", code: "auth_failed", message: "authentication failed" }).catch(() => {});
  pair.server.close(new TunnelError("auth_failed", "authentication failed"));
  assert.deepEqual(await client.receive(), { type: "error", code: "auth_failed", message: "authentication failed" });
  await assert.rejects(client.receive(), (e) => isCleanClose(e));
});
