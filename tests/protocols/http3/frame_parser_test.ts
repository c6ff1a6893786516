import assert from "node:assert/strict";
import { Http3Error, Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import { type FrameEvent, FrameParser } from "../../../protocols/http3/frame_parser.ts";
import { FrameReader } from "../../../protocols/http3/frame_reader.ts";
import { encodeFrame, encodeFrameHeader, FrameType, StreamType } from "../../../protocols/http3/frames.ts";
import { encodeSettingsFrame } from "../../../protocols/http3/settings.ts";
import { test } from "../../_util/test.ts";
import { hex, toHex } from "./_hex.ts";

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) out.set(part, (offset += part.length) - part.length);
  return out;
}

/** Parses `bytes` split into `size`-byte chunks and merges adjacent data events, for comparison. */
function parse(bytes: Uint8Array, size: number, options = {}): unknown[] {
  const parser = new FrameParser(options);
  const events: FrameEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) events.push(...parser.push(bytes.subarray(i, i + size)));
  parser.finish();
  const merged: unknown[] = [];
  let data: number[] = [];
  let raw: number[] | undefined;
  for (const event of events) {
    if (event.kind === "raw") {
      (raw ??= []).push(...event.data);
    } else if (event.kind === "data") {
      data.push(...event.data);
      if (!event.frameEnd) continue;
      merged.push({ kind: "data", data: toHex(Uint8Array.from(data)) });
      data = [];
    } else {
      merged.push(event.kind === "frame" ? { ...event, payload: toHex(event.payload) } : event);
    }
  }
  if (raw) merged.push({ kind: "raw", data: toHex(Uint8Array.from(raw)) });
  return merged;
}

function http3Error(code: number, message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof Http3Error, String(error));
    assert.equal(error.message, message);
    assert.equal(error.code, code);
    return true;
  };
}

const STREAM = concat(
  encodeFrame(FrameType.HEADERS, hex("0000d9")),
  encodeFrame(0x21, hex("deadbeef")), // reserved: skipped
  encodeFrame(0x1234, new Uint8Array(300)), // unknown: skipped
  hex("ff00000000000021 00"), // a grease type above 2^53, empty
  encodeFrame(FrameType.DATA, hex("68656c6c6f")),
  encodeFrame(FrameType.DATA, hex("")),
  encodeFrame(FrameType.HEADERS, hex("")),
);

test("FrameParser yields the same frames whatever the chunking, skipping unknown and reserved types", () => {
  const expected = [
    { kind: "frame", type: 1, payload: "0000d9" },
    { kind: "data", data: "68656c6c6f" },
    { kind: "data", data: "" },
    { kind: "frame", type: 1, payload: "" },
  ];
  for (const size of [1, 2, 3, 7, 16, 1000]) assert.deepEqual(parse(STREAM, size), expected, `chunks of ${size}`);
});

test("FrameParser streams DATA as views of the pushed chunks, without buffering the frame", () => {
  const parser = new FrameParser({ maxFramePayload: 1024 });
  const total = 1 << 20;
  const first = concat(encodeFrameHeader(FrameType.DATA, total), new Uint8Array(1000));
  const events = parser.push(first);
  assert.equal(events.length, 1);
  assert.equal(events[0].kind, "data");
  assert.equal((events[0] as { data: Uint8Array }).data.buffer, first.buffer); // a view, not a copy
  let seen = 1000;
  for (const chunk = new Uint8Array(16_384); seen < total;) {
    const part = chunk.subarray(0, Math.min(chunk.length, total - seen));
    for (const event of parser.push(part)) {
      assert.equal(event.kind, "data");
      if (event.kind !== "data") continue;
      assert.equal(event.data.buffer, chunk.buffer);
      seen += event.data.length;
      assert.equal(event.frameEnd, seen === total);
    }
  }
  assert.equal(seen, total);
  assert.ok(parser.atFrameBoundary);
  parser.finish();
});

test("FrameParser reads a stream type first when asked", () => {
  const control = concat(hex("00"), encodeSettingsFrame({ qpackMaxTableCapacity: 0 }), encodeFrame(0x7, hex("00")));
  assert.deepEqual(parse(control, 1, { readStreamType: true }), [
    { kind: "stream-type", streamType: StreamType.CONTROL },
    { kind: "frame", type: FrameType.SETTINGS, payload: "0100" },
    { kind: "frame", type: FrameType.GOAWAY, payload: "00" },
  ]);
  // After any other type the bytes are not frames: QPACK instructions, for example.
  assert.deepEqual(parse(hex("02 3f e1 1f"), 2, { readStreamType: true }), [
    { kind: "stream-type", streamType: StreamType.QPACK_ENCODER },
    { kind: "raw", data: "3fe11f" },
  ]);
  assert.deepEqual(parse(hex("ff00000000000021 0102"), 3, { readStreamType: true }), [
    { kind: "stream-type", streamType: Number(0x3f00000000000021n) },
    { kind: "raw", data: "0102" },
  ]);
  assert.deepEqual(parse(hex(""), 1, { readStreamType: true }), []); // closed before its type: tolerated
});

