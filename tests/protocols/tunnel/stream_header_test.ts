import assert from "node:assert/strict";
import { TunnelError } from "../../../protocols/tunnel/errors.ts";
import {
  decodeStreamHeader,
  encodeStreamHeader,
  MAX_STREAM_HEADER_BYTES,
  type StreamHeader,
} from "../../../protocols/tunnel/stream_header.ts";
import { test } from "../../_util/test.ts";
import { VALID_HEADERS } from "./_samples.ts";

const header = (client: string, pub: string, service = "svc"): StreamHeader => ({
  service,
  clientAddr: { hostname: client, port: 1234 },
  publicAddr: { hostname: pub, port: 443 },
});

function rejects(bytes: number[] | Uint8Array, message: string): void {
  assert.throws(() => decodeStreamHeader(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)), (error) => {
    assert.ok(error instanceof TunnelError);
    assert.equal(error.code, "protocol");
    assert.equal(error.message, message);
    return true;
  });
}

test("encodeStreamHeader() and decodeStreamHeader() round-trip both families", () => {
  for (const h of VALID_HEADERS) {
    const bytes = encodeStreamHeader(h);
    assert.deepEqual(decodeStreamHeader(bytes), { header: h, length: bytes.byteLength });
  }
});

test("encodeStreamHeader() lays out the fields of PROTOCOL.md section 6", () => {
  const bytes = encodeStreamHeader(header("1.2.3.4", "5.6.7.8", "ab"));
  assert.deepEqual([...bytes], [1, 2, 97, 98, 4, 1, 2, 3, 4, 0x04, 0xd2, 5, 6, 7, 8, 0x01, 0xbb]);
  const v6 = encodeStreamHeader(header("::1", "2001:db8::2", "a"));
  assert.equal(v6.byteLength, 3 + 1 + 2 * 18);
  assert.equal(v6[3], 6);
  assert.deepEqual([...v6.subarray(4, 20)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test("stream headers encode IPv4-mapped IPv6 as IPv4, and mixed families as mapped IPv6", () => {
  const mapped = encodeStreamHeader(header("::ffff:10.1.2.3", "192.0.2.1"));
  assert.equal(mapped[5], 4);
  assert.equal(mapped.byteLength, 3 + 3 + 12);
  assert.equal(decodeStreamHeader(mapped)!.header.clientAddr.hostname, "10.1.2.3");

  const mixed = encodeStreamHeader(header("10.1.2.3", "2001:db8::1"));
  assert.equal(mixed[5], 6);
  assert.deepEqual([...mixed.subarray(6, 22)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
  // The mapped address comes back as plain IPv4, as NetAddr shows it.
  assert.deepEqual(decodeStreamHeader(mixed)!.header, header("10.1.2.3", "2001:db8::1"));
});

test("decodeStreamHeader() formats IPv6 as RFC 5952 text", () => {
  for (
    const [input, canonical] of [
      ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["fe80::1%eth0", "fe80::1"],
      ["[::2]", "::2"],
      ["1::", "1::"],
      ["::1.2.3.4", "::102:304"],
    ]
  ) {
    const decoded = decodeStreamHeader(encodeStreamHeader(header(input, "::1")))!;
    assert.equal(decoded.header.clientAddr.hostname, canonical, input);
  }
});

test("decodeStreamHeader() asks for more bytes until the header is complete, and ignores what follows", () => {
  const bytes = encodeStreamHeader(VALID_HEADERS[1]);
  for (let n = 0; n < bytes.byteLength; n++) assert.equal(decodeStreamHeader(bytes.subarray(0, n)), undefined);
  const withData = new Uint8Array([...bytes, 9, 9, 9]);
  assert.equal(decodeStreamHeader(withData)!.length, bytes.byteLength);
});

test("decodeStreamHeader() rejects a bad version, name or family as soon as it sees it", () => {
  rejects([2], "Invalid stream header: version 2 is not supported (expected 1)");
  rejects([0, 1, 97], "Invalid stream header: version 0 is not supported (expected 1)");
  rejects([1, 0], "Invalid stream header: the service name is empty");
  rejects([1, 1, 97, 5], "Invalid stream header: address family 5 is not 4 or 6");
  rejects([1, 1, 97, 0], "Invalid stream header: address family 0 is not 4 or 6");
  rejects(
    [1, 2, 0xc3, 0x28, 4, 1, 2, 3, 4, 0, 1, 1, 2, 3, 4, 0, 1],
    "Invalid stream header: the service name is not valid UTF-8",
  );
});

test("encodeStreamHeader() rejects names and addresses it cannot carry", () => {
  assert.throws(() => encodeStreamHeader(header("1.2.3.4", "1.2.3.4", "")), RangeError);
  assert.throws(() => encodeStreamHeader(header("1.2.3.4", "1.2.3.4", "x".repeat(256))), RangeError);
  assert.ok(encodeStreamHeader(header("::1", "::1", "x".repeat(255))).byteLength === MAX_STREAM_HEADER_BYTES);
  for (const bad of ["example.com", "1.2.3.256", "1.2.3", "::1::", "1:2:3:4:5:6:7:8:9", "12345::", "", "1.2.3.4::"]) {
    assert.throws(() => encodeStreamHeader(header(bad, "1.2.3.4")), {
      name: "TypeError",
      message:
        `Cannot encode stream header as 'clientAddr.hostname' must be an IPv4 or IPv6 literal: current value is "${bad}"`,
    });
  }
  assert.throws(
    () => encodeStreamHeader({ ...header("1.2.3.4", "1.2.3.4"), publicAddr: { hostname: "1.2.3.4", port: 70000 } }),
    {
      name: "RangeError",
      message:
        "Cannot encode stream header as 'publicAddr.port' must be an integer from 0 to 65535: current value is 70000",
    },
  );
});
