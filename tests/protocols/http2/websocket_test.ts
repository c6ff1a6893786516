/**
 * Http2Proxy upgrades: RFC 8441 extended CONNECT and HTTP/1.1 `Upgrade: websocket` over TLS, to an
 * HTTP/1.1 target (Upgrade) and to an h2c target (extended CONNECT). The backends accept the
 * handshake and echo raw bytes; no WebSocket framing is needed for the bytes to round-trip.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, randomBytes as cryptoBytes } from "node:crypto";
import type http from "node:http";
import type http2 from "node:http2";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { testCerts } from "../../_util/certs.ts";
import { closedLoopbackPort, randomBytes, sameBytes } from "../../_util/echo_server.ts";
import { test } from "../../_util/test.ts";
import { type Backend, connectH2, readBytes, startH2cBackend, startHttp1Backend, startProxy } from "./_fixtures.ts";

const accept = (key: string) =>
  createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");

/** An HTTP/1.1 backend that accepts WebSocket upgrades (checking the key) and echoes raw bytes after the 101. */
function startUpgradeBackend(seen: http.IncomingHttpHeaders[] = []): Promise<Backend> {
  return startHttp1Backend((_req, res) => res.end("not an upgrade"), (server) => {
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      seen.push(req.headers);
      socket.on("error", () => {});
      const key = req.headers["sec-websocket-key"];
      if (req.url === "/missing" || typeof key !== "string") {
        socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
      }
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          `Sec-WebSocket-Accept: ${accept(key)}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
      );
      if (head.byteLength > 0) socket.write(head);
      socket.pipe(socket);
    });
  });
}

/** An h2c backend that accepts extended CONNECT websocket streams and echoes them. */
function startH2cWebSocketBackend(): Promise<Backend> {
  return startH2cBackend((stream: http2.ServerHttp2Stream, headers) => {
    if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
      stream.respond({ ":status": 400 });
      return void stream.end();
    }
    stream.respond({ ":status": 200, "sec-websocket-protocol": "chat" });
    stream.pipe(stream);
  }, { enableConnectProtocol: true });
}

async function extendedConnect(client: http2.ClientHttp2Session, authority: string, path = "/ws") {
  const stream = client.request({
    ":method": "CONNECT",
    ":protocol": "websocket",
    ":scheme": "https",
    ":path": path,
    ":authority": authority,
    "sec-websocket-version": "13",
    "sec-websocket-protocol": "chat",
  }, { endStream: false });
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("response", resolve));
  return { stream, status: Number(headers[":status"]), headers };
}

for (const upstream of ["http1", "h2c"] as const) {
  test(`Http2Proxy bridges an RFC 8441 extended CONNECT websocket to an ${upstream} target`, async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    await using backend = upstream === "http1" ? await startUpgradeBackend(seen) : await startH2cWebSocketBackend();
    await using proxy = await startProxy({ target: backend.target, upstream });
    await using client = await connectH2(proxy);
    const { stream, status, headers } = await extendedConnect(client, `localhost:${proxy.addr.port}`);
    assert.equal(status, 200);
    assert.equal(headers["sec-websocket-protocol"], "chat");
    assert.equal(headers["sec-websocket-accept"], undefined);
    const payload = randomBytes(200_000, 11);
    const echoed = readBytes(stream, Infinity);
    stream.end(payload);
    assert.ok(sameBytes(await echoed, payload), "echoed bytes differ");
    assert.equal(proxy.stats().upgrades, 1);
    if (upstream === "http1") {
      assert.equal(seen[0].upgrade, "websocket");
      assert.equal(seen[0]["x-forwarded-proto"], "https");
      assert.equal(seen[0]["sec-websocket-protocol"], "chat");
    }
  });

  test(`Http2Proxy bridges an HTTP/1.1 Upgrade: websocket over TLS to an ${upstream} target`, async () => {
    await using backend = upstream === "http1" ? await startUpgradeBackend() : await startH2cWebSocketBackend();
    await using proxy = await startProxy({ target: backend.target, upstream });
    const { caPem } = await testCerts();
    const socket = tls.connect({
      host: "127.0.0.1",
      port: proxy.addr.port,
      servername: "localhost",
      ca: caPem,
      ALPNProtocols: ["http/1.1"],
    });
    try {
      await new Promise((resolve) => socket.once("secureConnect", resolve));
      const key = cryptoBytes(16).toString("base64");
      const early = Buffer.from("early bytes right after the head|");
      socket.write(Buffer.concat([
        Buffer.from(
          `GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
        ),
        early,
      ]));
      const payload = randomBytes(100_000, 5);
      let text = "";
      const head = await new Promise<{ head: string; rest: Buffer }>((resolve) => {
        const onData = (chunk: Buffer) => {
          text += chunk.toString("latin1");
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) return;
          socket.off("data", onData);
          socket.pause();
          resolve({ head: text.slice(0, end), rest: Buffer.from(text.slice(end + 4), "latin1") });
        };
        socket.on("data", onData);
      });
      assert.match(head.head, /^HTTP\/1\.1 101 /);
      assert.match(head.head, new RegExp(`\r\nsec-websocket-accept: ${accept(key).replace(/[+/]/g, "\\$&")}`, "i"));
      const expected = Buffer.concat([early, payload]);
      const echoed = readBytes(socket, expected.byteLength - head.rest.byteLength);
      socket.write(payload);
      assert.ok(sameBytes(Buffer.concat([head.rest, await echoed]), expected), "echoed bytes differ");
    } finally {
      socket.destroy();
    }
  });
}

test("Http2Proxy passes a refused upgrade's status to an extended CONNECT client", async () => {
  await using backend = await startUpgradeBackend();
  await using proxy = await startProxy({ target: backend.target });
  await using client = await connectH2(proxy);
  const { stream, status } = await extendedConnect(client, `localhost:${proxy.addr.port}`, "/missing");
  stream.destroy();
  assert.equal(status, 404);
});

test("Http2Proxy answers 502 to an extended CONNECT when the target is down", async () => {
  const port = await closedLoopbackPort();
  await using proxy = await startProxy({ target: `127.0.0.1:${port}` });
  await using client = await connectH2(proxy);
  const { stream, status } = await extendedConnect(client, `localhost:${proxy.addr.port}`);
  stream.destroy();
  assert.equal(status, 502);
  assert.equal(proxy.stats().upstreamErrors, 1);
});
