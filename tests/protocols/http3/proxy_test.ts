/**
 * Http3Proxy with our own HTTP/3 test client (built from the codec over the runtime's QUIC client):
 * upstream kinds, forwarding fields, trailers, gateway errors, GOAWAY, malformed requests and bad
 * control streams. Runs on Deno (our framing over Deno QUIC) and Bun (`Bun.serve` with http3).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { setTimeout as delay } from "node:timers/promises";
import { Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import { encodeFrame, encodeStreamType, FrameType, StreamType } from "../../../protocols/http3/frames.ts";
import { altSvcValue, Http3Proxy, type Http3ProxyOptions } from "../../../protocols/http3/mod.ts";
import type { NetError } from "../../../protocols/errors.ts";
import { testCerts } from "../../_util/certs.ts";
import { closedLoopbackPort, randomBytes } from "../../_util/echo_server.ts";
import { runtimeName, test } from "../../_util/test.ts";
import { waitFor } from "../../_util/wait.ts";
import { startEchoBackend, startH2cBackend, startHttp1Backend } from "../http2/_fixtures.ts";
import { concat, connectAny, H3Client, header } from "./_h3_client.ts";

const deno = runtimeName === "deno";
/** Tests of our own HTTP/3 framing, which Bun does not run (it serves through `Bun.serve`). */
const ourFramingOnly = deno
  ? false
  : "Bun serves HTTP/3 through Bun.serve, not our framing (and node:quic cannot talk to it)";

async function startH3Proxy(options: Partial<Http3ProxyOptions> & { target: string }): Promise<Http3Proxy> {
  const certs = await testCerts();
  const proxy = new Http3Proxy({ hostname: "127.0.0.1", cert: certs.certPem, key: certs.keyPem, ...options });
  await proxy.listen();
  return proxy;
}

test("Http3Proxy: GET and POST reach an HTTP/1.1 upstream with X-Forwarded-* and without hop-by-hop fields", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startH3Proxy({ target: backend.target });
  await using client = await connectAny(proxy.addr.port);
  const get = await client.request({ path: "/a/b?c=d", authority: "example.test", headers: [["x-custom", "1"]] });
  assert.equal(get.status, 200);
  const echo = JSON.parse(new TextDecoder().decode(get.body));
  assert.equal(echo.method, "GET");
  assert.equal(echo.url, "/a/b?c=d");
  assert.equal(echo.headers.host, "example.test");
  assert.equal(echo.headers["x-custom"], "1");
  assert.equal(echo.headers["x-forwarded-for"], "127.0.0.1");
  assert.equal(echo.headers["x-forwarded-proto"], "https");
  assert.equal(echo.headers["x-forwarded-host"], "example.test");
  assert.equal(echo.headers.forwarded, "for=127.0.0.1;host=example.test;proto=https");
  const body = randomBytes(300_000, 3);
  const post = await client.request({
    method: "POST",
    path: "/up",
    body,
    headers: [["content-length", String(body.byteLength)]],
  });
  assert.equal(post.status, 200);
  assert.equal(JSON.parse(new TextDecoder().decode(post.body)).size, body.byteLength);
  assert.equal(proxy.stats().requests, 2);
  assert.equal(proxy.stats().bytesIn, body.byteLength);
});

test("Http3Proxy: a 4 MiB response streams back byte-exact; response headers pass", async () => {
  const big = randomBytes(4 * 1024 * 1024, 5);
  await using backend = await startHttp1Backend((_req, res) => {
    res.writeHead(200, { "x-up": "yes", "set-cookie": ["a=1", "b=2"], connection: "keep-alive" });
    res.end(big);
  });
  await using proxy = await startH3Proxy({ target: backend.target });
  await using client = await connectAny(proxy.addr.port);
  const response = await client.request({ path: "/big" });
  assert.equal(response.status, 200);
  assert.equal(header(response, "x-up"), "yes");
  assert.deepEqual(response.headers.filter(([n]) => n === "set-cookie").map(([, v]) => v), ["a=1", "b=2"]);
  assert.equal(header(response, "connection"), undefined);
  assert.equal(response.body.byteLength, big.byteLength);
  assert.ok(Buffer.from(response.body).equals(Buffer.from(big)));
});

