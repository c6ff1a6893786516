/**
 * Http2Proxy lifecycle: graceful close (GOAWAY, in-flight streams finish, deadline, abort), idle
 * HTTP/1.1 connections, certificate swap, listen errors.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import https from "node:https";
import type http from "node:http";
import { NetError, ServerClosedError } from "../../../protocols/errors.ts";
import { Http2Proxy } from "../../../protocols/http2/mod.ts";
import { createTestCerts, testCerts } from "../../_util/certs.ts";
import { test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { connectH2, h2Request, startEchoBackend, startHttp1Backend, startProxy } from "./_fixtures.ts";

test("Http2Proxy.close() sends GOAWAY, lets an in-flight request finish, then refuses connections", async () => {
  const pending: http.ServerResponse[] = [];
  await using backend = await startHttp1Backend((_req, res) => void pending.push(res));
  const proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  let goaway = false;
  client.once("goaway", () => goaway = true);
  const answer = h2Request(client, { ":path": "/slow" });
  await waitFor(() => pending.length === 1, "the request to reach the backend");
  const closing = proxy.close();
  await waitFor(() => goaway, "GOAWAY");
  assert.equal(proxy.stats().activeStreams, 1);
  pending[0].end("finished late");
  const res = await answer;
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), "finished late");
  await closing;
  await assert.rejects(connectH2(proxy), (error: { code?: string }) => error.code === "ECONNREFUSED");
});

test("Http2Proxy.close() destroys streams still open at the deadline", async () => {
  await using backend = await startHttp1Backend(() => {});
  const proxy = await startProxy({ target: backend.target, upstreamTimeoutMs: 0 });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/never" });
  stream.on("error", () => {});
  stream.resume();
  await waitFor(() => proxy.stats().activeStreams === 1, "the request to start");
  const started = Date.now();
  await proxy.close({ timeoutMs: 200 });
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 2_000, `close took ${took} ms`);
  await new Promise((resolve) => stream.once("close", resolve));
  assert.equal(proxy.stats().connections, 0);
});

test("Http2Proxy.close() forces at once when its signal aborts", async () => {
  await using backend = await startHttp1Backend(() => {});
  const proxy = await startProxy({ target: backend.target, upstreamTimeoutMs: 0 });
  await using client = await connectH2(proxy);
  client.request({ ":path": "/never" }).on("error", () => {}).resume();
  await waitFor(() => proxy.stats().activeStreams === 1, "the request to start");
  const controller = new AbortController();
  const started = Date.now();
  const closing = proxy.close({ timeoutMs: 30_000, signal: controller.signal });
  controller.abort();
  await closing;
  assert.ok(Date.now() - started < 2_000);
  assert.equal(proxy.close(), closing, "close() is idempotent");
});

test("Http2Proxy.close() closes idle HTTP/1.1 keep-alive connections right away", async () => {
  await using backend = await startEchoBackend();
  const proxy = await startProxy({ target: backend.target, closeTimeoutMs: 10_000 });
  const { caPem } = await testCerts();
  const agent = new https.Agent({ keepAlive: true, ca: caPem, servername: "localhost" });
  try {
    await new Promise<void>((resolve, reject) => {
      https.get({ host: "127.0.0.1", port: proxy.addr.port, path: "/", agent }, (res) => {
        res.resume();
        res.on("end", () => resolve());
      }).on("error", reject);
    });
    assert.equal(proxy.stats().connections, 1);
    const started = Date.now();
    await proxy.close();
    assert.ok(Date.now() - started < 2_000, "close waited for an idle keep-alive connection");
  } finally {
    agent.destroy();
  }
});

test("Http2Proxy.setCertificate() serves the new certificate to new handshakes", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target });
  const other = await createTestCerts("Other Test CA");
  const get = (ca: string) =>
    new Promise<number>((resolve, reject) => {
      const session = http2.connect(`https://localhost:${proxy.addr.port}`, { ca });
      session.on("error", reject);
      const stream = session.request({ ":path": "/" });
      stream.on("error", reject);
      stream.on("response", (h) => {
        stream.resume();
        stream.on("end", () => session.close(() => resolve(Number(h[":status"]))));
      });
    });
  const { caPem, keyPem } = await testCerts();
  assert.equal(await get(caPem), 200);
  proxy.setCertificate(other.certPem, new TextEncoder().encode(other.keyPem));
  assert.equal(await get(other.caPem), 200);
  await assert.rejects(get(caPem));
  assert.throws(() => proxy.setCertificate(other.certPem, caPem), { name: "TypeError" });
  assert.throws(() => proxy.setCertificate(other.certPem, keyPem), {
    name: "TypeError",
    message: "Cannot set the certificate as the key does not belong to the certificate",
  });
  const h2c = new Http2Proxy({ target: backend.target, h2c: true });
  assert.throws(() => h2c.setCertificate(other.certPem, other.keyPem), {
    name: "TypeError",
    message: "Cannot set a certificate: the proxy serves h2c (cleartext HTTP/2)",
  });
  await h2c.close();
});

test("Http2Proxy.listen() reports a busy port, a second listen and a closed proxy", async () => {
  await using backend = await startEchoBackend();
  await using first = await startProxy({ target: backend.target });
  const second = new Http2Proxy({ target: backend.target, h2c: true, hostname: "127.0.0.1", port: first.addr.port });
  await assert.rejects(second.listen(), (error: unknown) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "EADDRINUSE");
    assert.equal(error.message, `Cannot listen on "127.0.0.1:${first.addr.port}" over http2: address already in use`);
    return true;
  });
  await second.close();
  await assert.rejects(first.listen(), {
    message: `Cannot listen: the proxy is already listening on "127.0.0.1:${first.addr.port}"`,
  });
  await assert.rejects(second.listen(), (error: unknown) => error instanceof ServerClosedError);
});

test("Http2Proxy serves h2c with prior knowledge and counts what it did", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startProxy({ target: backend.target, h2c: true });
  {
    await using client = await connectH2(proxy, true);
    const res = await h2Request(client, { ":method": "POST", ":path": "/c" }, "12345");
    assert.equal(JSON.parse(res.body.toString()).headers["x-forwarded-proto"], "http");
  }
  await waitFor(() => proxy.stats().connections === 0, "the client to disconnect");
  const stats = proxy.stats();
  assert.equal(stats.requests, 1);
  assert.equal(stats.activeStreams, 0);
  assert.equal(stats.bytesIn, 5);
  assert.ok(stats.bytesOut > 0);
});
