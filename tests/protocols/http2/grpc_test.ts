/**
 * Http2Proxy trailers and the h2c upstream: gRPC-style calls (request and response trailers,
 * trailers-only answers), HTTP/1.1 chunked trailers, h2c on the front, session reuse, reconnect,
 * cancellation.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type http2 from "node:http2";
import https from "node:https";
import { testCerts } from "../../_util/certs.ts";
import { closedLoopbackPort } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { connectH2, h2Request, startH2cBackend, startHttp1Backend, startProxy } from "./_fixtures.ts";

/** A gRPC length-prefixed message: flag 0, 4-byte big-endian length, payload. */
function grpcFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const frame = Buffer.alloc(5 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 1);
  body.copy(frame, 5);
  return frame;
}

test("Http2Proxy passes a gRPC call to an h2c backend: te, request and response trailers", async () => {
  let seen: http2.IncomingHttpHeaders = {};
  let seenTrailers: http2.IncomingHttpHeaders | undefined;
  let seenBody = Buffer.alloc(0);
  await using backend = await startH2cBackend((stream, headers) => {
    seen = headers;
    const chunks: Buffer[] = [];
    stream.on("trailers", (t) => seenTrailers = t);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      seenBody = Buffer.concat(chunks);
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "OK" }));
      stream.end(grpcFrame("pong"));
    });
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c" });
  await using client = await connectH2(proxy);
  const res = await h2Request(
    client,
    {
      ":method": "POST",
      ":path": "/echo.Echo/Ping",
      "content-type": "application/grpc",
      te: "trailers",
    },
    grpcFrame("ping"),
    { "x-request-checksum": "abc" },
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "application/grpc");
  assert.deepEqual(res.body, grpcFrame("pong"));
  assert.equal(res.trailers?.["grpc-status"], "0");
  assert.equal(res.trailers?.["grpc-message"], "OK");
  assert.equal(seen[":authority"], `localhost:${proxy.addr.port}`);
  assert.equal(seen[":path"], "/echo.Echo/Ping");
  assert.equal(seen.te, "trailers");
  assert.equal(seen["x-forwarded-proto"], "https");
  assert.deepEqual(seenBody, grpcFrame("ping"));
  assert.equal(seenTrailers?.["x-request-checksum"], "abc");
});

test("Http2Proxy passes a trailers-only gRPC answer (headers with END_STREAM)", async () => {
  await using backend = await startH2cBackend((stream) => {
    stream.resume();
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c" });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, {
    ":method": "POST",
    ":path": "/x.Y/Z",
    "content-type": "application/grpc",
    te: "trailers",
  }, "");
  assert.equal(res.status, 200);
  assert.equal(res.headers["grpc-status"] ?? res.trailers?.["grpc-status"], "12");
  assert.equal(res.body.byteLength, 0);
});

test("Http2Proxy passes chunked HTTP/1.1 trailers both ways", async () => {
  let requestTrailers: Record<string, string | undefined> = {};
  await using backend = await startHttp1Backend((req, res) => {
    req.resume();
    req.on("end", () => {
      requestTrailers = req.trailers;
      res.writeHead(200, { "content-type": "text/plain", trailer: "x-digest" });
      res.write("body");
      res.addTrailers({ "x-digest": "sha-256=abc" });
      res.end();
    });
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":method": "POST", ":path": "/t", te: "trailers" }, "payload", {
    "x-sent": "yes",
  });
  assert.equal(res.body.toString(), "body");
  assert.equal(res.trailers?.["x-digest"], "sha-256=abc");
  assert.equal(requestTrailers["x-sent"], "yes");
});

test("Http2Proxy in h2c mode multiplexes many requests over one h2c upstream session", async () => {
  const sessions = new Set<unknown>();
  await using backend = await startH2cBackend((stream, headers) => {
    sessions.add(stream.session);
    stream.respond({ ":status": 200, "x-proto": String(headers["x-forwarded-proto"]) });
    stream.end(String(headers[":path"]));
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c", h2c: true });
  await using client = await connectH2(proxy, true);
  const paths = Array.from({ length: 20 }, (_, i) => `/r${i}`);
  const answers = await Promise.all(paths.map((p) => h2Request(client, { ":path": p })));
  assert.deepEqual(answers.map((a) => a.body.toString()), paths);
  assert.equal(answers[0].headers["x-proto"], "http");
  assert.equal(sessions.size, 1);
});

test("Http2Proxy opens a new h2c upstream session after the old one died", async () => {
  let count = 0;
  await using backend = await startH2cBackend((stream) => {
    count++;
    stream.respond({ ":status": 200 });
    stream.end(`answer ${count}`);
    if (count === 1) setTimeout(() => stream.session?.destroy(), 20);
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c" });
  await using client = await connectH2(proxy);
  assert.equal((await h2Request(client, { ":path": "/1" })).body.toString(), "answer 1");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal((await h2Request(client, { ":path": "/2" })).body.toString(), "answer 2");
});

test("Http2Proxy resets the h2c upstream stream when the client cancels", async () => {
  let upstreamRst = -1;
  await using backend = await startH2cBackend((stream) => {
    stream.respond({ ":status": 200 });
    stream.write("partial");
    stream.once("close", () => upstreamRst = stream.rstCode ?? 0);
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c" });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/long" });
  await new Promise((resolve) => stream.once("data", resolve));
  stream.close(0x8);
  await waitFor(() => upstreamRst >= 0, "the upstream stream to close");
  assert.notEqual(upstreamRst, 0);
});

test("Http2Proxy maps an HTTP/1.1 client's Host to :authority on an h2c upstream", async () => {
  let seen: http2.IncomingHttpHeaders = {};
  await using backend = await startH2cBackend((stream, headers) => {
    seen = headers;
    stream.resume();
    stream.respond({ ":status": 201, "x-up": "h2c" });
    stream.end("created");
  });
  await using proxy = await startProxy({ target: backend.target, upstream: "h2c" });
  const { caPem } = await testCerts();
  const res = await new Promise<{ status: number; body: string; up: unknown }>((resolve, reject) => {
    https.request({
      host: "127.0.0.1",
      port: proxy.addr.port,
      servername: "localhost",
      ca: caPem,
      agent: false,
      method: "PUT",
      path: "/item/1",
      headers: { host: "shop.example", connection: "keep-alive" },
    }, (r) => {
      let body = "";
      r.on("data", (chunk: Buffer) => body += chunk);
      r.on("end", () => resolve({ status: r.statusCode!, body, up: r.headers["x-up"] }));
    }).on("error", reject).end("data");
  });
  assert.deepEqual(res, { status: 201, body: "created", up: "h2c" });
  assert.equal(seen[":authority"], "shop.example");
  assert.equal(seen[":method"], "PUT");
  assert.equal(seen.host, undefined);
  assert.equal(seen.connection, undefined);
});

test("Http2Proxy answers 502 when the h2c upstream is down", async () => {
  const port = await closedLoopbackPort();
  await using proxy = await startProxy({ target: `127.0.0.1:${port}`, upstream: "h2c" });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":path": "/" });
  assert.equal(res.status, 502);
  assert.equal(res.body.toString(), "502 Bad Gateway: the upstream failed (connection refused)\n");
});