test("Http3Proxy: h2c upstream with request and response trailers (dropped on Bun, whose Request/Response have none)", async () => {
  let gotTrailers: Record<string, unknown> | undefined;
  await using backend = await startH2cBackend((stream) => {
    const chunks: Uint8Array[] = [];
    stream.on("data", (c: Uint8Array) => chunks.push(c));
    stream.on("trailers", (t) => gotTrailers = t);
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "ok" }));
      stream.end(concat(chunks));
    });
  });
  await using proxy = await startH3Proxy({ target: backend.target, upstream: "h2c" });
  await using client = await connectAny(proxy.addr.port);
  const response = await client.request({
    method: "POST",
    path: "/svc/Method",
    headers: [["content-type", "application/grpc"], ["te", "trailers"]],
    body: new TextEncoder().encode("grpc-frame"),
    trailers: deno ? [["x-req-trailer", "yes"]] : undefined,
  });
  assert.equal(response.status, 200);
  assert.equal(new TextDecoder().decode(response.body), "grpc-frame");
  if (deno) {
    assert.deepEqual(response.trailers, [["grpc-status", "0"], ["grpc-message", "ok"]]);
    assert.equal(gotTrailers?.["x-req-trailer"], "yes");
  } else {
    assert.equal(response.trailers, undefined);
  }
});

test("Http3Proxy: an unreachable upstream gives 502 and a slow one 504, with short text bodies", async () => {
  const errors: NetError[] = [];
  await using down = await startH3Proxy({
    target: `127.0.0.1:${await closedLoopbackPort()}`,
    onError: (e) => errors.push(e),
  });
  await using client = await connectAny(down.addr.port);
  const refused = await client.request({ path: "/x" });
  assert.equal(refused.status, 502);
  assert.equal(new TextDecoder().decode(refused.body), "502 Bad Gateway: the upstream failed (connection refused)\n");
  assert.equal(errors[0]?.code, "ECONNREFUSED");
  assert.equal(down.stats().upstreamErrors, 1);

  const hung = new Set<{ destroy(): void }>();
  await using slow = await startHttp1Backend((req) => void hung.add(req.socket));
  await using proxy = await startH3Proxy({ target: slow.target, upstreamTimeoutMs: 300 });
  await using client2 = await connectAny(proxy.addr.port);
  const timedOut = await client2.request({ path: "/slow" });
  assert.equal(timedOut.status, 504);
  assert.equal(new TextDecoder().decode(timedOut.body), "504 Gateway Timeout: the upstream did not answer in time\n");
  for (const socket of hung) socket.destroy();
});

test("Http3Proxy.close(): GOAWAY, the in-flight request finishes, then the connection closes", async () => {
  const release = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  await using backend = await startHttp1Backend(async (_req, res) => {
    arrived.resolve();
    await release.promise;
    res.end("late answer");
  });
  const proxy = await startH3Proxy({ target: backend.target });
  const client = await connectAny(proxy.addr.port);
  const ours = client instanceof H3Client ? client : undefined;
  const inFlight = client.request({ path: "/slow" });
  await arrived.promise;
  const closing = proxy.close({ timeoutMs: 10_000 });
  if (ours) {
    assert.equal(await ours.goaway, 4, "GOAWAY names the first stream not processed");
    const late = await ours.request({ path: "/after-goaway" }).then((r) => r.status, (e) => e);
    assert.ok(late instanceof Error, `a request after GOAWAY is not processed: ${late}`);
    assert.equal(proxy.stats().rejectedStreams, 1);
  }
  await delay(100);
  release.resolve();
  const response = await inFlight;
  assert.equal(response.status, 200);
  assert.equal(new TextDecoder().decode(response.body), "late answer");
  await closing;
  if (ours) {
    await ours.quic.closed;
    assert.equal(ours.quic.closeInfo?.code, Http3ErrorCode.H3_NO_ERROR);
  }
  await client.close();
  await assert.rejects(() => proxy.listen(), { name: "ServerClosedError" });
});

