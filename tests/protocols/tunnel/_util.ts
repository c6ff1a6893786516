/**
 * Fixtures for the tunnel wire-layer tests: loopback TCP conn pairs, in-memory conn pairs, mux
 * session pairs, and byte helpers.
 * @module
 */
import { Buffer } from "node:buffer";
import { netAddr } from "../../../protocols/address.ts";
import { NetError } from "../../../protocols/errors.ts";
import { TcpProtocol } from "../../../protocols/tcp.ts";
import type { Conn, NetAddr } from "../../../protocols/types.ts";
import { MuxSession, type MuxSessionOptions, type TunnelStream } from "../../../protocols/tunnel/mux.ts";

const tcp = new TcpProtocol();

/** Two ends of one loopback TCP connection: `[dialed, accepted]`. */
export async function tcpPair(): Promise<[Conn, Conn]> {
  await using listener = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    for await (const incoming of listener) return await incoming.handshake();
    throw new Error("listener ended");
  })();
  const dialed = await tcp.dial({ hostname: "127.0.0.1", port: listener.addr.port });
  return [dialed, await accepted];
}

/** A mux session pair over loopback TCP. */
export interface MuxPair extends AsyncDisposable {
  server: MuxSession;
  client: MuxSession;
}

/** Starts a server and a client session over one loopback TCP connection. */
export async function muxPair(options: Omit<MuxSessionOptions, "role"> = {}): Promise<MuxPair> {
  const [a, b] = await tcpPair();
  const server = new MuxSession(a, { ...options, role: "server", protocol: "tcp" });
  const client = new MuxSession(b, { ...options, role: "client", protocol: "tcp" });
  return {
    server,
    client,
    async [Symbol.asyncDispose]() {
      server.close();
      client.close();
      await Promise.all([server.closed, client.closed]);
    },
  };
}

/** Opens a stream on `pair.server` and takes it from `pair.client`: `[serverSide, clientSide, header]`. */
export async function openPair(
  pair: MuxPair,
  header: Uint8Array = new Uint8Array([1, 2, 3]),
): Promise<[TunnelStream, TunnelStream, Uint8Array]> {
  const opened = await pair.server.open(header);
  const iterator = pair.client.accept();
  const next = await iterator.next();
  if (next.done) throw new Error("client session ended");
  await iterator.return?.();
  return [opened, next.value.conn, next.value.header];
}

const ADDR: NetAddr = netAddr("127.0.0.1", 0);

/**
 * An in-memory conn whose peer is driven by the test: `push(bytes)` delivers bytes to the conn's
 * readable, `end()` ends it, and everything the conn writes is counted (and kept if asked).
 */
export class ScriptedConn implements Conn {
  readonly localAddr: NetAddr = ADDR;
  readonly remoteAddr: NetAddr = ADDR;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  written = 0;
  writes: Uint8Array[] = [];
  #keep: boolean;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #isClosed = false;
  #closed = Promise.withResolvers<void>();

  constructor(options: { keepWrites?: boolean } = {}) {
    this.#keep = options.keepWrites ?? false;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
    });
    this.writable = new WritableStream<Uint8Array>({
      write: (chunk) => {
        if (this.#isClosed) {
          throw new NetError("ECLOSED", "Cannot write: closed", { op: "write", protocol: "tcp" });
        }
        this.written += chunk.byteLength;
        if (this.#keep) this.writes.push(chunk.slice());
      },
    });
  }

  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Delivers bytes to the reader. */
  push(bytes: Uint8Array): void {
    if (!this.#isClosed) this.#controller.enqueue(bytes);
  }

  /** Ends the readable (the peer closed). */
  end(): void {
    if (this.#isClosed) return;
    try {
      this.#controller.close();
    } catch { /* already closed */ }
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#controller.close();
    } catch { /* already closed */ }
    this.#closed.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Reads a readable to the end and checks it equals `expected`, chunk by chunk (no big copies). */
export async function expectBytes(readable: ReadableStream<Uint8Array>, expected: Uint8Array): Promise<void> {
  let at = 0;
  for await (const chunk of readable) {
    if (at + chunk.byteLength > expected.byteLength) {
      throw new Error(`received ${at + chunk.byteLength} bytes or more, expected ${expected.byteLength}`);
    }
    const want = Buffer.from(expected.buffer, expected.byteOffset + at, chunk.byteLength);
    if (!want.equals(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
      throw new Error(`bytes differ in the chunk at offset ${at}`);
    }
    at += chunk.byteLength;
  }
  if (at !== expected.byteLength) throw new Error(`received ${at} bytes, expected ${expected.byteLength}`);
}

/** Writes `data` in `chunkBytes` pieces, then half-closes. */
export async function writeAll(writable: WritableStream<Uint8Array>, data: Uint8Array, chunkBytes = 64 * 1024) {
  const writer = writable.getWriter();
  for (let at = 0; at < data.byteLength; at += chunkBytes) {
    await writer.write(data.subarray(at, Math.min(at + chunkBytes, data.byteLength)));
  }
  await writer.close();
}

/** Reads everything from a readable into one array. */
export async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(readable).arrayBuffer());
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every few milliseconds until it is true, or throws after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** A seeded PRNG (mulberry32) for reproducible fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
