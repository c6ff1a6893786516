import assert from "node:assert/strict";
import { canonicalIp, decodeSockaddr, formatIpv6, parseIpv6 } from "../../ffi/_ip.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "../../ffi/libc.ts";
import { test } from "../_util/test.ts";

test("formatIpv6() writes RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:0DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // the first of equal runs
    ["fe80:0:0:0:0:0:0:0", "fe80::"],
    ["0:0:0:0:0:ffff:7f00:1", "::ffff:127.0.0.1"],
  ];
  for (const [input, expected] of cases) assert.equal(formatIpv6(parseIpv6(input)!), expected, input);
});

test("parseIpv6() rejects malformed text", () => {
  for (const bad of ["1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.256", "g::"]) {
    assert.equal(parseIpv6(bad), undefined, bad);
  }
  assert.deepEqual([...parseIpv6("::1.2.3.4")!.subarray(12)], [1, 2, 3, 4]);
  assert.deepEqual([...parseIpv6("1:2:3:4:5:6:1.2.3.4")!.subarray(0, 2)], [0, 1]);
});

test("canonicalIp() makes a kernel address and a runtime's address string compare equal", () => {
  assert.equal(canonicalIp("127.0.0.1"), "127.0.0.1");
  assert.equal(canonicalIp("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(canonicalIp("::FFFF:7f00:1"), "127.0.0.1");
  assert.equal(canonicalIp("[::1]"), "::1");
  assert.equal(canonicalIp("0:0::1"), "::1");
  assert.equal(canonicalIp("fe80::1%eth0"), "fe80::1");
  assert.equal(canonicalIp("localhost"), undefined);
  assert.equal(canonicalIp("256.0.0.1"), undefined);
});

test("decodeSockaddr() reads sockaddr_in and sockaddr_in6", () => {
  const v4 = new Uint8Array(128);
  new DataView(v4.buffer).setUint16(0, AF_INET, true);
  v4.set([0x1f, 0x90, 10, 0, 0, 7], 2);
  assert.deepEqual(decodeSockaddr(v4, 16), { family: AF_INET, address: "10.0.0.7", port: 8080, scopeId: 0 });

  const v6 = new Uint8Array(128);
  const view = new DataView(v6.buffer);
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, 443, false);
  v6.set(parseIpv6("fe80::1")!, 8);
  view.setUint32(24, 3, true);
  assert.deepEqual(decodeSockaddr(v6, 28), { family: AF_INET6, address: "fe80::1", port: 443, scopeId: 3 });

  const unix = new Uint8Array(128);
  unix[0] = AF_UNIX;
  assert.deepEqual(decodeSockaddr(unix, 2), { family: AF_UNIX, address: "", port: 0, scopeId: 0 });
});
