/**
 * Test fixtures built on `node:net` (independent of our adapters): an echo server, a server with
 * a custom handler, a closed port, and client helpers.
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";

/** A running fixture server. */
export interface TestServer extends AsyncDisposable {
  readonly port: number;
  readonly connections: number;
  close(): Promise<void>;
}

/** Starts a TCP server on 127.0.0.1 that runs `onConnection` for every socket. */
export async function startServer(
  onConnection: (socket: net.Socket) => void,
  host = "127.0.0.1",
  listenPort = 0,
): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return {
    port,
    get connections() {
      return connections;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** An echo server: writes back every byte, and half-closes when the client does. */
export function startEchoServer(host = "127.0.0.1"): Promise<TestServer> {
  return startServer((socket) => {
    socket.pipe(socket);
  }, host);
}

/** A loopback port with nothing listening on it. */
export async function closedLoopbackPort(): Promise<number> {
  const server = await startServer(() => {});
  const port = server.port;
  await server.close();
  return port;
}

/** Connects a `node:net` client to 127.0.0.1:`port`. */
export function connectClient(port: number, host = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen: true }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * Collects everything a socket sends until it ends (or closes). A reset also ends it: a proxy that
 * closes a client whose request it did not read makes the kernel send RST, which is a close.
 */
export function readAll(socket: net.Socket): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.once("end", () => resolve(concat(chunks)));
    socket.once("close", () => resolve(concat(chunks)));
    socket.once("error", (error: { code?: string }) => {
      if (error.code === "ECONNRESET") resolve(concat(chunks));
      else reject(error);
    });
  });
}

/** Concatenates byte chunks. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** Sends `payload` over a fresh connection, half-closes, and resolves to everything received. */
export async function roundTrip(port: number, payload: Uint8Array): Promise<Uint8Array> {
  const socket = await connectClient(port);
  const received = readAll(socket);
  socket.end(payload);
  const data = await received;
  socket.destroy();
  return data;
}

/** Deterministic pseudo-random bytes (xorshift32), fast enough for 64 MiB. */
export function randomBytes(size: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, Math.floor(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = i & 0xff;
  return out;
}

/** Byte-exact equality without building giant assertion messages. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
