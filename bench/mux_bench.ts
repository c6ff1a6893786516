/**
 * Throughput of the TLS/TCP multiplexer in one process: a {@linkcode MuxSession} pair over one real
 * loopback TCP (or TLS) connection, N streams moving bytes one way for a fixed time.
 *
 * ```sh
 * deno run -A bench/mux_bench.ts --transport tls --streams 8 --seconds 5 --mode forward
 * bun bench/mux_bench.ts --transport tcp --streams 1
 * ```
 *
 * Modes:
 * - `raw`: each stream is driven directly through its native I/O (pull: a read/write loop on a
 *   reused 64 KiB buffer; push: data/drain callbacks), or its web streams when it offers none;
 * - `forward` (default): the tunnel's real path, `TCP -> forward() -> stream => session =>
 *   stream -> forward() -> TCP`, with a loopback source and sink at the ends.
 *
 * Directions: `s2c` (server session writes, client reads: the public client uploading), `c2s`.
 * Prints Gbit/s for the direction, the number of runs given by `--runs` (median last).
 * @module
 */
import { parseArgs } from "node:util";
import { forward } from "../forward/engine.ts";
import { nativeIO } from "../protocols/_native_io.ts";
import { TcpProtocol } from "../protocols/tcp.ts";
import { TlsProtocol } from "../protocols/tls.ts";
import type { Conn, Protocol } from "../protocols/types.ts";
import { MuxSession, type TunnelStream } from "../protocols/tunnel/mux.ts";
import { testCerts } from "../tests/_util/certs.ts";

const { values } = parseArgs({
  args: "Deno" in globalThis
    ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args
    : (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2),
  options: {
    transport: { type: "string", default: "tls" },
    streams: { type: "string", default: "1" },
    seconds: { type: "string", default: "4" },
    mode: { type: "string", default: "forward" },
    direction: { type: "string", default: "s2c" },
    runs: { type: "string", default: "1" },
  },
});
const transport = values.transport as "tls" | "tcp";
const streams = Number(values.streams);
const seconds = Number(values.seconds);
const mode = values.mode as "raw" | "forward";
const direction = values.direction as "s2c" | "c2s";
const runs = Number(values.runs);
const CHUNK = 64 * 1024;
/** The forward() paths seen (sending side/receiving side). */
const paths = new Set<string>();

async function protocolPair(): Promise<{ listen: Protocol; dial: Protocol }> {
  if (transport === "tcp") return { listen: new TcpProtocol(), dial: new TcpProtocol() };
  const certs = await testCerts();
  return {
    listen: new TlsProtocol({ server: { cert: await read(certs.fullchainFile), key: certs.keyPem } }),
    dial: new TlsProtocol({ client: { ca: certs.caPem, serverName: "localhost" } }),
  };
}

async function read(path: string): Promise<string> {
  const { readFile } = await import("node:fs/promises");
  return await readFile(path, "utf8");
}

async function connPair(listen: Protocol, dial: Protocol): Promise<[Conn, Conn]> {
  const listener = await listen.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    for await (const incoming of listener) return await incoming.handshake({ signal: AbortSignal.timeout(10_000) });
    throw new Error("listener ended");
  })();
  const dialed = await dial.dial({ hostname: "127.0.0.1", port: listener.addr.port });
  const result: [Conn, Conn] = [dialed, await accepted];
  listener.close();
  return result;
}

