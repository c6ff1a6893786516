import assert from "node:assert/strict";
import { Http3Error, Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import { QpackStreamChecker } from "../../../protocols/http3/qpack_streams.ts";
import { test } from "../../_util/test.ts";
import { hex } from "./_hex.ts";

function rejects(kind: "encoder" | "decoder", bytes: string, message: string) {
  assert.throws(() => new QpackStreamChecker(kind).push(hex(bytes)), (error) => {
    assert.ok(error instanceof Http3Error, String(error));
    assert.equal(
      error.code,
      kind === "encoder" ? Http3ErrorCode.QPACK_ENCODER_STREAM_ERROR : Http3ErrorCode.QPACK_DECODER_STREAM_ERROR,
    );
    assert.equal(error.message, message);
    return true;
  });
}

test("QpackStreamChecker accepts Set Dynamic Table Capacity 0 and Stream Cancellations, across chunks", () => {
  const encoder = new QpackStreamChecker("encoder");
  assert.deepEqual(encoder.push(hex("20 20")), []);
  const decoder = new QpackStreamChecker("decoder");
  assert.deepEqual(decoder.push(hex("44 7f")), [4]); // 0x7f starts a multi-byte stream id
  assert.deepEqual(decoder.push(hex("81")), []);
  assert.deepEqual(decoder.push(hex("01 40")), [63 + 1 + 128, 0]);
});

test("QpackStreamChecker rejects dynamic table use on either stream", () => {
  rejects(
    "encoder",
    "3f e11f",
    "Cannot accept QPACK encoder stream: Set Dynamic Table Capacity to 4096, above the maximum of 0",
  );
  rejects(
    "encoder",
    "c0 03 616263",
    "Cannot accept QPACK encoder stream: an Insert with Name Reference instruction, but the dynamic table capacity is 0",
  );
  rejects(
    "encoder",
    "43 616263 00",
    "Cannot accept QPACK encoder stream: an Insert with Literal Name instruction, but the dynamic table capacity is 0",
  );
  rejects(
    "encoder",
    "00",
    "Cannot accept QPACK encoder stream: a Duplicate instruction, but the dynamic table capacity is 0",
  );
  rejects(
    "decoder",
    "84",
    "Cannot accept QPACK decoder stream: a Section Acknowledgment for stream 4, which had no dynamic references",
  );
  rejects(
    "decoder",
    "01",
    "Cannot accept QPACK decoder stream: an Insert Count Increment of 1, but no entries were inserted",
  );
  rejects("decoder", "7f ffffffffffffffff7f", "Cannot accept QPACK decoder stream: an integer is too large");
});
