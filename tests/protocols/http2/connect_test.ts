/**
 * Http2Proxy CONNECT tunnels (HTTP/2 and HTTP/1.1) limited to an allow-list, and the
 * ConnectAllowList patterns.
 */
import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import tls from "node:tls";
import { ConnectAllowList } from "../../../protocols/http2/mod.ts";
import { testCerts } from "../../_util/certs.ts";
import { closedLoopbackPort, randomBytes, sameBytes, startEchoServer } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { connectH2, h2Request, readBytes, startProxy } from "./_fixtures.ts";

test("Http2Proxy tunnels an h2 CONNECT to an allowed target byte-exact, with half-close", async () => {
  await using echo = await startEchoServer();
  await using proxy = await startProxy({ target: "127.0.0.1:1", connectAllow: [`127.0.0.1:${echo.port}`] });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":method": "CONNECT", ":authority": `127.0.0.1:${echo.port}` }, { endStream: false });
  const status = await new Promise<number>((resolve) => stream.once("response", (h) => resolve(Number(h[":status"]))));
  assert.equal(status, 200);
  const payload = randomBytes(1024 * 1024, 7);
  const received = readBytes(stream, Infinity);
  stream.end(payload);
  assert.ok(sameBytes(await received, payload), "echoed bytes differ");
  const stats = proxy.stats();
  assert.equal(stats.tunnels, 1);
  assert.equal(stats.bytesIn, payload.byteLength);
  assert.equal(stats.bytesOut, payload.byteLength);
});

test("Http2Proxy answers 403 to a CONNECT outside the allow-list and never dials it", async () => {
  await using echo = await startEchoServer();
  await using proxy = await startProxy({ target: "127.0.0.1:1", connectAllow: ["10.0.0.1:22"] });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":method": "CONNECT", ":authority": `127.0.0.1:${echo.port}` });
  assert.equal(res.status, 403);
  assert.equal(res.body.toString(), `403 Forbidden: CONNECT to "127.0.0.1:${echo.port}" is not in the allow-list\n`);
  assert.equal(echo.connections, 0);
  assert.equal(proxy.stats().rejected, 1);
});

test("Http2Proxy refuses every CONNECT by default", async () => {
  await using echo = await startEchoServer();
  await using proxy = await startProxy({ target: "127.0.0.1:1" });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":method": "CONNECT", ":authority": `127.0.0.1:${echo.port}` });
  assert.equal(res.status, 403);
});

test("Http2Proxy answers 502 when an allowed CONNECT target refuses", async () => {
  const port = await closedLoopbackPort();
  await using proxy = await startProxy({ target: "127.0.0.1:1", connectAllow: ["127.0.0.1:*"] });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":method": "CONNECT", ":authority": `127.0.0.1:${port}` });
  assert.equal(res.status, 502);
  assert.equal(res.body.toString(), "502 Bad Gateway: the upstream failed (connection refused)\n");
});

/** Reads up to the end of an HTTP/1.1 response head (the tunnel sends nothing before the client does). */
export function readHead(socket: tls.TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (text.includes("\r\n\r\n")) finish();
    };
    const finish = () => {
      socket.off("data", onData);
      socket.pause();
      resolve(text);
    };
    socket.on("data", onData);
    socket.once("end", finish);
  });
}

async function h1Connect(port: number, authority: string): Promise<{ socket: tls.TLSSocket; head: string }> {
  const { caPem } = await testCerts();
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: caPem,
    ALPNProtocols: ["http/1.1"],
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  const text = await readHead(socket);
  return { socket, head: text };
}

test("Http2Proxy tunnels an HTTP/1.1 CONNECT over TLS to an allowed target", async () => {
  await using echo = await startEchoServer();
  await using proxy = await startProxy({ target: "127.0.0.1:1", connectAllow: [`localhost:${echo.port}`] });
  const { socket, head } = await h1Connect(proxy.addr.port, `LOCALHOST:${echo.port}`);
  try {
    assert.match(head, /^HTTP\/1\.1 200 /);
    const payload = randomBytes(300_000, 3);
    const received = readBytes(socket, payload.byteLength);
    socket.write(payload);
    assert.ok(sameBytes(await received, payload), "echoed bytes differ");
  } finally {
    socket.destroy();
  }
});

test("Http2Proxy answers 403 to an HTTP/1.1 CONNECT outside the allow-list", async () => {
  await using proxy = await startProxy({ target: "127.0.0.1:1" });
  const { socket, head } = await h1Connect(proxy.addr.port, "example.com:443");
  socket.destroy();
  assert.match(head, /^HTTP\/1\.1 403 Forbidden\r\n/);
});

test("ConnectAllowList matches exact hosts, wildcards, IPv6 and port ranges", () => {
  const allow = new ConnectAllowList([
    "db.internal:5432",
    "*.example.com:443",
    "[::1]:8000-8010",
    "127.0.0.1:*",
    "*:7",
  ]);
  assert.equal(allow.size, 5);
  assert.ok(allow.allows("DB.internal", 5432));
  assert.ok(!allow.allows("db.internal", 5433));
  assert.ok(allow.allows("a.b.example.com", 443));
  assert.ok(!allow.allows("example.com", 443));
  assert.ok(!allow.allows("evilexample.com", 443));
  assert.ok(allow.allows("::1", 8005));
  assert.ok(allow.allows("[::1]", 8010));
  assert.ok(!allow.allows("::1", 8011));
  assert.ok(allow.allows("127.0.0.1", 65535));
  assert.ok(allow.allows("anything", 7));
  assert.ok(!new ConnectAllowList().allows("127.0.0.1", 80));
});

test("ConnectAllowList rejects malformed patterns with exact messages", () => {
  assert.throws(() => new ConnectAllowList(["example.com"]), {
    name: "TypeError",
    message:
      `Cannot parse CONNECT allow pattern "example.com": expected "host:port", for example "db.internal:5432", "*.example.com:443" or "127.0.0.1:*"`,
  });
  assert.throws(() => new ConnectAllowList(["a*b.com:1"]), {
    name: "TypeError",
    message:
      `Cannot parse CONNECT allow pattern "a*b.com:1": a wildcard host must be "*" or "*.suffix", for example "*.example.com"`,
  });
  assert.throws(() => new ConnectAllowList(["h:0"]), {
    name: "RangeError",
    message:
      `Cannot parse CONNECT allow pattern "h:0": port must be "*", N or N-M with N from 1 to 65535: current value is "0"`,
  });
  assert.throws(() => new ConnectAllowList(["h:9-3"]), {
    name: "RangeError",
    message: `Cannot parse CONNECT allow pattern "h:9-3": the port range "9-3" is empty`,
  });
  assert.throws(() => new ConnectAllowList(["[::1:22"]), { name: "TypeError" });
});
