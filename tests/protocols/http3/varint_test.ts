import assert from "node:assert/strict";
import {
  decodeVarint,
  decodeVarintBigInt,
  encodeVarint,
  MAX_VARINT,
  varintLength,
  writeVarint,
} from "../../../protocols/http3/varint.ts";
import { test } from "../../_util/test.ts";
import { hex, toHex } from "./_hex.ts";

test("decodeVarint() reads the RFC 9000 Appendix A.1 examples", () => {
  assert.deepEqual(decodeVarint(hex("9d7f3e7d"), 0), { value: 494_878_333, length: 4 });
  assert.deepEqual(decodeVarint(hex("7bbd"), 0), { value: 15_293, length: 2 });
  assert.deepEqual(decodeVarint(hex("25"), 0), { value: 37, length: 1 });
  assert.deepEqual(decodeVarint(hex("4025"), 0), { value: 37, length: 2 }); // not the shortest form, still valid
  assert.deepEqual(decodeVarint(hex("ff 9d7f3e7d"), 1), { value: 494_878_333, length: 4 });
});

test("decodeVarint() rejects values above Number.MAX_SAFE_INTEGER; decodeVarintBigInt() reads them", () => {
  const bytes = hex("c2197c5eff14e88c");
  assert.throws(() => decodeVarint(bytes, 0), {
    name: "RangeError",
    message:
      "Cannot decode varint as a number: 151288809941952652 is above Number.MAX_SAFE_INTEGER (use decodeVarintBigInt)",
  });
  assert.deepEqual(decodeVarintBigInt(bytes, 0), { value: 151_288_809_941_952_652n, length: 8 });
  // 2^53 - 1 is the largest that decodes as a number; 2^53 is not.
  assert.deepEqual(decodeVarint(hex("c01fffffffffffff"), 0), { value: Number.MAX_SAFE_INTEGER, length: 8 });
  assert.throws(() => decodeVarint(hex("c020000000000000"), 0), RangeError);
  assert.equal(decodeVarintBigInt(hex("ffffffffffffffff"), 0)?.value, MAX_VARINT);
});

test("decodeVarint() returns undefined for an incomplete integer", () => {
  assert.equal(decodeVarint(hex(""), 0), undefined);
  assert.equal(decodeVarint(hex("25"), 1), undefined);
  assert.equal(decodeVarint(hex("9d7f3e"), 0), undefined);
  assert.equal(decodeVarint(hex("c2197c5eff14e8"), 0), undefined);
  assert.equal(decodeVarintBigInt(hex("7b"), 0), undefined);
});

test("encodeVarint() writes the shortest form at each boundary and round-trips", () => {
  assert.equal(toHex(encodeVarint(37)), "25");
  assert.equal(toHex(encodeVarint(15_293)), "7bbd");
  assert.equal(toHex(encodeVarint(494_878_333)), "9d7f3e7d");
  assert.equal(toHex(encodeVarint(151_288_809_941_952_652n)), "c2197c5eff14e88c");
  assert.equal(toHex(encodeVarint(MAX_VARINT)), "ffffffffffffffff");
  const cases: [number, number][] = [[0, 1], [63, 1], [64, 2], [16_383, 2], [16_384, 4], [2 ** 30 - 1, 4], [
    2 ** 30,
    8,
  ], [Number.MAX_SAFE_INTEGER, 8]];
  for (const [value, length] of cases) {
    assert.equal(varintLength(value), length, `length of ${value}`);
    const bytes = encodeVarint(value);
    assert.equal(bytes.length, length);
    assert.deepEqual(decodeVarint(bytes, 0), { value, length });
  }
  assert.equal(varintLength(63n), 1);
  assert.equal(varintLength(2n ** 40n), 8);
});

test("encodeVarint() rejects values outside 0 to 2^62 - 1", () => {
  for (const value of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => encodeVarint(value), {
      name: "RangeError",
      message: `Cannot encode varint as 'value' must be an integer from 0 to 2^62 - 1: current value is ${value}`,
    });
  }
  assert.throws(() => encodeVarint(MAX_VARINT + 1n), RangeError);
  assert.throws(() => encodeVarint(-1n), RangeError);
});

test("writeVarint() writes at an offset and refuses a short buffer", () => {
  const buffer = new Uint8Array(5);
  assert.equal(writeVarint(buffer, 1, 494_878_333), 4);
  assert.equal(toHex(buffer), "009d7f3e7d");
  assert.throws(() => writeVarint(new Uint8Array(3), 0, 494_878_333), {
    name: "RangeError",
    message: "Cannot write a 4-byte varint at offset 0: the buffer holds 3 bytes",
  });
});
