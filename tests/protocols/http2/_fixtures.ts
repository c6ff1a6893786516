/**
 * Fixtures for the http2 proxy tests: backends (HTTP/1.1 and h2c, from `node:http`/`node:http2`),
 * a proxy factory with the shared test certificates, and small `node:http2` client helpers.
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import http2 from "node:http2";
import type net from "node:net";
import { Http2Proxy, type Http2ProxyOptions } from "../../../protocols/http2/mod.ts";
import { testCerts } from "../../_util/certs.ts";

/** A running backend. */
export interface Backend extends AsyncDisposable {
  readonly port: number;
  /** `127.0.0.1:port`. */
  readonly target: string;
  close(): Promise<void>;
}

function closer(server: net.Server, sockets: Set<{ destroy(): void }>): () => Promise<void> {
  let closed: Promise<void> | undefined;
  return () =>
    closed ??= new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

async function listen(server: net.Server, sockets: Set<{ destroy(): void }>): Promise<Backend> {
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const close = closer(server, sockets);
  return { port, target: `127.0.0.1:${port}`, close, [Symbol.asyncDispose]: close };
}

/** An HTTP/1.1 backend on 127.0.0.1 running `handler`. */
export function startHttp1Backend(
  handler: http.RequestListener,
  setup?: (server: http.Server) => void,
): Promise<Backend> {
  const server = http.createServer(handler);
  setup?.(server);
  return listen(server, new Set());
}

/** An h2c (prior knowledge) backend on 127.0.0.1 running `onStream`. */
export function startH2cBackend(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  settings: http2.Settings = {},
): Promise<Backend> {
  const server = http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => {});
    session.once("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onStream(stream, headers);
  });
  return listen(server as unknown as net.Server, sessions);
}

/** An echo backend: answers every request with its method, path, headers and body size as JSON. */
export function startEchoBackend(): Promise<Backend> {
  return startHttp1Backend((req, res) => {
    let size = 0;
    req.on("data", (chunk: Uint8Array) => size += chunk.byteLength);
    req.on("end", () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, size });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(body);
    });
  });
}

/** Starts a listening proxy on 127.0.0.1 with the shared test certificate (TLS unless `h2c`). */
export async function startProxy(options: Partial<Http2ProxyOptions> & { target: string }): Promise<Http2Proxy> {
  const certs = await testCerts();
  const proxy = new Http2Proxy({
    hostname: "127.0.0.1",
    ...(options.h2c ? {} : { cert: certs.certPem, key: certs.keyPem }),
    closeTimeoutMs: 2_000,
    ...options,
  });
  await proxy.listen();
  return proxy;
}

/** A `node:http2` client session to the proxy (TLS with the test CA, or h2c). */
export async function connectH2(proxy: Http2Proxy, h2c = false): Promise<http2.ClientHttp2Session & AsyncDisposable> {
  const { caPem } = await testCerts();
  const url = h2c ? `http://127.0.0.1:${proxy.addr.port}` : `https://localhost:${proxy.addr.port}`;
  const session = http2.connect(url, h2c ? {} : { ca: caPem });
  session.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  return Object.assign(session, {
    [Symbol.asyncDispose]: () =>
      new Promise<void>((resolve) => {
        if (session.closed || session.destroyed) return resolve();
        session.close(() => resolve());
      }),
  });
}

/** A complete HTTP/2 response. */
export interface H2Response {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
}

/** Sends one request (with an optional body and trailers) and collects the whole response. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Uint8Array | string,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, {
      endStream: body === undefined && !trailers,
      waitForTrailers: !!trailers,
    });
    if (trailers) stream.on("wantTrailers", () => stream.sendTrailers(trailers));
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let tail: http2.IncomingHttpHeaders | undefined;
    stream.on("response", (h) => head = h);
    stream.on("trailers", (t) => tail = t);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on(
      "end",
      () => resolve({ status: Number(head[":status"]), headers: head, body: Buffer.concat(chunks), trailers: tail }),
    );
    stream.on("error", reject);
    if (body !== undefined || trailers) stream.end(body);
  });
}

/** Reads from `stream` (resuming it) until `size` bytes arrived (or it ends), then pauses it. */
export function readBytes(stream: NodeJS.ReadableStream, size: number): Promise<Buffer> {
  // Resolves with what came, even when the head and more bytes arrived in one chunk.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      stream.off("data", onData);
      stream.pause();
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total >= size) done();
    };
    stream.on("data", onData);
    stream.once("end", done);
    stream.once("error", reject);
    stream.resume();
  });
}
