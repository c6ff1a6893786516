import assert from "node:assert/strict";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../../protocols/http3/huffman.ts";
import { test } from "../../_util/test.ts";
import { ascii, hex, toHex } from "./_hex.ts";

/** RFC 7541 Appendix C.4 (requests) and C.6 (responses) Huffman-coded strings. */
const VECTORS: [string, string][] = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["307", "640e ff"],
  ["private", "aec3 771a 4b"],
  ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
  ["Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ["gzip", "9bd9 ab"],
  [
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
  ],
];

test("huffmanEncode() and huffmanDecode() match the RFC 7541 Appendix C.4/C.6 examples", () => {
  for (const [text, encoded] of VECTORS) {
    assert.equal(toHex(huffmanEncode(ascii(text))), encoded.replaceAll(" ", ""), `encode ${text}`);
    assert.equal(huffmanEncodedLength(ascii(text)), hex(encoded).length);
    assert.equal(new TextDecoder().decode(huffmanDecode(hex(encoded))), text, `decode ${text}`);
  }
});

test("huffmanEncode() round-trips every byte value, including the 30-bit codes", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  for (let b = 0; b < 256; b++) {
    const one = Uint8Array.of(b, b, b);
    assert.deepEqual(huffmanDecode(huffmanEncode(one)), one, `byte ${b}`);
  }
  assert.deepEqual(huffmanEncode(new Uint8Array(0)), new Uint8Array(0));
  assert.deepEqual(huffmanDecode(new Uint8Array(0)), new Uint8Array(0));
});

test("huffmanDecode() rejects padding that is too long or not all one-bits, and EOS", () => {
  const padding = {
    name: "TypeError",
    message: "Cannot decode Huffman string: the padding is not a prefix of EOS of at most 7 bits",
  };
  assert.throws(() => huffmanDecode(hex("00")), padding); // '0' (00000) then 000: zeros as padding
  assert.throws(() => huffmanDecode(hex("ff")), padding); // 8 one-bits: longer than 7
  assert.throws(() => huffmanDecode(hex("f1e3c2e5f23a6ba0ab90f4ff ff")), padding);
  assert.throws(() => huffmanDecode(hex("ffffffff")), {
    name: "TypeError",
    message: "Cannot decode Huffman string: it contains the EOS symbol",
  });
  assert.equal(new TextDecoder().decode(huffmanDecode(hex("1f"))), "a"); // 00011 + 111 padding
});
