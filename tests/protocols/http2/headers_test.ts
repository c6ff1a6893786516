/** The proxy's header rewriting rules (internal `_headers.ts`), checked one by one. */
import assert from "node:assert/strict";
import {
  addForwarded,
  endToEnd,
  formatRequestHead,
  type HeaderMap,
  requestHead,
  responseHeaders,
  trailerFields,
} from "../../../protocols/http2/_headers.ts";
import { test } from "../../_util/test.ts";

test("endToEnd drops pseudo-headers, hop-by-hop fields and the fields Connection names", () => {
  const out = endToEnd({
    ":method": "GET",
    connection: "keep-alive, X-Private , upgrade",
    "x-private": "1",
    "keep-alive": "timeout=5",
    "transfer-encoding": "chunked",
    upgrade: "websocket",
    te: "trailers",
    trailer: "x-t",
    "proxy-authorization": "Basic x",
    "set-cookie": ["a=1", "b=2"],
    "content-length": 10,
    accept: "*/*",
  });
  assert.deepEqual(out, { "set-cookie": ["a=1", "b=2"], "content-length": "10", accept: "*/*" });
});

test("addForwarded appends X-Forwarded-For and Forwarded, quotes IPv6 and hosts with a port", () => {
  const headers: HeaderMap = { "x-forwarded-for": ["10.0.0.1", "10.0.0.2"], forwarded: "for=10.0.0.1" };
  addForwarded(headers, { clientIp: "::ffff:192.0.2.7", proto: "https", host: "example.com:8443" });
  assert.equal(headers["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 192.0.2.7");
  assert.equal(headers["x-forwarded-proto"], "https");
  assert.equal(headers["x-forwarded-host"], "example.com:8443");
  assert.equal(headers.forwarded, 'for=10.0.0.1, for=192.0.2.7;host="example.com:8443";proto=https');
  const v6: HeaderMap = {};
  addForwarded(v6, { clientIp: "2001:db8::1", proto: "http", host: "example.com" });
  assert.equal(v6.forwarded, 'for="[2001:db8::1]";host=example.com;proto=http');
  assert.equal(v6["x-forwarded-for"], "2001:db8::1");
});

test("requestHead maps :authority or Host, turns absolute-form into origin-form, keeps TE: trailers", () => {
  const h2 = requestHead({
    method: "POST",
    url: "/svc/Method",
    headers: { ":authority": "api.example:443", te: "trailers", "content-type": "application/grpc" },
    clientIp: "127.0.0.1",
    proto: "https",
    fallbackAuthority: "127.0.0.1:9000",
  });
  assert.equal(h2.authority, "api.example:443");
  assert.equal(h2.headers.te, "trailers");
  assert.equal(h2.headers.host, undefined);
  assert.equal(h2.label, "POST /svc/Method");
  const absolute = requestHead({
    method: "GET",
    url: "http://other.example/x?y=1",
    headers: { te: "gzip, chunked" },
    clientIp: undefined,
    proto: "http",
    fallbackAuthority: "127.0.0.1:9000",
  });
  assert.equal(absolute.path, "/x?y=1");
  assert.equal(absolute.authority, "other.example");
  assert.equal(absolute.headers.te, undefined);
  assert.equal(absolute.headers.forwarded, "for=unknown;host=other.example;proto=http");
});

test("responseHeaders adds Alt-Svc; trailerFields drops hop-by-hop fields and empty sets", () => {
  assert.deepEqual(responseHeaders({ ":status": "200", "x-a": "1", connection: "close" }, 'h3=":443"; ma=86400'), {
    "x-a": "1",
    "alt-svc": 'h3=":443"; ma=86400',
  });
  assert.equal(trailerFields({}), undefined);
  assert.equal(trailerFields(undefined), undefined);
  assert.deepEqual(trailerFields({ "grpc-status": "0", "transfer-encoding": "x" }), { "grpc-status": "0" });
});

test("formatRequestHead writes an HTTP/1.1 head and refuses CR/LF injection", () => {
  assert.equal(
    formatRequestHead("GET", "/ws", { host: "a", "x-list": ["1", "2"] }),
    "GET /ws HTTP/1.1\r\nhost: a\r\nx-list: 1\r\nx-list: 2\r\n\r\n",
  );
  assert.throws(() => formatRequestHead("GET", "/a b", {}), {
    name: "TypeError",
    message: 'Cannot send request "GET /a b": invalid characters in the request line',
  });
  assert.throws(() => formatRequestHead("GET", "/", { "x-evil": "1\r\nhost: b" }), {
    name: "TypeError",
    message: 'Cannot send header "x-evil": invalid characters in its name or value',
  });
});
