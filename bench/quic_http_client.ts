// deno-lint-ignore-file no-console -- a bench client prints its figures
/**
 * Bench client for the raw `quic` protocol row of bench/http_run.sh: HTTP/1.1 requests, one per
 * QUIC stream (`Connection: close`), through a `-protocol quic` forwarder to nginx, on one QUIC
 * connection. Prints "req_s mb_s failed" like the other clients of that script.
 *
 *   deno run -A bench/quic_http_client.ts PORT CA_FILE small SECS CONCURRENCY
 *   deno run -A bench/quic_http_client.ts PORT CA_FILE big COUNT
 *
 * `small` runs CONCURRENCY streams at a time for SECS seconds; `big` fetches /big COUNT times in
 * a row. A request counts when its response began with `HTTP/1.1 200` and the stream ended.
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { defaultRuntime } from "../protocols/runtime.ts";
import type { QuicConnection } from "../protocols/quic_types.ts";

const [portArg, caFile, mode, a, b] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || !caFile || (mode !== "small" && mode !== "big")) {
  console.error("usage: quic_http_client.ts PORT CA_FILE small SECS CONCURRENCY | big COUNT");
  process.exit(2);
}

/** One request on a fresh stream; resolves to the response's byte count, or -1 on failure. */
async function request(conn: QuicConnection, path: string): Promise<number> {
  try {
    const stream = await conn.openStream();
    const writer = stream.writable.getWriter();
    await writer.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`));
    await writer.close();
    let bytes = 0;
    let head = "";
    for await (const chunk of stream.readable) {
      if (head.length < 12) head += new TextDecoder().decode(chunk.subarray(0, 12));
      bytes += chunk.byteLength;
    }
    stream.close();
    return head.startsWith("HTTP/1.1 200") ? bytes : -1;
  } catch {
    return -1;
  }
}

const runtime = await defaultRuntime();
const conn = await runtime.connectQuic!({
  hostname: "127.0.0.1",
  port,
  serverName: "localhost",
  caCerts: [readFileSync(caFile, "utf8")],
  alpnProtocols: ["ts-tunnel-quic"],
});
let ok = 0, failed = 0, bytes = 0;
const start = performance.now();
if (mode === "small") {
  const deadline = start + Number(a) * 1000;
  await Promise.all(Array.from({ length: Number(b) }, async () => {
    while (performance.now() < deadline) {
      const n = await request(conn, "/small");
      if (n < 0) failed++;
      else (ok++, bytes += n);
    }
  }));
} else {
  for (let i = 0; i < Number(a); i++) {
    const n = await request(conn, "/big");
    if (n < 0) failed++;
    else (ok++, bytes += n);
  }
}
const seconds = (performance.now() - start) / 1000;
conn.close();
console.log(`${(ok / seconds).toFixed(1)} ${(bytes / seconds / 1048576).toFixed(1)} ${failed}`);
process.exit(0);
