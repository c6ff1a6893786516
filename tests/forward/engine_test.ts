import assert from "node:assert/strict";
import { forward } from "../../forward/engine.ts";
import { TcpProtocol } from "../../protocols/tcp.ts";
import type { Conn } from "../../protocols/types.ts";
import { test } from "../_util/test.ts";
import { waitFor } from "../_util/wait.ts";
import {
  connectClient,
  randomBytes,
  readAll,
  roundTrip,
  sameBytes,
  startEchoServer,
  type TestServer,
} from "../_util/echo_server.ts";

const tcp = new TcpProtocol();

/** A minimal proxy: listener on 127.0.0.1:0 forwarding every conn to `targetPort` with forward(). */
async function startProxy(targetPort: number, onDone?: (stats: Awaited<ReturnType<typeof forward>>) => void) {
  const listener = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks = new Set<Promise<void>>();
  const loop = (async () => {
    for await (const incoming of listener) {
      const task = (async () => {
        const client: Conn = await incoming.handshake();
        const upstream = await tcp.dial({ hostname: "127.0.0.1", port: targetPort });
        const stats = await forward(client, upstream);
        onDone?.(stats);
      })().catch(() => {});
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })();
  return {
    port: listener.addr.port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      await Promise.all(tasks);
    },
  };
}

test("forward() echoes a 64 MiB random payload byte-exact with both directions flowing at once", async () => {
  await using echo: TestServer = await startEchoServer();
  const results: Awaited<ReturnType<typeof forward>>[] = [];
  await using proxy = await startProxy(echo.port, (s) => results.push(s));
  const payload = randomBytes(64 * 1024 * 1024);
  const received = await roundTrip(proxy.port, payload);
  assert.equal(received.byteLength, payload.byteLength);
  assert.ok(sameBytes(received, payload), "echoed bytes differ from the payload");
  // allow the proxy to settle its stats
  await waitFor(() => results.length > 0, "the proxy's stats");
  assert.equal(results[0].aToB, payload.byteLength);
  assert.equal(results[0].bToA, payload.byteLength);
});

test("forward() propagates half-close: the client still receives the full response after shutting its write side", async () => {
  await using server = await (await import("../_util/echo_server.ts")).startServer((socket) => {
    const chunks: Uint8Array[] = [];
    socket.on("data", (c: Uint8Array) => chunks.push(c));
    socket.on("end", () => {
      // respond only after the request side has ended
      const total = chunks.reduce((n, c) => n + c.byteLength, 0);
      socket.end(`got ${total} bytes`);
    });
  });
  await using proxy = await startProxy(server.port);
  const client = await connectClient(proxy.port);
  const response = readAll(client);
  client.end("x".repeat(100_000));
  assert.equal(new TextDecoder().decode(await response), "got 100000 bytes");
  client.destroy();
});
