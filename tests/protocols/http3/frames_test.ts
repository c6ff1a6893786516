import assert from "node:assert/strict";
import { Http3Error, Http3ErrorCode, http3ErrorName } from "../../../protocols/http3/errors.ts";
import {
  decodeIdPayload,
  encodeFrame,
  encodeFrameHeader,
  encodeIdFrame,
  encodeStreamType,
  FrameType,
  frameTypeName,
  isReservedType,
  StreamType,
} from "../../../protocols/http3/frames.ts";
import { decodeSettings, encodeSettings, encodeSettingsFrame } from "../../../protocols/http3/settings.ts";
import { test } from "../../_util/test.ts";
import { hex, toHex } from "./_hex.ts";

function http3Error(code: number, message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof Http3Error, String(error));
    assert.equal(error.message, message);
    assert.equal(error.code, code);
    return true;
  };
}

test("Http3ErrorCode has the RFC 9114 and RFC 9204 values; http3ErrorName() names any code", () => {
  assert.equal(Http3ErrorCode.H3_NO_ERROR, 0x100);
  assert.equal(Http3ErrorCode.H3_FRAME_ERROR, 0x106);
  assert.equal(Http3ErrorCode.H3_MESSAGE_ERROR, 0x10e);
  assert.equal(Http3ErrorCode.H3_VERSION_FALLBACK, 0x110);
  assert.equal(Http3ErrorCode.QPACK_DECOMPRESSION_FAILED, 0x200);
  assert.equal(Http3ErrorCode.QPACK_DECODER_STREAM_ERROR, 0x202);
  assert.equal(http3ErrorName(0x10c), "H3_REQUEST_CANCELLED");
  assert.equal(http3ErrorName(0x21 + 0x1f * 3), "RESERVED(0x7e)");
  assert.equal(http3ErrorName(0x1234), "UNKNOWN(0x1234)");
  const error = new Http3Error(0x200, "Cannot decode field section: x");
  assert.equal(error.name, "Http3Error");
  assert.equal(error.codeName, "QPACK_DECOMPRESSION_FAILED");
  assert.ok(error instanceof Error);
});

test("frame and stream types have their RFC 9114 values; isReservedType() spots grease", () => {
  assert.deepEqual(Object.values(FrameType), [0x0, 0x1, 0x3, 0x4, 0x5, 0x7, 0xd]);
  assert.deepEqual(Object.values(StreamType), [0x0, 0x1, 0x2, 0x3]);
  for (const n of [0, 1, 2, 1000]) assert.ok(isReservedType(0x1f * n + 0x21));
  assert.ok(isReservedType(0x1fn * 2n ** 56n + 0x21n));
  for (const type of [0x0, 0x4, 0x20, 0x22, 0x3f]) assert.ok(!isReservedType(type));
  assert.equal(frameTypeName(FrameType.GOAWAY), "GOAWAY");
  assert.equal(frameTypeName(0x21), "RESERVED(0x21)");
  assert.equal(frameTypeName(0x2a), "UNKNOWN(0x2a)");
  assert.equal(toHex(encodeStreamType(StreamType.QPACK_DECODER)), "03");
});

test("encodeFrame() and encodeFrameHeader() lay out type, length and payload", () => {
  assert.equal(toHex(encodeFrame(FrameType.DATA, hex("68656c6c6f"))), "000568656c6c6f");
  assert.equal(toHex(encodeFrame(FrameType.HEADERS, hex(""))), "0100");
  assert.equal(toHex(encodeFrameHeader(FrameType.DATA, 16_384)), "0080004000");
  assert.equal(toHex(encodeFrameHeader(0x21, 0)), "2100");
  assert.equal(toHex(encodeFrameHeader(0x40, 64)), "40404040");
  assert.equal(toHex(encodeIdFrame(FrameType.GOAWAY, 0)), "070100");
  assert.equal(toHex(encodeIdFrame(FrameType.MAX_PUSH_ID, 100)), "0d024064");
  assert.equal(toHex(encodeIdFrame(FrameType.CANCEL_PUSH, 3)), "030103");
});

