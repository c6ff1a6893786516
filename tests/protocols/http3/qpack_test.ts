import assert from "node:assert/strict";
import { Http3Error, Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import {
  decodeFieldSection,
  encodeFieldSection,
  fieldSectionSize,
  type HeaderField,
} from "../../../protocols/http3/qpack.ts";
import { findStatic, QPACK_STATIC_TABLE } from "../../../protocols/http3/qpack_static_table.ts";
import { test } from "../../_util/test.ts";
import { hex, toHex } from "./_hex.ts";

function rejects(bytes: Uint8Array, code: number, message: string, options = {}) {
  assert.throws(() => decodeFieldSection(bytes, options), (error) => {
    assert.ok(error instanceof Http3Error, String(error));
    assert.equal(error.message, message);
    assert.equal(error.code, code);
    return true;
  });
}

const FAILED = Http3ErrorCode.QPACK_DECOMPRESSION_FAILED;

test("decodeFieldSection() decodes the RFC 9204 Appendix B.1 static-only example", () => {
  assert.deepEqual(decodeFieldSection(hex("0000 510b 2f69 6e64 6578 2e68 746d 6c")), [
    { name: ":path", value: "/index.html" },
  ]);
});

test("the static table has the 99 RFC 9204 Appendix A entries", () => {
  assert.equal(QPACK_STATIC_TABLE.length, 99);
  assert.deepEqual(QPACK_STATIC_TABLE[0], [":authority", ""]);
  assert.deepEqual(QPACK_STATIC_TABLE[17], [":method", "GET"]);
  assert.deepEqual(QPACK_STATIC_TABLE[25], [":status", "200"]);
  assert.deepEqual(QPACK_STATIC_TABLE[53], ["content-type", "text/plain"]);
  assert.deepEqual(QPACK_STATIC_TABLE[73], ["access-control-allow-credentials", "FALSE"]);
  assert.deepEqual(QPACK_STATIC_TABLE[98], ["x-frame-options", "sameorigin"]);
  assert.deepEqual(findStatic(":status", "404"), { nameIndex: 24, index: 27 });
  assert.deepEqual(findStatic(":status", "418"), { nameIndex: 24, index: undefined });
});

test("encodeFieldSection() picks indexed lines, static name references and literal names", () => {
  assert.equal(toHex(encodeFieldSection([{ name: ":status", value: "200" }])), "0000d9");
  // :status 201: name reference to index 24 (4-bit prefix: 0x5f + 9), value "201" Huffman-coded in 2 bytes.
  assert.equal(toHex(encodeFieldSection([{ name: ":status", value: "201" }])), "00005f09821003");
  assert.equal(toHex(encodeFieldSection([{ name: ":status", value: "201" }], { huffman: false })), "00005f0903323031");
  // x-a: 1, not in the table: literal name (001 N H len3), raw because Huffman is not shorter.
  assert.equal(toHex(encodeFieldSection([{ name: "x-a", value: "1" }], { huffman: false })), "000023782d610131");
  // :path /index.html without Huffman is the B.1 example byte for byte.
  assert.equal(
    toHex(encodeFieldSection([{ name: ":path", value: "/index.html" }], { huffman: false })),
    "0000510b2f696e6465782e68746d6c",
  );
  // The response in runtime-facts.md: :status 200 + content-type text/plain.
  assert.equal(
    toHex(encodeFieldSection([{ name: ":status", value: "200" }, { name: "content-type", value: "text/plain" }])),
    "0000d9f5",
  );
});

test("encodeFieldSection() sets the N bit for neverIndex fields and decoding preserves it", () => {
  const fields: HeaderField[] = [
    { name: "authorization", value: "Bearer secret", neverIndex: true },
    { name: ":status", value: "200", neverIndex: true }, // exact match, but N forces a literal
    { name: "x-token", value: "abc", neverIndex: true },
  ];
  const bytes = encodeFieldSection(fields, { huffman: false });
  assert.equal(bytes[2], 0x7f); // 01 N=1 T=1 1111: authorization is index 84 = 15 + 69
  assert.equal(bytes[3], 69);
  assert.deepEqual(decodeFieldSection(bytes), fields);
  assert.deepEqual(decodeFieldSection(encodeFieldSection(fields)), fields);
});

test("encodeFieldSection() and decodeFieldSection() round-trip", () => {
  const long = "v".repeat(300) + "\u00e9\u00ff\t";
  const fields: HeaderField[] = [
    { name: ":method", value: "GET" },
    { name: ":scheme", value: "https" },
    { name: ":authority", value: "www.example.com" },
    { name: ":path", value: "/a/b?c=d" },
    { name: "user-agent", value: "ts-tunnel/0.1" },
    { name: "accept", value: "*/*" },
    { name: "x-empty", value: "" },
    { name: "x-long-" + "n".repeat(200), value: long },
    { name: "cookie", value: "a=1" },
    { name: "cookie", value: "b=2" },
  ];
  for (const huffman of [true, false]) {
    assert.deepEqual(decodeFieldSection(encodeFieldSection(fields, { huffman })), fields);
  }
  assert.deepEqual(decodeFieldSection(encodeFieldSection([])), []);
  assert.deepEqual(decodeFieldSection(hex("0000")), []);
});

test("encodeFieldSection() lowercases names and rejects bad names and values", () => {
  assert.deepEqual(decodeFieldSection(encodeFieldSection([{ name: "Content-Type", value: "text/html" }])), [
    { name: "content-type", value: "text/html" },
  ]);
  assert.throws(() => encodeFieldSection([{ name: "bad name", value: "x" }]), {
    name: "TypeError",
    message: 'Cannot encode field section: field name "bad name" is not a valid token',
  });
  assert.throws(() => encodeFieldSection([{ name: "", value: "x" }]), TypeError);
  assert.throws(() => encodeFieldSection([{ name: "x", value: "a\r\nb" }]), {
    name: "TypeError",
    message: 'Cannot encode field section: the value of field "x" contains NUL, CR, LF or a character above 0xff',
  });
  assert.throws(() => encodeFieldSection([{ name: "x", value: "\u20ac" }]), TypeError);
});

test("decodeFieldSection() rejects any use of the dynamic table", () => {
  rejects(
    hex("0200 d9"),
    FAILED,
    "Cannot decode field section: its Required Insert Count is 2, but the dynamic table is disabled",
  );
  rejects(
    hex("0081 d9"),
    FAILED,
    "Cannot decode field section: its Base is negative (Sign bit set with a Required Insert Count of 0)",
  );
  rejects(
    hex("0000 80"),
    FAILED,
    "Cannot decode field section: byte 2 references dynamic table entry 0, but the dynamic table is disabled",
  );
  rejects(
    hex("0000 d9 4103 616263"),
    FAILED,
    "Cannot decode field section: byte 3 references dynamic table entry 1, but the dynamic table is disabled",
  );
  rejects(
    hex("0000 10"),
    FAILED,
    "Cannot decode field section: byte 2 is an Indexed Field Line with Post-Base Index, which needs the dynamic table, but it is disabled",
  );
  rejects(
    hex("0000 0003 616263"),
    FAILED,
    "Cannot decode field section: byte 2 is a Literal Field Line with Post-Base Name Reference, which needs the dynamic table, but it is disabled",
  );
});

test("decodeFieldSection() rejects bad indexes, truncated input and bad Huffman strings", () => {
  rejects(
    hex("0000 ff24"),
    FAILED,
    "Cannot decode field section: byte 2 references static table index 99, which is out of range (0-98)",
  );
  rejects(hex(""), FAILED, "Cannot decode field section: it is truncated (0 bytes)");
  rejects(hex("00"), FAILED, "Cannot decode field section: it is truncated (1 bytes)");
  rejects(hex("0000 ff"), FAILED, "Cannot decode field section: it is truncated (3 bytes)");
  rejects(hex("0000 51"), FAILED, "Cannot decode field section: it is truncated (3 bytes)");
  rejects(
    hex("0000 510b 2f69"),
    FAILED,
    "Cannot decode field section: the 11-byte string at byte 3 runs past the end (6 bytes)",
  );
  rejects(
    hex("0000 5181 00"),
    FAILED,
    "Cannot decode field section: the Huffman string at byte 3 is invalid: the padding is not a prefix of EOS of at most 7 bits",
  );
  rejects(
    hex("0000 5184 ffffffff"),
    FAILED,
    "Cannot decode field section: the Huffman string at byte 3 is invalid: it contains the EOS symbol",
  );
  rejects(
    hex("0000 ff ffffffffffffff7f"),
    FAILED,
    "Cannot decode field section: an integer at byte 9 is too large",
  );
});

test("decodeFieldSection() reports uppercase or invalid names and bad values as H3_MESSAGE_ERROR", () => {
  const MESSAGE = Http3ErrorCode.H3_MESSAGE_ERROR;
  rejects(
    hex("0000 23 466f6f 0178"),
    MESSAGE,
    'Malformed field section: field name "Foo" has uppercase letters',
  );
  rejects(
    hex("0000 23 612062 0178"),
    MESSAGE,
    'Malformed field section: field name "a b" has characters that are not allowed',
  );
  rejects(hex("0000 20 0178"), MESSAGE, "Malformed field section: a field name is empty");
  rejects(
    hex("0000 5f09 03 610a62"),
    MESSAGE,
    'Malformed field section: the value of field ":status" contains NUL, CR or LF',
  );
  // A decoding error after a malformed field wins: it closes the connection.
  rejects(
    hex("0000 23 466f6f 0178 80"),
    FAILED,
    "Cannot decode field section: byte 8 references dynamic table entry 0, but the dynamic table is disabled",
  );
});

test("decodeFieldSection() enforces maxFieldSectionSize as H3_EXCESSIVE_LOAD", () => {
  const bytes = encodeFieldSection([{ name: ":status", value: "200" }, { name: "x", value: "y" }]);
  assert.equal(fieldSectionSize(decodeFieldSection(bytes)), 42 + 34);
  assert.equal(decodeFieldSection(bytes, { maxFieldSectionSize: 76 }).length, 2);
  rejects(
    bytes,
    Http3ErrorCode.H3_EXCESSIVE_LOAD,
    "Cannot decode field section: it is larger than the limit of 75 bytes",
    { maxFieldSectionSize: 75 },
  );
  const big = encodeFieldSection([{ name: "x", value: "a".repeat(70_000) }]);
  rejects(
    big,
    Http3ErrorCode.H3_EXCESSIVE_LOAD,
    "Cannot decode field section: it is larger than the limit of 65536 bytes",
  );
});
