/**
 * Http2Proxy request proxying: h2 and HTTP/1.1 clients to an HTTP/1.1 backend, header rewriting,
 * 502/504, cancellation both ways, options.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type http from "node:http";
import https from "node:https";
import { NetError } from "../../../protocols/errors.ts";
import { Http2Proxy } from "../../../protocols/http2/mod.ts";
import { testCerts } from "../../_util/certs.ts";
import { closedLoopbackPort } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { connectH2, h2Request, startEchoBackend, startHttp1Backend, startProxy } from "./_fixtures.ts";

test("Http2Proxy forwards an h2 GET to an HTTP/1.1 backend with X-Forwarded-* and Forwarded", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const authority = `localhost:${proxy.addr.port}`;
  const res = await h2Request(client, {
    ":path": "/a/b?c=1",
    "x-forwarded-for": "10.0.0.1",
    forwarded: "for=10.0.0.1",
    "x-custom": "kept",
  });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.body.toString());
  assert.equal(seen.method, "GET");
  assert.equal(seen.url, "/a/b?c=1");
  assert.equal(seen.headers.host, authority);
  assert.equal(seen.headers["x-custom"], "kept");
  assert.equal(seen.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
  assert.equal(seen.headers["x-forwarded-proto"], "https");
  assert.equal(seen.headers["x-forwarded-host"], authority);
  assert.equal(seen.headers.forwarded, `for=10.0.0.1, for=127.0.0.1;host="${authority}";proto=https`);
  const stats = proxy.stats();
  assert.equal(stats.requests, 1);
  assert.equal(stats.upstreamErrors, 0);
});

test("Http2Proxy removes hop-by-hop fields both ways (RFC 9110 §7.6.1) for an HTTP/1.1 client", async () => {
  let seen: http.IncomingHttpHeaders = {};
  await using backend = await startHttp1Backend((req, res) => {
    seen = req.headers;
    res.writeHead(200, {
      connection: "keep-alive, x-backend-hop",
      "keep-alive": "timeout=5",
      "x-backend-hop": "secret",
      "proxy-authenticate": "Basic",
      "x-backend-end": "visible",
    });
    res.end("ok");
  });
  await using proxy = await startProxy({ target: backend.target, altSvc: 4433 });
  const { caPem } = await testCerts();
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    https.get({
      host: "127.0.0.1",
      port: proxy.addr.port,
      servername: "localhost",
      ca: caPem,
      agent: false,
      path: "/h1",
      headers: {
        host: "app.example",
        connection: "keep-alive, x-client-hop",
        "x-client-hop": "secret",
        "keep-alive": "timeout=5",
        "proxy-authorization": "Basic Zm9vOmJhcg==",
        "proxy-connection": "keep-alive",
        te: "gzip",
        "x-client-end": "visible",
      },
    }, resolve).on("error", reject);
  });
  const body = await new Promise<string>((resolve) => {
    let text = "";
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => text += chunk);
    response.on("end", () => resolve(text));
  });
  assert.equal(body, "ok");
  assert.equal(response.httpVersion, "1.1");
  for (const name of ["x-client-hop", "keep-alive", "proxy-authorization", "proxy-connection", "te"]) {
    assert.equal(seen[name], undefined, `backend saw ${name}`);
  }
  assert.equal(seen["x-client-end"], "visible");
  assert.equal(seen.host, "app.example");
  assert.equal(seen["x-forwarded-host"], "app.example");
  for (const name of ["x-backend-hop", "proxy-authenticate"]) {
    assert.equal(response.headers[name], undefined, `client saw ${name}`);
  }
  assert.equal(response.headers["x-backend-end"], "visible");
  assert.equal(response.headers["alt-svc"], 'h3=":4433"; ma=86400');
});

test("Http2Proxy answers 502 with a short text when the target is down, and reports the NetError", async () => {
  const errors: NetError[] = [];
  const port = await closedLoopbackPort();
  await using proxy = await startProxy({ target: `127.0.0.1:${port}`, onError: (e) => errors.push(e) });
  await using client = await connectH2(proxy);
  const res = await h2Request(client, { ":path": "/down" });
  assert.equal(res.status, 502);
  assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
  assert.equal(res.body.toString(), "502 Bad Gateway: the upstream failed (connection refused)\n");
  assert.equal(proxy.stats().upstreamErrors, 1);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof NetError);
  assert.equal(errors[0].code, "ECONNREFUSED");
  assert.equal(errors[0].protocol, "http2");
  assert.equal(errors[0].message, `Cannot proxy "GET /down" to "127.0.0.1:${port}" over http1: connection refused`);
});

test("Http2Proxy answers 504 when the upstream does not answer within upstreamTimeoutMs", async () => {
  const hung: http.ServerResponse[] = [];
  await using backend = await startHttp1Backend((_req, res) => void hung.push(res));
  const errors: NetError[] = [];
  await using proxy = await startProxy({
    target: backend.target,
    upstreamTimeoutMs: 150,
    onError: (e) => errors.push(e),
  });
  await using client = await connectH2(proxy);
  const started = Date.now();
  const res = await h2Request(client, { ":path": "/slow" });
  assert.equal(res.status, 504);
  assert.equal(res.body.toString(), "504 Gateway Timeout: the upstream did not answer in time\n");
  assert.ok(Date.now() - started >= 140);
  assert.equal(errors[0].code, "ETIMEDOUT");
  assert.equal(
    errors[0].message,
    `Cannot proxy "GET /slow" to "${backend.target}" over http1: no answer within 150 ms`,
  );
});

test("Http2Proxy cancels the upstream request when the client resets its stream", async () => {
  let upstreamClosed = false;
  await using backend = await startHttp1Backend((req, res) => {
    res.writeHead(200);
    res.write("first");
    req.socket.once("close", () => upstreamClosed = true);
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/stream" });
  await new Promise((resolve) => stream.once("data", resolve));
  stream.close(0x8); // CANCEL
  await waitFor(() => upstreamClosed, "the upstream request to be cancelled");
  await waitFor(() => proxy.stats().activeStreams === 0, "the stream to end");
});

test("Http2Proxy resets the client stream when the upstream dies mid-response", async () => {
  await using backend = await startHttp1Backend((req, res) => {
    res.writeHead(200, { "content-length": "1000000" });
    res.write(Buffer.alloc(1000, 1));
    setTimeout(() => req.socket.destroy(), 50);
  });
  const errors: NetError[] = [];
  await using proxy = await startProxy({ target: backend.target, onError: (e) => errors.push(e) });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/die" });
  stream.resume();
  const outcome = await new Promise<string>((resolve) => {
    stream.once("error", (e: { code?: string }) => resolve(`error ${e.code}`));
    stream.once("close", () => resolve(`close ${stream.rstCode}`));
  });
  assert.notEqual(outcome, "close 0", `the client must see a failure, saw ${outcome}`);
  await waitFor(() => errors.length === 1, "the failure to be reported");
});

test("Http2Proxy streams an HTTP/1.1 client's POST body and keeps the connection alive", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target });
  const { caPem } = await testCerts();
  const agent = new https.Agent({ keepAlive: true, ca: caPem, servername: "localhost" });
  try {
    for (const size of [0, 1, 100_000]) {
      const seen = await new Promise<{ size: number; method: string }>((resolve, reject) => {
        const req = https.request(
          { host: "127.0.0.1", port: proxy.addr.port, method: "POST", path: "/p", agent },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => text += chunk);
            res.on("end", () => resolve(JSON.parse(text)));
          },
        );
        req.on("error", reject);
        req.end(Buffer.alloc(size, 7));
      });
      assert.equal(seen.method, "POST");
      assert.equal(seen.size, size);
    }
    assert.equal(proxy.stats().connections, 1);
  } finally {
    agent.destroy();
  }
});

test("Http2Proxy validates its options with exact messages", () => {
  assert.throws(() => new Http2Proxy({ target: "" }), {
    name: "TypeError",
    message: `Cannot create Http2Proxy as 'target' is missing: give "host:port", for example "127.0.0.1:8080"`,
  });
  assert.throws(() => new Http2Proxy({ target: "127.0.0.1:80" }), {
    name: "TypeError",
    message: "Cannot create Http2Proxy as 'cert' and 'key' are required unless 'h2c' is true",
  });
  assert.throws(() => new Http2Proxy({ target: "127.0.0.1:80", h2c: true, upstreamTimeoutMs: -1 }), {
    name: "RangeError",
    message:
      "Cannot create Http2Proxy as 'upstreamTimeoutMs' must be an integer from 0 to 9007199254740991: current value is -1",
  });
  assert.throws(() => new Http2Proxy({ target: "127.0.0.1:80", h2c: true, upstream: "h3" as "h2c" }), {
    name: "TypeError",
    message: `Cannot create Http2Proxy as 'upstream' must be "http1" or "h2c": current value is "h3"`,
  });
  assert.throws(() => new Http2Proxy({ target: "127.0.0.1:80", cert: "nope", key: "nope" }), (error: Error) => {
    assert.equal(error.name, "TypeError");
    assert.match(error.message, /^Cannot create Http2Proxy as the certificate or key is invalid: /);
    return true;
  });
  assert.throws(() => new Http2Proxy({ target: "127.0.0.1:80", h2c: true }).addr, {
    message: "Cannot read the address: the proxy is not listening; call listen() first",
  });
});