test("decodeIdPayload() needs exactly one varint", () => {
  assert.equal(decodeIdPayload(FrameType.GOAWAY, hex("4064")), 100);
  assert.throws(
    () => decodeIdPayload(FrameType.GOAWAY, hex("")),
    http3Error(0x106, "Cannot decode GOAWAY frame: the payload must be exactly one varint (got 0 bytes)"),
  );
  assert.throws(
    () => decodeIdPayload(FrameType.MAX_PUSH_ID, hex("0101")),
    http3Error(0x106, "Cannot decode MAX_PUSH_ID frame: the payload must be exactly one varint (got 2 bytes)"),
  );
  assert.throws(
    () => decodeIdPayload(FrameType.GOAWAY, hex("c2197c5eff14e88c")),
    http3Error(0x106, "Cannot decode GOAWAY frame: id too large"),
  );
});

test("encodeSettings() and decodeSettings() round-trip the known settings", () => {
  const settings = {
    qpackMaxTableCapacity: 0,
    maxFieldSectionSize: 65_536,
    qpackBlockedStreams: 0,
    enableConnectProtocol: true,
    h3Datagram: true,
  };
  const payload = encodeSettings(settings);
  assert.equal(toHex(payload), "0100" + "0680010000" + "0700" + "0801" + "3301");
  assert.deepEqual(decodeSettings(payload), settings);
  assert.equal(toHex(encodeSettingsFrame({})), "0400");
  assert.equal(toHex(encodeSettings({ enableConnectProtocol: false, h3Datagram: false })), "");
  assert.deepEqual(decodeSettings(hex("")), {});
  assert.deepEqual(decodeSettings(hex("0800 3300")), { enableConnectProtocol: false, h3Datagram: false });
});

test("decodeSettings() ignores unknown and reserved settings, even beyond 2^53, and caps huge values", () => {
  const payload = hex(
    "21 05" + // reserved id 0x21
      "ff00000000000021 01" + // a reserved id far above 2^53
      "4040 4040" + // unknown id 0x40
      "06 ffffffffffffffff", // MAX_FIELD_SECTION_SIZE = 2^62 - 1, "unlimited"
  );
  assert.deepEqual(decodeSettings(payload), { maxFieldSectionSize: Number.MAX_SAFE_INTEGER });
});

test("decodeSettings() rejects duplicates, HTTP/2 settings, bad booleans and truncation", () => {
  const SETTINGS = Http3ErrorCode.H3_SETTINGS_ERROR;
  assert.throws(
    () => decodeSettings(hex("0100 0100")),
    http3Error(SETTINGS, "Cannot accept SETTINGS frame: setting 0x1 appears twice"),
  );
  for (const id of ["00", "02", "03", "04", "05"]) {
    assert.throws(
      () => decodeSettings(hex(id + "00")),
      http3Error(SETTINGS, `Cannot accept SETTINGS frame: setting 0x${Number(id)} is reserved (an HTTP/2 setting)`),
    );
  }
  assert.throws(
    () => decodeSettings(hex("0802")),
    http3Error(SETTINGS, "Cannot accept SETTINGS frame: SETTINGS_ENABLE_CONNECT_PROTOCOL must be 0 or 1 (got 2)"),
  );
  assert.throws(
    () => decodeSettings(hex("3305")),
    http3Error(SETTINGS, "Cannot accept SETTINGS frame: SETTINGS_H3_DATAGRAM must be 0 or 1 (got 5)"),
  );
  for (const truncated of ["06", "0640", "80"]) {
    assert.throws(
      () => decodeSettings(hex(truncated)),
      http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot decode SETTINGS frame: the payload is truncated"),
    );
  }
});
