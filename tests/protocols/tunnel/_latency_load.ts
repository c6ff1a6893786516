/**
 * The "latency under bulk" workload, shared by tunnel_latency_test.ts and bench/tunnel_latency.ts:
 * a target service on loopback (`node:net`, independent of our adapters) and a load generator
 * that talks to it through a tunnel's public port. One connection moves a bulk transfer while
 * another does small request/response round trips; every byte is checked.
 * @module
 */
import { Buffer } from "node:buffer";
import type net from "node:net";
import { connectClient, randomBytes, startServer, type TestServer } from "../../_util/echo_server.ts";

/** First byte of a connection to {@linkcode startLoadTarget}: echo everything back. */
const ECHO = 0x45; // "E"
/** First byte: the service sends the bulk pattern (length in the next 8 bytes), then ends. */
const DOWNLOAD = 0x44; // "D"
/** First byte: the service reads the bulk pattern to the end, checking it, then answers "ok N" or "bad N". */
const UPLOAD = 0x55; // "U"
/** The bulk pattern repeats this block. */
const PATTERN = randomBytes(64 * 1024, 7);
/** Bytes of one request (and of its echo). */
export const REQUEST_BYTES = 64;

/** Which way the bulk transfer goes: `down` = service to public client, `up` = public client to service. */
export type BulkDirection = "down" | "up";

/**
 * A service for the workload: by the first byte of a connection, an echo, a bulk source, or a
 * bulk sink that checks the pattern.
 */
export function startLoadTarget(): Promise<TestServer> {
  return startServer((socket) => {
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const kind = head[0];
      if (kind === DOWNLOAD && head.byteLength < 9) return;
      socket.off("data", onHead);
      if (kind === ECHO) {
        if (head.byteLength > 1) socket.write(head.subarray(1));
        socket.pipe(socket);
      } else if (kind === DOWNLOAD) {
        void sendPattern(socket, Number(head.readBigUInt64BE(1)));
      } else if (kind === UPLOAD) {
        const checker = new PatternChecker();
        checker.add(head.subarray(1));
        socket.on("data", (data: Uint8Array) => checker.add(data));
        socket.on("end", () => socket.end(`${checker.ok ? "ok" : "bad"} ${checker.bytes}`));
      } else {
        socket.destroy();
      }
    };
    socket.on("data", onHead);
  });
}

/** Writes `bytes` of the pattern with backpressure (counting what the socket took in `moved`), then ends. */
async function sendPattern(socket: net.Socket, bytes: number, moved?: { bytes: number }): Promise<void> {
  let closed = false;
  let drained: (() => void) | undefined;
  const wake = () => {
    const resolve = drained;
    drained = undefined;
    resolve?.();
  };
  socket.on("drain", wake);
  socket.once("close", () => {
    closed = true;
    wake();
  });
  let sent = 0;
  while (sent < bytes && !closed) {
    const n = Math.min(PATTERN.byteLength, bytes - sent);
    sent += n;
    if (moved) moved.bytes = sent;
    if (!socket.write(n === PATTERN.byteLength ? PATTERN : PATTERN.subarray(0, n))) {
      await new Promise<void>((resolve) => drained = resolve);
    }
  }
  socket.off("drain", wake);
  if (!closed) socket.end();
}

/** Checks a byte stream against the repeating pattern, chunk by chunk. */
class PatternChecker {
  bytes = 0;
  ok = true;

  add(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.byteLength && this.ok) {
      const at = this.bytes % PATTERN.byteLength;
      const n = Math.min(chunk.byteLength - off, PATTERN.byteLength - at);
      const got = Buffer.from(chunk.buffer, chunk.byteOffset + off, n);
      if (!got.equals(Buffer.from(PATTERN.buffer, PATTERN.byteOffset + at, n))) this.ok = false;
      off += n;
      this.bytes += n;
    }
    if (!this.ok) this.bytes += chunk.byteLength - off;
  }
}

/** What {@linkcode runLatencyUnderLoad} measured. */
export interface LatencyUnderLoad {
  /** Round-trip times (ms) on the idle tunnel, before the bulk transfer and after it. */
  idleMs: number[];
  /** Round-trip times (ms) of the round trips completed while the bulk transfer ran. */
  loadedMs: number[];
  /**
   * Bulk bytes moved when the first `turns` round trips under load had completed (`undefined` if
   * the bulk reports no progress, or ended first).
   */
  bulkBytesAtTurns: number | undefined;
  /** Bulk bytes that arrived intact (the whole transfer when it succeeded). */
  bulkBytes: number;
  /** True if every bulk byte arrived, in order and unchanged. */
  bulkIntact: boolean;
  /** How long the bulk transfer took (ms). */
  bulkMs: number;
  /** True if every reply was the byte-exact echo of its request. */
  repliesExact: boolean;
}

/** How a bulk transfer ended. */
export interface BulkResult {
  /** Bytes that arrived intact. */
  bytes: number;
  /** True if every byte arrived, in order and unchanged. */
  intact: boolean;
}

/** A bulk transfer under way. */
export interface BulkRun {
  /** Resolves when it ended. */
  done: Promise<BulkResult>;
  /** Bytes moved so far, if known. */
  progress?: () => number;
}

/** Options for {@linkcode runLatencyUnderLoad}. */
export interface LatencyUnderLoadOptions {
  /** The tunnel's public port for the round trips, forwarding to a {@linkcode startLoadTarget}. */
  port: number;
  /** Starts the bulk transfer (for example {@linkcode bulkTransfer}), after the idle round trips. */
  bulk: () => BulkRun;
  /** Round trips measured on the idle tunnel before the bulk (after a tenth as many warm-up ones), and again after it. */
  idleRoundTrips: number;
  /** Round trips allowed during the bulk (the loop stops there or when the bulk ends). */
  maxLoadedRoundTrips: number;
  /** See {@linkcode LatencyUnderLoad.bulkBytesAtTurns}. @default {20} */
  turns?: number;
}

