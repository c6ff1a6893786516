import assert from "node:assert/strict";
import { formatAddr, parseDialAddr, parseListenAddr } from "../../protocols/address.ts";
import { test } from "../_util/test.ts";

test("parseListenAddr() reads the forms go-tunnel users write", () => {
  assert.deepEqual(parseListenAddr(":8080"), { hostname: undefined, port: 8080 });
  assert.deepEqual(parseListenAddr("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parseListenAddr("[::1]:443"), { hostname: "::1", port: 443 });
  assert.deepEqual(parseListenAddr("localhost:80"), { hostname: "localhost", port: 80 });
});

test("parseDialAddr() rejects what cannot be dialed, saying how to write it", () => {
  assert.deepEqual(parseDialAddr("example.com:443"), { hostname: "example.com", port: 443 });
  assert.deepEqual(parseDialAddr(":80"), { hostname: "localhost", port: 80 });
  assert.throws(() => parseDialAddr("::1:80"), {
    message: 'Cannot parse target address "::1:80": put IPv6 addresses in brackets, for example "[::1]:8080"',
  });
  assert.throws(() => parseDialAddr("[::1]80"), {
    message: 'Cannot parse target address "[::1]80": expected "[ipv6]:port", for example "[::1]:8080"',
  });
  assert.throws(() => parseDialAddr("host:70000"), { name: "RangeError" });
  assert.equal(formatAddr({ hostname: "::1", port: 80 }), "[::1]:80");
});