/** Writes `CHUNK`s into `conn` until `deadline`, then half-closes. Resolves to the bytes written. */
async function source(conn: Conn, deadline: number): Promise<number> {
  const chunk = new Uint8Array(CHUNK).fill(7);
  const io = nativeIO(conn);
  let sent = 0;
  if (io?.kind === "pull") {
    while (performance.now() < deadline) sent += await io.write(chunk);
    await io.closeWrite();
    return sent;
  }
  if (io?.kind === "push") {
    let drained = Promise.withResolvers<void>();
    io.attach({ data() {}, drain: () => drained.resolve(), end() {}, close: () => drained.resolve() });
    while (performance.now() < deadline) {
      for (let off = 0; off < CHUNK;) {
        const n = io.write(off === 0 ? chunk : chunk.subarray(off));
        if (n < 0) return sent;
        off += n;
        sent += n;
        if (off < CHUNK) {
          await drained.promise;
          drained = Promise.withResolvers<void>();
        }
      }
    }
    io.end();
    return sent;
  }
  const writer = conn.writable.getWriter();
  while (performance.now() < deadline) {
    await writer.write(chunk.slice());
    sent += CHUNK;
  }
  await writer.close();
  return sent;
}

/** Reads `conn` to its end. Resolves to the bytes read. */
async function sink(conn: Conn): Promise<number> {
  const io = nativeIO(conn);
  let received = 0;
  if (io?.kind === "pull") await io.closeWrite(); // the sink sends nothing: let the other direction end
  else if (io?.kind === "push") io.end();
  else await conn.writable.close();
  if (io?.kind === "pull") {
    const buffer = new Uint8Array(CHUNK);
    for (let n = await io.read(buffer); n !== null; n = await io.read(buffer)) received += n;
    return received;
  }
  if (io?.kind === "push") {
    const ended = Promise.withResolvers<number>();
    io.attach({
      data: (chunk) => void (received += chunk.byteLength),
      drain() {},
      end: () => ended.resolve(received),
      close: () => ended.resolve(received),
    });
    io.resume();
    return await ended.promise;
  }
  for await (const chunk of conn.readable) received += chunk.byteLength;
  return received;
}

async function oneRun(listen: Protocol, dial: Protocol): Promise<number> {
  const [a, b] = await connPair(listen, dial);
  const server = new MuxSession(a, { role: "server", protocol: transport });
  const client = new MuxSession(b, { role: "client", protocol: transport });
  const pairs: [TunnelStream, TunnelStream][] = [];
  const accepted = client.accept();
  for (let i = 0; i < streams; i++) {
    const opened = await server.open(new Uint8Array([1]));
    const next = await accepted.next();
    if (next.done) throw new Error("client session ended");
    pairs.push([opened, next.value.conn]);
  }
  const tcp = new TcpProtocol();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const work = pairs.map(async ([serverSide, clientSide]) => {
    const [from, to] = direction === "s2c" ? [serverSide, clientSide] : [clientSide, serverSide];
    if (mode === "raw") {
      const [, received] = await Promise.all([source(from, deadline), sink(to)]);
      from.close();
      to.close();
      return received;
    }
    const [srcA, srcB] = await connPair(tcp, tcp);
    const [dstA, dstB] = await connPair(tcp, tcp);
    const [, up, down, received] = await Promise.all([
      source(srcA, deadline),
      forward(srcB, from),
      forward(to, dstA),
      sink(dstB),
    ]);
    paths.add(`${up.path}/${down.path}`);
    srcA.close();
    dstB.close();
    return received;
  });
  const total = (await Promise.all(work)).reduce((x, y) => x + y, 0);
  const elapsed = (performance.now() - started) / 1000;
  server.close();
  client.close();
  await Promise.all([server.closed, client.closed]);
  return total * 8 / elapsed / 1e9;
}

const runtime = "Bun" in globalThis ? "bun" : "deno";
const { listen, dial } = await protocolPair();
const results: number[] = [];
for (let i = 0; i < runs; i++) results.push(await oneRun(listen, dial));
const sorted = [...results].sort((x, y) => x - y);
const median = sorted[Math.floor((sorted.length - 1) / 2)];
// deno-lint-ignore no-console
console.log(
  `${runtime} ${transport} ${mode} ${direction} streams=${streams}: ${
    results.map((r) => r.toFixed(2)).join(" ")
  } median ${median.toFixed(2)} Gbit/s${paths.size ? ` (${[...paths].join(", ")})` : ""}`,
);
