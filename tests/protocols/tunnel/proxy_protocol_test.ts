import assert from "node:assert/strict";
import { encodeProxyHeader, PROXY_V2_SIGNATURE } from "../../../protocols/tunnel/proxy_protocol.ts";
import { test } from "../../_util/test.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

test("encodeProxyHeader() v1 writes HAProxy's text line for IPv4 and IPv6", () => {
  const v4 = encodeProxyHeader("v1", {
    source: { hostname: "203.0.113.7", port: 51234 },
    destination: { hostname: "::ffff:198.51.100.1", port: 15432 },
  });
  assert.equal(new TextDecoder().decode(v4), "PROXY TCP4 203.0.113.7 198.51.100.1 51234 15432\r\n");
  const v6 = encodeProxyHeader("v1", {
    source: { hostname: "2001:db8::7", port: 1 },
    destination: { hostname: "127.0.0.1", port: 2 },
  });
  assert.equal(new TextDecoder().decode(v6), "PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 1 2\r\n");
});

test("encodeProxyHeader() v2 writes the binary header with the right family and lengths", () => {
  const v4 = encodeProxyHeader("v2", {
    source: { hostname: "10.0.0.1", port: 0x1234 },
    destination: { hostname: "10.0.0.2", port: 0x5678 },
  });
  assert.equal(hex(v4), hex(PROXY_V2_SIGNATURE) + "21" + "11" + "000c" + "0a000001" + "0a000002" + "1234" + "5678");
  const v6 = encodeProxyHeader("v2", {
    source: { hostname: "::1", port: 80 },
    destination: { hostname: "2001:db8::1", port: 443 },
  });
  assert.equal(v6.byteLength, 16 + 36);
  assert.equal(hex(v6.subarray(12, 16)), "21210024");
  assert.equal(hex(v6.subarray(16, 32)), "00000000000000000000000000000001");
  assert.equal(hex(v6.subarray(32, 48)), "20010db8000000000000000000000001");
  assert.equal(hex(v6.subarray(48)), "005001bb");
});

test("encodeProxyHeader() refuses a host name", () => {
  assert.throws(
    () =>
      encodeProxyHeader("v1", {
        source: { hostname: "localhost", port: 1 },
        destination: { hostname: "::1", port: 2 },
      }),
    new TypeError('Cannot write a PROXY header: "localhost" is not an IP address'),
  );
});