test("Http3Proxy: a garbage control stream costs only that connection; others keep working", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startH3Proxy({ target: backend.target });
  await using good = await H3Client.connect(proxy.addr.port);
  assert.equal((await good.request({ path: "/before" })).status, 200);
  const cases: [string, Uint8Array, number][] = [
    [
      "a control stream that starts with DATA",
      concat([encodeStreamType(StreamType.CONTROL), encodeFrame(FrameType.DATA, new Uint8Array(3))]),
      Http3ErrorCode.H3_MISSING_SETTINGS,
    ],
    [
      "a control stream with two SETTINGS",
      concat([
        encodeStreamType(StreamType.CONTROL),
        encodeFrame(FrameType.SETTINGS, new Uint8Array(0)),
        encodeFrame(FrameType.SETTINGS, new Uint8Array(0)),
      ]),
      Http3ErrorCode.H3_FRAME_UNEXPECTED,
    ],
    [
      "an HTTP/2 frame type on the control stream",
      concat([
        encodeStreamType(StreamType.CONTROL),
        encodeFrame(FrameType.SETTINGS, new Uint8Array(0)),
        encodeFrame(0x6, new Uint8Array(8)),
      ]),
      Http3ErrorCode.H3_FRAME_UNEXPECTED,
    ],
    [
      "random bytes after SETTINGS",
      concat([
        encodeStreamType(StreamType.CONTROL),
        encodeFrame(FrameType.SETTINGS, new Uint8Array(0)),
        encodeFrame(FrameType.HEADERS, randomBytes(40, 9)),
      ]),
      Http3ErrorCode.H3_FRAME_UNEXPECTED,
    ],
  ];
  for (const [what, bytes, code] of cases) {
    const bad = await H3Client.connect(proxy.addr.port, bytes);
    await Promise.race([bad.quic.closed, delay(5_000)]);
    assert.ok(bad.quic.closeInfo, `${what}: the server closed the connection`);
    if (deno) assert.equal(bad.quic.closeInfo.code, code, `${what}: ${JSON.stringify(bad.quic.closeInfo)}`);
    await bad.close();
    assert.equal((await good.request({ path: "/after" })).status, 200, `after ${what}`);
  }
  assert.equal(proxy.stats().connectionErrors, cases.length);
}, { ignore: ourFramingOnly });

test(
  "Http3Proxy: bad QPACK streams, a second control stream, a push stream or a closed control stream close only that connection",
  async () => {
    await using backend = await startEchoBackend();
    await using proxy = await startH3Proxy({ target: backend.target });
    await using good = await H3Client.connect(proxy.addr.port);
    const cases: [string, (client: H3Client) => Promise<void>, number][] = [
      [
        "Set Dynamic Table Capacity 100 on the QPACK encoder stream",
        (c) => c.openRawUni(new Uint8Array([StreamType.QPACK_ENCODER, 0x3f, 0x45])),
        Http3ErrorCode.QPACK_ENCODER_STREAM_ERROR,
      ],
      [
        "an Insert Count Increment on the QPACK decoder stream",
        (c) => c.openRawUni(new Uint8Array([StreamType.QPACK_DECODER, 0x01])),
        Http3ErrorCode.QPACK_DECODER_STREAM_ERROR,
      ],
      [
        "a second control stream",
        (c) =>
          c.openRawUni(
            concat([encodeStreamType(StreamType.CONTROL), encodeFrame(FrameType.SETTINGS, new Uint8Array(0))]),
          ),
        Http3ErrorCode.H3_STREAM_CREATION_ERROR,
      ],
      [
        "a push stream from the client",
        (c) => c.openRawUni(new Uint8Array([StreamType.PUSH, 0x00])),
        Http3ErrorCode.H3_STREAM_CREATION_ERROR,
      ],
      ["our control stream ended", (c) => c.finishControl(), Http3ErrorCode.H3_CLOSED_CRITICAL_STREAM],
      [
        "a QPACK encoder stream ended",
        (c) => c.openRawUni(new Uint8Array([StreamType.QPACK_ENCODER]), true),
        Http3ErrorCode.H3_CLOSED_CRITICAL_STREAM,
      ],
    ];
    for (const [what, act, code] of cases) {
      const bad = await H3Client.connect(proxy.addr.port);
      assert.equal((await bad.request({ path: "/first" })).status, 200, what);
      await act(bad);
      await Promise.race([bad.quic.closed, delay(5_000)]);
      assert.equal(bad.quic.closeInfo?.code, code, `${what}: ${JSON.stringify(bad.quic.closeInfo)}`);
      await bad.close();
      assert.equal((await good.request({ path: "/after" })).status, 200, `after ${what}`);
    }
    // An unknown stream type is read past (STOP_SENDING), not an error.
    await good.openRawUni(new Uint8Array([0x21, 1, 2, 3]), true);
    assert.equal((await good.request({ path: "/unknown-type" })).status, 200);
    assert.equal(proxy.stats().connectionErrors, cases.length);
  },
  { ignore: ourFramingOnly },
);

