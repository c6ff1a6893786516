/**
 * A QUIC peer for the cross-runtime tests, run by the *other* runtime as a child process:
 *
 *   server CERT KEY ALPN        listens on 127.0.0.1:0, prints {"port":N}, echoes every stream of
 *                               every connection; exits when stdin closes.
 *   client PORT CA ALPN COUNT   connects, sends COUNT streams of 64 KiB..1 MiB concurrently, checks
 *                               each echo byte for byte, closes with code 7, prints the outcome.
 *
 * It uses our own adapters, so this is ts-tunnel on one runtime talking to ts-tunnel on the other.
 * @module
 */
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import process from "node:process";
import { defaultRuntime } from "../../protocols/runtime.ts";

function print(value: unknown): void {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(value));
}

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const runtime = await defaultRuntime();
const [mode, ...args] = process.argv.slice(2);

if (mode === "server") {
  const [certFile, keyFile, alpn] = args;
  const listener = await runtime.listenQuic!({
    hostname: "127.0.0.1",
    port: 0,
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    alpnProtocols: [alpn],
  });
  const closes: unknown[] = [];
  const serving = (async () => {
    for await (const incoming of listener) {
      void (async () => {
        const conn = await incoming.handshake({ timeoutMs: 10_000 });
        void conn.closed.then(() => closes.push(conn.closeInfo));
        for await (const stream of conn.incomingStreams()) {
          stream.readable.pipeTo(stream.writable).catch(() => stream.close());
        }
      })().catch(() => {});
    }
  })();
  print({ port: listener.addr.port, runtime: runtime.name, receiveBuffer: listener.receiveBuffer });
  process.stdin.on("data", () => {});
  await new Promise((resolve) => process.stdin.once("close", resolve).once("end", resolve));
  listener.close();
  await serving;
  process.exit(0);
} else if (mode === "client") {
  const [port, caFile, alpn, count] = args;
  const conn = await runtime.connectQuic!({
    hostname: "127.0.0.1",
    port: Number(port),
    serverName: "localhost",
    caCerts: [readFileSync(caFile, "utf8")],
    alpnProtocols: [alpn],
    timeoutMs: 10_000,
  });
  let exact = 0;
  await Promise.all(Array.from({ length: Number(count) }, async (_, i) => {
    const stream = await conn.openStream();
    const data = pattern(64 * 1024 * (1 + (i % 16)), i);
    const writing = (async () => {
      const writer = stream.writable.getWriter();
      await writer.write(data);
      await writer.close();
    })();
    const got = new Uint8Array(await new Response(stream.readable).arrayBuffer());
    await writing;
    if (Buffer.from(got).equals(Buffer.from(data))) exact++;
    stream.close();
  }));
  conn.close({ code: 7, reason: "done" });
  await conn.closed;
  print({ runtime: runtime.name, alpn: conn.alpnProtocol, exact, closeInfo: conn.closeInfo });
  process.exit(0);
} else {
  throw new TypeError(`Unknown mode ${JSON.stringify(mode)}: use "server" or "client"`);
}