test("FrameParser rejects oversized buffered frames as soon as the header arrives", () => {
  const parser = new FrameParser({ maxFramePayload: 100 });
  assert.deepEqual(parser.push(encodeFrame(FrameType.HEADERS, new Uint8Array(100))).length, 1);
  assert.throws(
    () => parser.push(encodeFrameHeader(FrameType.HEADERS, 101)),
    http3Error(
      Http3ErrorCode.H3_EXCESSIVE_LOAD,
      "Cannot accept HEADERS frame: its 101-byte payload is above the limit of 100 bytes",
    ),
  );
  // DATA and skipped frames are not limited.
  assert.doesNotThrow(() => new FrameParser({ maxFramePayload: 0 }).push(encodeFrameHeader(FrameType.DATA, 1e9)));
  assert.doesNotThrow(() => new FrameParser({ maxFramePayload: 0 }).push(encodeFrameHeader(0x21, 1e9)));
  assert.throws(() => new FrameParser({ maxFramePayload: -1 }), {
    name: "RangeError",
    message: "Cannot create FrameParser as 'maxFramePayload' must be a non-negative integer: current value is -1",
  });
});

test("FrameParser rejects HTTP/2 frame types, huge lengths and streams that end inside a frame", () => {
  for (const type of [0x2, 0x6, 0x8, 0x9]) {
    assert.throws(
      () => new FrameParser().push(hex(`0${type}00`)),
      http3Error(
        Http3ErrorCode.H3_FRAME_UNEXPECTED,
        `Cannot accept frame type 0x${type}: it is reserved because HTTP/2 used it`,
      ),
    );
  }
  assert.throws(
    () => new FrameParser().push(hex("00 c2197c5eff14e88c")),
    http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot parse frame: its length is above 2^53 - 1"),
  );
  const ends: [string, string][] = [
    ["01", "a frame header"],
    ["0105 0000", "a HEADERS frame"],
    ["0005 68", "a DATA frame"],
    ["2102 00", "a RESERVED(0x21) frame"],
  ];
  for (const [bytes, where] of ends) {
    const parser = new FrameParser();
    parser.push(hex(bytes));
    assert.equal(parser.atFrameBoundary, false);
    assert.throws(
      () => parser.finish(),
      http3Error(Http3ErrorCode.H3_FRAME_ERROR, `Cannot parse frames: the stream ended inside ${where}`),
    );
  }
});

function streamOf(chunks: Uint8Array[]): { readable: ReadableStream<Uint8Array>; cancelled: () => unknown } {
  let reason: unknown = "not cancelled";
  let i = 0;
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
    cancel(r) {
      reason = r;
    },
  });
  return { readable, cancelled: () => reason };
}

test("FrameReader reads frame events from a ReadableStream until a clean end", async () => {
  const { readable } = streamOf([STREAM.subarray(0, 5), STREAM.subarray(5, 400), STREAM.subarray(400)]);
  const reader = new FrameReader(readable);
  const kinds: string[] = [];
  for await (const event of reader) kinds.push(event.kind === "frame" ? `frame ${event.type}` : event.kind);
  assert.deepEqual(kinds, ["frame 1", "data", "data", "frame 1"]);
  assert.equal(await reader.read(), undefined);
});

test("FrameReader rejects a stream that ends inside a frame", async () => {
  const reader = new FrameReader(streamOf([hex("0105 0000")]).readable);
  await assert.rejects(
    () => reader.read(),
    http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot parse frames: the stream ended inside a HEADERS frame"),
  );
});

test("FrameReader cancels the stream when a loop stops early or the signal aborts", async () => {
  const early = streamOf([STREAM, STREAM]);
  for await (const _ of new FrameReader(early.readable)) break;
  assert.equal(early.cancelled(), undefined);

  const controller = new AbortController();
  const aborted = streamOf([STREAM, STREAM]);
  const reader = new FrameReader(aborted.readable, { signal: controller.signal });
  assert.equal((await reader.read())?.kind, "frame");
  controller.abort(new Error("shutting down"));
  await assert.rejects(() => reader.read(), { message: "shutting down" });
  assert.equal((aborted.cancelled() as Error).message, "shutting down");

  const released = streamOf([STREAM]);
  new FrameReader(released.readable).releaseLock();
  assert.equal(released.readable.locked, false);
});
