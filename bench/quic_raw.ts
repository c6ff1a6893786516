// deno-lint-ignore-file no-console no-explicit-any -- a bench prints its figures; Deno's QUIC API is used raw, by shape
/**
 * Raw Deno QUIC throughput between two processes, the reference for the tunnel's QUIC goals
 * (">= 80% of raw Deno QUIC on one stream", ">= 4 Gbit/s over 8 streams"): a receiver child
 * process accepts one connection and drains every stream; this process sends `--mib` MiB in
 * 64 KiB writes over `--streams` streams at once, and prints Gbit/s (first byte written to the
 * receiver's report of the last byte read).
 *
 * ```sh
 * deno run -A --unstable-net bench/quic_raw.ts --streams 1 --mib 512 --runs 3
 * deno run -A --unstable-net bench/quic_raw.ts --streams 8 --cc low-latency
 * ```
 * Only prints; nothing is asserted. Deno only (Bun's `node:quic` is not measured here).
 * @module
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { testCerts } from "../tests/_util/certs.ts";

const D = (globalThis as any).Deno;
const { values } = parseArgs({
  args: D.args,
  options: {
    streams: { type: "string", default: "1" },
    mib: { type: "string", default: "512" },
    runs: { type: "string", default: "1" },
    cc: { type: "string", default: "default" },
    role: { type: "string" },
  },
});
const ALPN = ["bench-raw"];
const CHUNK = 64 * 1024;

async function receiver(): Promise<void> {
  const certs = await testCerts();
  const endpoint = new D.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const listener = endpoint.listen({
    cert: certs.certPem,
    key: certs.keyPem,
    alpnProtocols: ALPN,
    ...(values.cc === "default" ? {} : { congestionControl: values.cc }),
  });
  console.log(`${endpoint.addr.port} ${certs.caFile}`);
  const expected = Number(values.mib) * 1024 * 1024;
  for await (const incoming of listener) {
    const conn = await incoming.accept();
    let total = 0;
    const drain = async (stream: any) => {
      const reader = stream.readable.getReader({ mode: "byob" });
      let buffer = new Uint8Array(CHUNK);
      while (true) {
        const { done, value } = await reader.read(buffer);
        if (done) return;
        total += value.byteLength;
        if (total >= expected) console.log("done");
        buffer = new Uint8Array(value.buffer);
      }
    };
    const streams = conn.incomingBidirectionalStreams.getReader();
    while (true) {
      const { done, value } = await streams.read();
      if (done) break;
      void drain(value);
    }
  }
}

async function sender(): Promise<void> {
  const child = spawn(D.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    new URL(import.meta.url).pathname,
    "--role",
    "receiver",
    "--mib",
    values.mib!,
    "--cc",
    values.cc!,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const [port, caFile] = (await lines.next()).value.split(" ");
  const conn = await D.connectQuic({
    hostname: "127.0.0.1",
    port: Number(port),
    serverName: "localhost",
    caCerts: [await D.readTextFile(caFile)],
    alpnProtocols: ALPN,
    ...(values.cc === "default" ? {} : { congestionControl: values.cc }),
  });
  const streams = Number(values.streams);
  const perStream = Math.floor(Number(values.mib) * 1024 * 1024 / streams / CHUNK);
  const chunk = new Uint8Array(CHUNK).fill(7);
  const started = performance.now();
  await Promise.all(Array.from({ length: streams }, async () => {
    const stream = await conn.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    for (let i = 0; i < perStream; i++) await writer.write(chunk);
    await writer.close();
  }));
  await lines.next(); // "done": the receiver read every byte
  const seconds = (performance.now() - started) / 1000;
  const bytes = perStream * CHUNK * streams;
  console.log(
    `raw deno quic, ${streams} stream(s), cc ${values.cc}: ${(bytes / seconds / 1e6).toFixed(0)} MB/s = ` +
      `${(bytes * 8 / seconds / 1e9).toFixed(2)} Gbit/s (${values.mib} MiB)`,
  );
  conn.close();
  child.kill("SIGTERM");
}

if (values.role === "receiver") await receiver();
else for (let run = 0; run < Number(values.runs); run++) await sender();
D.exit(0);
