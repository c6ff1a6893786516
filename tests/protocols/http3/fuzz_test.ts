/**
 * Seeded fuzzing of the parsers that read peer bytes: whatever arrives, they return or throw an
 * Http3Error (the Huffman decoder: a TypeError), and never hang. About 20k inputs in all.
 */
import assert from "node:assert/strict";
import { Http3Error } from "../../../protocols/http3/errors.ts";
import { FrameParser } from "../../../protocols/http3/frame_parser.ts";
import { encodeFrame, encodeFrameHeader, FrameType } from "../../../protocols/http3/frames.ts";
import { huffmanDecode } from "../../../protocols/http3/huffman.ts";
import { decodeFieldSection, encodeFieldSection, type HeaderField } from "../../../protocols/http3/qpack.ts";
import { QpackStreamChecker } from "../../../protocols/http3/qpack_streams.ts";
import { decodeSettings, encodeSettings } from "../../../protocols/http3/settings.ts";
import { test } from "../../_util/test.ts";

/** mulberry32: a small seeded PRNG, so a failure replays. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function randomBytes(rand: (n: number) => number, max: number): Uint8Array {
  return Uint8Array.from({ length: rand(max + 1) }, () => rand(256));
}

function mutate(rand: (n: number) => number, input: Uint8Array): Uint8Array {
  const bytes = Array.from(input);
  for (let k = 1 + rand(3); k > 0; k--) {
    const at = rand(bytes.length + 1);
    switch (rand(5)) {
      case 0:
        if (at < bytes.length) bytes[at] ^= 1 << rand(8);
        break;
      case 1:
        if (at < bytes.length) bytes[at] = rand(256);
        break;
      case 2:
        bytes.length = at; // truncate
        break;
      case 3:
        bytes.splice(at, 0, ...randomBytes(rand, 8));
        break;
      default:
        bytes.splice(at, rand(4));
    }
  }
  return Uint8Array.from(bytes);
}

function expectHttp3Error(fn: () => unknown, input: Uint8Array): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof Http3Error)) {
      assert.fail(
        `unexpected ${error} for input ${Array.from(input, (b) => b.toString(16).padStart(2, "0")).join("")}`,
      );
    }
  }
}

const TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~";

function randomFields(rand: (n: number) => number): HeaderField[] {
  const fields: HeaderField[] = [];
  for (let i = rand(8); i > 0; i--) {
    const name = rand(3) === 0
      ? [":status", ":path", "content-type", "accept", "user-agent", "x-frame-options"][rand(6)]
      : Array.from({ length: 1 + rand(20) }, () => TOKEN[rand(TOKEN.length)]).join("");
    const value = Array.from({ length: rand(rand(4) === 0 ? 300 : 20) }, () => {
      let c = 1 + rand(255);
      if (c === 0x0a || c === 0x0d) c = 0x20;
      return String.fromCharCode(c);
    }).join("");
    fields.push(rand(4) === 0 ? { name, value, neverIndex: true } : { name, value });
  }
  return fields;
}

test("QPACK: random field lists round-trip through encode and decode", () => {
  const rand = prng(1);
  for (let i = 0; i < 1_500; i++) {
    const fields = randomFields(rand);
    const huffman = rand(2) === 0;
    assert.deepEqual(decodeFieldSection(encodeFieldSection(fields, { huffman }), { maxFieldSectionSize: 1e6 }), fields);
  }
});

test("QPACK: the decoder and stream checker only return or throws Http3Error on random and mutated input", () => {
  const rand = prng(2);
  const corpus = Array.from({ length: 32 }, () => encodeFieldSection(randomFields(rand), { huffman: rand(2) === 0 }));
  for (let i = 0; i < 5_000; i++) {
    const random = randomBytes(rand, 48);
    if (rand(2) === 0 && random.length >= 2) random[0] = random[1] = 0; // a valid prefix, to get further in
    expectHttp3Error(() => decodeFieldSection(random, { maxFieldSectionSize: 2_000 }), random);
  }
  for (let i = 0; i < 1_000; i++) {
    const input = randomBytes(rand, 16);
    const checker = new QpackStreamChecker(rand(2) === 0 ? "encoder" : "decoder");
    const cut = rand(input.length + 1);
    expectHttp3Error(() => {
      checker.push(input.subarray(0, cut));
      checker.push(input.subarray(cut));
    }, input);
  }
  for (let i = 0; i < 5_000; i++) {
    const input = mutate(rand, corpus[rand(corpus.length)]);
    expectHttp3Error(() => {
      for (const { name } of decodeFieldSection(input)) assert.equal(name, name.toLowerCase());
    }, input);
  }
});

test("Huffman: the decoder only returns or throws TypeError on random input", () => {
  const rand = prng(3);
  for (let i = 0; i < 2_000; i++) {
    const input = randomBytes(rand, 24);
    try {
      huffmanDecode(input);
    } catch (error) {
      assert.ok(error instanceof TypeError, String(error));
    }
  }
});

test("frames: the parser and SETTINGS decoder only return or throw Http3Error on random and mutated input", () => {
  const rand = prng(4);
  const valid = [
    encodeFrame(FrameType.HEADERS, encodeFieldSection([{ name: ":status", value: "200" }])),
    encodeFrame(FrameType.SETTINGS, encodeSettings({ maxFieldSectionSize: 4096, enableConnectProtocol: true })),
    encodeFrame(FrameType.DATA, new Uint8Array(40)),
    encodeFrame(0x21, new Uint8Array(5)),
    encodeFrameHeader(FrameType.GOAWAY, 1),
  ];
  for (let i = 0; i < 4_000; i++) {
    const input = rand(2) === 0
      ? randomBytes(rand, 64)
      : mutate(rand, Uint8Array.from(Array.from({ length: 1 + rand(4) }, () => [...valid[rand(valid.length)]]).flat()));
    expectHttp3Error(() => {
      const parser = new FrameParser({ maxFramePayload: 32, readStreamType: rand(4) === 0 });
      for (let at = 0; at < input.length;) {
        const n = 1 + rand(8);
        parser.push(input.subarray(at, at + n));
        at += n;
      }
      parser.finish();
    }, input);
  }
  for (let i = 0; i < 2_000; i++) {
    const input = rand(2) === 0
      ? randomBytes(rand, 24)
      : mutate(rand, encodeSettings({ qpackBlockedStreams: 3, h3Datagram: true }));
    expectHttp3Error(() => decodeSettings(input), input);
  }
});
