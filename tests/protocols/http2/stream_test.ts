/**
 * Http2Proxy streams bodies: 64 MiB byte-exact both ways, the far side sees bytes before the near
 * side finished, and a stalled reader stops the writer (bounded buffering, no whole-body copies).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import { randomBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { sleep, waitFor } from "../../_util/wait.ts";
import { connectH2, startHttp1Backend, startProxy } from "./_fixtures.ts";

const SIZE = 64 * 1024 * 1024;
const SLICE = 64 * 1024;
/** Generous bound for bytes parked between a stalled reader and its writer (windows + socket buffers). */
const MAX_IN_FLIGHT = 24 * 1024 * 1024;

let payload: Uint8Array | undefined;
function data(): Uint8Array {
  payload ??= randomBytes(SIZE, 0x5eed);
  return payload;
}
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Writes `bytes` in slices, waiting for `drain`; resolves to the time the last slice was accepted. */
async function writeAll(stream: NodeJS.WritableStream, bytes: Uint8Array, sent = { bytes: 0 }): Promise<number> {
  for (let off = 0; off < bytes.byteLength; off += SLICE) {
    const slice = bytes.subarray(off, Math.min(off + SLICE, bytes.byteLength));
    sent.bytes += slice.byteLength;
    if (!stream.write(slice)) await new Promise((resolve) => stream.once("drain", resolve));
  }
  return performance.now();
}

function hashBody(source: NodeJS.ReadableStream): Promise<{ size: number; sha: string; firstAt: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let size = 0;
    let firstAt = 0;
    source.on("data", (chunk: Buffer) => {
      if (size === 0) firstAt = performance.now();
      size += chunk.byteLength;
      hash.update(chunk);
    });
    source.once("end", () => resolve({ size, sha: hash.digest("hex"), firstAt }));
    source.once("error", reject);
    source.resume();
  });
}

test("Http2Proxy streams a 64 MiB h2 upload byte-exact; the backend sees bytes before the client is done", async () => {
  let received: Promise<{ size: number; sha: string; firstAt: number }> | undefined;
  await using backend = await startHttp1Backend((req, res) => {
    received = hashBody(req);
    received.then((r) => res.end(JSON.stringify({ size: r.size, sha: r.sha })));
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":method": "POST", ":path": "/upload", "content-type": "application/octet-stream" });
  const response = readText(stream);
  const sentAt = await writeAll(stream, data());
  stream.end();
  const answer = JSON.parse(await response);
  assert.equal(answer.size, SIZE);
  assert.equal(answer.sha, sha256(data()));
  const backendFirst = (await received!).firstAt;
  assert.ok(backendFirst < sentAt, "the backend got the first bytes before the client finished sending");
  assert.equal(proxy.stats().bytesIn, SIZE);
});

function readText(stream: http2.ClientHttp2Stream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks).toString()));
    stream.once("error", reject);
  });
}

test("Http2Proxy streams a 64 MiB download byte-exact; the client sees bytes before the backend is done", async () => {
  let backendDoneAt = 0;
  await using backend = await startHttp1Backend(async (_req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(SIZE) });
    backendDoneAt = await writeAll(res, data());
    res.end();
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/download" });
  const got = await hashBody(stream);
  assert.equal(got.size, SIZE);
  assert.equal(got.sha, sha256(data()));
  assert.ok(got.firstAt < backendDoneAt, "the client got the first bytes before the backend finished sending");
  assert.equal(proxy.stats().bytesOut, SIZE);
});

test("Http2Proxy applies backpressure: a stalled backend stops the uploading client, then all bytes arrive", async () => {
  let request: http.IncomingMessage | undefined;
  let backendBytes = 0;
  const hash = createHash("sha256");
  await using backend = await startHttp1Backend((req, res) => {
    request = req;
    req.once("data", () => req.pause()); // read one chunk, then stall
    req.on("data", (chunk: Buffer) => {
      backendBytes += chunk.byteLength;
      hash.update(chunk);
    });
    req.on("end", () => res.end(String(backendBytes)));
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":method": "POST", ":path": "/stall" });
  stream.resume();
  const sent = { bytes: 0 };
  const writing = writeAll(stream, data(), sent);
  await waitFor(() => request?.isPaused(), "the backend to stall");
  let before = -1;
  await waitFor(async () => {
    const now = sent.bytes;
    await sleep(150);
    return now === sent.bytes && sent.bytes > 0 && (before = sent.bytes);
  }, "the client writes to stop");
  assert.ok(before < MAX_IN_FLIGHT, `the client could send ${before} bytes to a stalled backend`);
  request!.resume();
  await writing;
  stream.end();
  await waitFor(() => backendBytes === SIZE, "every byte to arrive", 30_000);
  assert.equal(hash.digest("hex"), sha256(data()));
});

test("Http2Proxy applies backpressure: a client that stops reading stops the backend's writes", async () => {
  const written = { bytes: 0 };
  let writing: Promise<number> | undefined;
  await using backend = await startHttp1Backend((_req, res) => {
    res.writeHead(200);
    writing = writeAll(res, data(), written).then((at) => {
      res.end();
      return at;
    });
  });
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const stream = client.request({ ":path": "/big" });
  stream.pause();
  await waitFor(() => written.bytes > 0, "the backend to start");
  let stalledAt = -1;
  await waitFor(async () => {
    const now = written.bytes;
    await sleep(150);
    return now === written.bytes && (stalledAt = written.bytes);
  }, "the backend writes to stop");
  assert.ok(stalledAt < MAX_IN_FLIGHT, `the backend could write ${stalledAt} bytes to a client that reads nothing`);
  const got = await hashBody(stream);
  await writing;
  assert.equal(got.size, SIZE);
  assert.equal(got.sha, sha256(data()));
});