test(
  "Http3Proxy: malformed requests are refused per stream (400 on Deno), never crash; the connection goes on",
  async () => {
    await using backend = await startEchoBackend();
    await using proxy = await startH3Proxy({ target: backend.target, maxFieldSectionSize: 4096 });
    await using client = await H3Client.connect(proxy.addr.port);
    const malformed = [
      [{ name: ":method", value: "GET" }, { name: ":path", value: "/" }], // no :scheme, no :authority
      [{ name: ":method", value: "GET" }, { name: ":scheme", value: "https" }, { name: ":authority", value: "a" }, {
        name: ":path",
        value: "/",
      }, { name: "connection", value: "close" }],
      [{ name: ":method", value: "GET" }, { name: ":scheme", value: "https" }, { name: ":authority", value: "a" }, {
        name: ":path",
        value: "/",
      }, { name: "te", value: "gzip" }],
    ];
    for (const rawFields of malformed) {
      const outcome = await client.request({ rawFields }).then((r) => r.status, (e) => e);
      if (deno) assert.equal(outcome, 400, JSON.stringify(rawFields));
      else assert.ok(outcome === 400 || outcome instanceof Error, String(outcome));
    }
    const body = new TextEncoder().encode("12345");
    const wrongLength = await client.request({ method: "POST", body, headers: [["content-length", "3"]] })
      .then((r) => r.status, (e) => e);
    if (deno) assert.equal(wrongLength, 400);
    if (deno) {
      const big = await client.request({ headers: [["x-big", "v".repeat(5000)]] });
      assert.equal(big.status, 431);
      const settings = await client.settings;
      assert.deepEqual(settings, { qpackMaxTableCapacity: 0, qpackBlockedStreams: 0, maxFieldSectionSize: 4096 });
    }
    assert.equal((await client.request({ path: "/fine" })).status, 200);
  },
  { ignore: ourFramingOnly },
);

test("Http3Proxy options: typed errors name the key; altSvcValue builds the Alt-Svc value", async () => {
  const { certPem, keyPem } = await testCerts();
  assert.throws(() => new Http3Proxy({ target: "", cert: certPem, key: keyPem }), {
    name: "TypeError",
    message: `Cannot create Http3Proxy as 'target' is missing: give "host:port", for example "127.0.0.1:8080"`,
  });
  assert.throws(() => new Http3Proxy({ target: "127.0.0.1:1", cert: "", key: keyPem }), TypeError);
  assert.throws(() => new Http3Proxy({ target: "127.0.0.1:1", cert: certPem, key: keyPem, maxConcurrentStreams: 0 }), {
    name: "RangeError",
    message:
      "Cannot create Http3Proxy as 'maxConcurrentStreams' must be an integer from 1 to 65535: current value is 0",
  });
  assert.equal(altSvcValue(8443), 'h3=":8443"; ma=86400');
  assert.equal(altSvcValue(443, 60), 'h3=":443"; ma=60');
  assert.throws(() => altSvcValue(0), RangeError);
  const proxy = new Http3Proxy({ target: "127.0.0.1:1", cert: certPem, key: keyPem });
  assert.throws(() => proxy.addr, /not listening/);
  await proxy.close();
  await waitFor(() => true, "nothing");
});

test("Http3Proxy: random bytes on request streams never crash the server; other connections keep working", async () => {
  await using backend = await startEchoBackend();
  await using proxy = await startH3Proxy({ target: backend.target });
  await using good = await H3Client.connect(proxy.addr.port);
  for (let i = 0; i < 20; i++) {
    const bad = await H3Client.connect(proxy.addr.port);
    const stream = await bad.quic.openStream();
    const writer = stream.writable.getWriter();
    const garbage = randomBytes(1 + ((i * 97) % 3000), 100 + i);
    if (i % 2 === 0) garbage[0] = FrameType.HEADERS; // a HEADERS frame with a random length and field section
    await writer.write(garbage).catch(() => {});
    await writer.close().catch(() => {});
    const drained = new Response(stream.readable).arrayBuffer().catch(() => undefined);
    await Promise.race([drained, bad.quic.closed, delay(2_000)]);
    await bad.close();
  }
  assert.equal((await good.request({ path: "/still-fine" })).status, 200);
}, { ignore: ourFramingOnly });

test("Http3Proxy: maxConcurrentStreams bounds the requests one connection has in flight", async () => {
  const release = Promise.withResolvers<void>();
  let arrived = 0;
  await using backend = await startHttp1Backend(async (_req, res) => {
    arrived++;
    await release.promise;
    res.end("done");
  });
  await using proxy = await startH3Proxy({ target: backend.target, maxConcurrentStreams: 2 });
  await using client = await H3Client.connect(proxy.addr.port);
  const all = Array.from({ length: 5 }, (_, i) => client.request({ path: `/${i}` }));
  await waitFor(() => arrived === 2, "two requests at the upstream");
  await delay(300);
  assert.equal(arrived, 2, "the other three wait for QUIC stream credit");
  release.resolve();
  const responses = await Promise.all(all);
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200]);
  assert.equal(arrived, 5);
}, { ignore: ourFramingOnly });