/** With progress known, sampling under load starts once this much has moved. */
const FLOWING_BYTES = 1024 * 1024;

/**
 * Measures request/response round trips on one tunneled connection, idle, then while a bulk
 * transfer runs on another tunneled connection, then idle again. Bounded: the loaded loop ends
 * with the bulk or after `maxLoadedRoundTrips`.
 */
export async function runLatencyUnderLoad(options: LatencyUnderLoadOptions): Promise<LatencyUnderLoad> {
  const { port, idleRoundTrips, maxLoadedRoundTrips, turns = 20 } = options;
  const interactive = await Interactive.connect(port);
  try {
    for (let i = 0; i < Math.ceil(idleRoundTrips / 10); i++) await interactive.roundTrip();
    const idleMs: number[] = [];
    for (let i = 0; i < idleRoundTrips; i++) idleMs.push(await interactive.roundTrip());
    const started = performance.now();
    let bulkDone = false;
    let bulkMs = 0;
    const run = options.bulk();
    const bulk = run.done.finally(() => {
      bulkDone = true;
      bulkMs = performance.now() - started;
    });
    // Sample once the bulk flows (its connection through the tunnel is set up and data moves).
    if (run.progress) {
      while (!bulkDone && run.progress() < FLOWING_BYTES) await new Promise((resolve) => setTimeout(resolve, 1));
    } else {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const loadedMs: number[] = [];
    let bulkBytesAtTurns: number | undefined;
    while (!bulkDone && loadedMs.length < maxLoadedRoundTrips) {
      const ms = await interactive.roundTrip();
      if (bulkDone) break;
      loadedMs.push(ms);
      if (loadedMs.length === turns) bulkBytesAtTurns = run.progress?.();
    }
    const result = await bulk;
    // Idle again: the idle figure pools both, so a slower phase of the machine weighs on both sides.
    for (let i = 0; i < idleRoundTrips; i++) idleMs.push(await interactive.roundTrip());
    return {
      idleMs,
      loadedMs,
      bulkBytesAtTurns,
      bulkBytes: result.bytes,
      bulkIntact: result.intact,
      bulkMs,
      repliesExact: interactive.exact,
    };
  } finally {
    interactive.close();
  }
}

/** The interactive connection: one request of {@linkcode REQUEST_BYTES} at a time, each reply checked. */
class Interactive {
  #socket: net.Socket;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #waiter: (() => void) | undefined;
  #seq = 0;
  #ended = false;
  exact = true;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.byteLength;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  static async connect(port: number): Promise<Interactive> {
    const interactive = new Interactive(await connectClient(port));
    interactive.#socket.write(new Uint8Array([ECHO]));
    return interactive;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** One round trip; returns its time in ms. Throws if the connection ends first. */
  async roundTrip(): Promise<number> {
    const request = Buffer.alloc(REQUEST_BYTES, this.#seq++ & 0xff);
    request.writeUInt32BE(this.#seq, 0);
    const started = performance.now();
    this.#socket.write(request);
    while (this.#pendingBytes < REQUEST_BYTES) {
      if (this.#ended) throw new Error(`the interactive connection ended after ${this.#seq - 1} round trips`);
      await new Promise<void>((resolve) => this.#waiter = resolve);
    }
    const ms = performance.now() - started;
    const reply = Buffer.concat(this.#pending);
    if (!reply.subarray(0, REQUEST_BYTES).equals(request)) this.exact = false;
    this.#pending = reply.byteLength > REQUEST_BYTES ? [reply.subarray(REQUEST_BYTES)] : [];
    this.#pendingBytes = reply.byteLength - REQUEST_BYTES;
    return ms;
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Moves `bytes` of the pattern through a tunnel to a {@linkcode startLoadTarget} at `port`, `direction`. */
export function bulkTransfer(port: number, bytes: number, direction: BulkDirection): BulkRun {
  const moved = { bytes: 0 };
  const done = direction === "down" ? download(port, bytes, moved) : upload(port, bytes, moved);
  return { done, progress: () => moved.bytes };
}

/** Downloads `bytes` of the pattern through the tunnel, checking them. */
async function download(port: number, bytes: number, moved: { bytes: number }): Promise<BulkResult> {
  const socket = await connectClient(port);
  const checker = new PatternChecker();
  const ended = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Uint8Array) => {
      checker.add(chunk);
      moved.bytes = checker.bytes;
    });
    socket.once("end", () => resolve());
    socket.once("close", () => resolve());
    socket.once("error", () => resolve());
  });
  const request = Buffer.alloc(9);
  request[0] = DOWNLOAD;
  request.writeBigUInt64BE(BigInt(bytes), 1);
  socket.end(request);
  await ended;
  socket.destroy();
  return { bytes: checker.ok ? checker.bytes : 0, intact: checker.ok && checker.bytes === bytes };
}

/** Uploads `bytes` of the pattern through the tunnel; the service checks them and answers. */
async function upload(port: number, bytes: number, moved: { bytes: number }): Promise<BulkResult> {
  const socket = await connectClient(port);
  const chunks: Uint8Array[] = [];
  const ended = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.once("end", () => resolve());
    socket.once("close", () => resolve());
    socket.once("error", () => resolve());
  });
  socket.write(new Uint8Array([UPLOAD]));
  await sendPattern(socket, bytes, moved);
  await ended;
  socket.destroy();
  const answer = Buffer.concat(chunks).toString();
  return { bytes: answer.startsWith("ok ") ? Number(answer.slice(3)) : 0, intact: answer === `ok ${bytes}` };
}

/** The `q` quantile (0..1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
