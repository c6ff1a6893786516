import assert from "node:assert/strict";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import {
  encodeFrame,
  type Frame,
  FrameParser,
  FrameType,
  MAX_DATA_BYTES,
  MAX_FRAME_BYTES,
} from "../../../protocols/tunnel/mux_frame.ts";
import { test } from "../../_util/test.ts";

function parseAll(parser: FrameParser, chunk: Uint8Array): Frame[] {
  parser.push(chunk);
  const frames: Frame[] = [];
  for (let f = parser.next(); f; f = parser.next()) frames.push({ ...f, payload: f.payload.slice() });
  return frames;
}

const SAMPLE: Frame[] = [
  { type: FrameType.DATA, streamId: 0, payload: new Uint8Array([1, 2, 3]) },
  { type: FrameType.OPEN, streamId: 2, payload: new Uint8Array(40).fill(7) },
  { type: FrameType.DATA, streamId: 2, payload: new Uint8Array(MAX_DATA_BYTES).fill(9) },
  { type: FrameType.FIN, streamId: 2, payload: new Uint8Array(0) },
  { type: FrameType.RST, streamId: 4, payload: new Uint8Array([0, 8]) },
  { type: FrameType.WINDOW, streamId: 0xfffffffe, payload: new Uint8Array([0, 4, 0, 0]) },
  { type: FrameType.PING, streamId: 0, payload: new Uint8Array(8).fill(1) },
  { type: FrameType.PONG, streamId: 0, payload: new Uint8Array(8).fill(1) },
];

test("encodeFrame() writes type, big-endian id and length, then the payload", () => {
  assert.deepEqual([...encodeFrame(FrameType.RST, 0x01020304, new Uint8Array([0, 1]))], [
    3,
    1,
    2,
    3,
    4,
    0,
    0,
    0,
    2,
    0,
    1,
  ]);
  assert.deepEqual([...encodeFrame(FrameType.FIN, 0xffffffff)], [2, 255, 255, 255, 255, 0, 0, 0, 0]);
});

test("FrameParser parses frames whole, byte by byte and in random splits", () => {
  const stream = new Uint8Array(SAMPLE.reduce((n, f) => n + 9 + f.payload.byteLength, 0));
  let at = 0;
  for (const f of SAMPLE) {
    stream.set(encodeFrame(f.type, f.streamId, f.payload), at);
    at += 9 + f.payload.byteLength;
  }
  assert.deepEqual(parseAll(new FrameParser(), stream), SAMPLE);
  const byteParser = new FrameParser();
  const bytewise: Frame[] = [];
  for (let i = 0; i < stream.byteLength; i++) bytewise.push(...parseAll(byteParser, stream.subarray(i, i + 1)));
  assert.deepEqual(bytewise, SAMPLE);
  assert.equal(byteParser.bufferedBytes, 0);
  for (const cut of [1, 8, 9, 10, 100, 16_000, 16_400]) {
    const parser = new FrameParser();
    assert.deepEqual([...parseAll(parser, stream.subarray(0, cut)), ...parseAll(parser, stream.subarray(cut))], SAMPLE);
  }
});

test("FrameParser hands out DATA payloads as views when they arrive whole", () => {
  const bytes = encodeFrame(FrameType.DATA, 2, new Uint8Array([5, 6]));
  const parser = new FrameParser();
  parser.push(bytes);
  const frame = parser.next()!;
  assert.equal(frame.payload.buffer, bytes.buffer);
});

test("FrameParser rejects unknown types and bad lengths with exact messages, before buffering", () => {
  const cases: [number[], string][] = [
    [[7, 0, 0, 0, 1, 0, 0, 0, 0], "Invalid mux frame: unknown type 7 on stream 1"],
    [[255, 0, 0, 0, 0, 0, 0, 0, 0], "Invalid mux frame: unknown type 255 on stream 0"],
    [[0, 0, 0, 0, 2, 0, 0, 0, 0], "Invalid mux frame: DATA on stream 2 has length 0, expected 1 to 16384 bytes"],
    [[0, 0, 0, 0, 2, 0, 0, 0x40, 1], "Invalid mux frame: DATA on stream 2 has length 16385, expected 1 to 16384 bytes"],
    [
      [0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff],
      "Invalid mux frame: DATA on stream 2 has length 4294967295, expected 1 to 16384 bytes",
    ],
    [[1, 0, 0, 0, 2, 0, 0, 1, 39], "Invalid mux frame: OPEN on stream 2 has length 295, expected 1 to 294 bytes"],
    [[2, 0, 0, 0, 2, 0, 0, 0, 1], "Invalid mux frame: FIN on stream 2 has length 1, expected exactly 0 bytes"],
    [[3, 0, 0, 0, 2, 0, 0, 0, 4], "Invalid mux frame: RST on stream 2 has length 4, expected exactly 2 bytes"],
    [[4, 0, 0, 0, 2, 0, 0, 0, 2], "Invalid mux frame: WINDOW on stream 2 has length 2, expected exactly 4 bytes"],
    [[5, 0, 0, 0, 0, 0, 0, 0, 0], "Invalid mux frame: PING on stream 0 has length 0, expected exactly 8 bytes"],
    [[6, 0, 0, 0, 0, 0, 0, 0, 9], "Invalid mux frame: PONG on stream 0 has length 9, expected exactly 8 bytes"],
  ];
  for (const [bytes, message] of cases) {
    const parser = new FrameParser();
    parser.push(new Uint8Array(bytes));
    const check = (error: unknown) =>
      error instanceof TunnelError && error.code === "protocol" && error.message === message;
    assert.throws(() => parser.next(), check);
    assert.throws(() => parser.next(), check, "stays failed");
    assert.equal(parser.bufferedBytes, 0);
  }
});

test("FrameParser never holds more than one maximal frame", () => {
  const parser = new FrameParser();
  const frame = encodeFrame(FrameType.DATA, 2, new Uint8Array(MAX_DATA_BYTES));
  parser.push(frame.subarray(0, MAX_FRAME_BYTES - 1));
  assert.equal(parser.next(), undefined);
  assert.equal(parser.bufferedBytes, MAX_FRAME_BYTES - 1);
  parser.push(frame.subarray(MAX_FRAME_BYTES - 1));
  assert.equal(parser.next()!.payload.byteLength, MAX_DATA_BYTES);
  assert.equal(parser.bufferedBytes, 0);
});

test("FrameParser.push() refuses a new chunk before the last one is parsed", () => {
  const parser = new FrameParser();
  const two = new Uint8Array([...encodeFrame(FrameType.FIN, 2), ...encodeFrame(FrameType.FIN, 4)]);
  parser.push(two);
  parser.next();
  assert.throws(() => parser.push(new Uint8Array(1)), TypeError);
});
