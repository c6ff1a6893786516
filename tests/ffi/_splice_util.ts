/**
 * Fixtures for the splice tests: a relay made of our TcpProtocol (accept, dial, then a function
 * that moves the pair), a patterned byte source and checker for large transfers, and fd counting.
 * @module
 */
import { Buffer } from "node:buffer";
import { readdirSync } from "node:fs";
import type net from "node:net";
import { TcpProtocol } from "../../protocols/tcp.ts";
import type { Listener, TcpConn } from "../../protocols/types.ts";
import { randomBytes } from "../_util/echo_server.ts";

/** The protocol the relays use. */
export const tcp: TcpProtocol = new TcpProtocol();

/** How one relayed pair went. */
export interface RelayRun {
  readonly a: TcpConn;
  readonly b: TcpConn;
  readonly result?: unknown;
  readonly error?: unknown;
}

/** A relay on 127.0.0.1: each accepted conn (a) is paired with a dial to the target (b). */
export interface Relay extends AsyncDisposable {
  readonly port: number;
  /** One per accepted connection, in accept order; settles when `move(a, b)` settled (never rejects). */
  readonly runs: Promise<RelayRun>[];
  /** Stops accepting, closes every conn, and waits for the runs. */
  close(): Promise<void>;
}

/** Starts a relay to `targetPort` that calls `move(a, b)` per pair and closes both conns after it settles. */
export async function startRelay(
  targetPort: number,
  move: (a: TcpConn, b: TcpConn) => Promise<unknown>,
): Promise<Relay> {
  const listener: Listener<TcpConn> = await tcp.listen({ hostname: "127.0.0.1", port: 0 });
  const runs: Promise<RelayRun>[] = [];
  const open = new Set<TcpConn>();
  const accepting = (async () => {
    for await (const incoming of listener) {
      runs.push((async () => {
        const a = await incoming.handshake({ timeoutMs: 10_000 });
        open.add(a);
        let b: TcpConn;
        try {
          b = await tcp.dial({ hostname: "127.0.0.1", port: targetPort }, { timeoutMs: 10_000 });
        } catch (error) {
          a.close();
          open.delete(a);
          throw error;
        }
        open.add(b);
        try {
          return { a, b, result: await move(a, b) };
        } catch (error) {
          return { a, b, error };
        } finally {
          a.close();
          b.close();
          open.delete(a);
          open.delete(b);
        }
      })());
    }
  })();
  const close = async () => {
    listener.close();
    await accepting;
    for (const conn of open) conn.close();
    await Promise.allSettled(runs);
  };
  return { port: listener.addr.port, runs, close, [Symbol.asyncDispose]: close };
}

/** Bytes that repeat with a period just above 1 MiB, so a lost, repeated or reordered chunk shows. */
export class Pattern {
  static readonly PERIOD = 1024 * 1024 + 7;
  readonly #doubled: Uint8Array;

  constructor(seed: number) {
    const block = randomBytes(Pattern.PERIOD, seed);
    this.#doubled = new Uint8Array(2 * Pattern.PERIOD);
    this.#doubled.set(block);
    this.#doubled.set(block, Pattern.PERIOD);
  }

  /** The `length` (≤ PERIOD) bytes at stream offset `offset` (a view: do not modify). */
  slice(offset: number, length: number): Uint8Array {
    if (length > Pattern.PERIOD) throw new RangeError(`Cannot slice ${length} bytes: at most ${Pattern.PERIOD}`);
    const start = offset % Pattern.PERIOD;
    return this.#doubled.subarray(start, start + length);
  }

  /** True when `chunk` equals the stream at `offset`. */
  matches(chunk: Uint8Array, offset: number): boolean {
    for (let done = 0; done < chunk.byteLength;) {
      const n = Math.min(Pattern.PERIOD, chunk.byteLength - done);
      const want = this.slice(offset + done, n);
      if (!Buffer.from(chunk.buffer, chunk.byteOffset + done, n).equals(want)) return false;
      done += n;
    }
    return true;
  }
}

/** Writes `total` bytes of `pattern` to a node:net socket (respecting backpressure), then half-closes. */
export async function sendPattern(socket: net.Socket, pattern: Pattern, total: number): Promise<void> {
  const chunk = 256 * 1024;
  for (let sent = 0; sent < total;) {
    const n = Math.min(chunk, total - sent);
    const ok = socket.write(pattern.slice(sent, n));
    sent += n;
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          socket.off("close", onClose);
          resolve();
        };
        const onClose = () => {
          socket.off("drain", onDrain);
          reject(new Error(`socket closed after ${sent} bytes`));
        };
        socket.once("drain", onDrain);
        socket.once("close", onClose);
      });
    }
  }
  socket.end();
}

/** What {@linkcode checkPattern} saw. */
export interface Checked {
  readonly received: number;
  readonly exact: boolean;
  readonly ended: boolean;
}

/** Reads a node:net socket until it ends (or closes) and checks every byte against `pattern`. */
export function checkPattern(socket: net.Socket, pattern: Pattern): Promise<Checked> {
  return new Promise((resolve) => {
    let received = 0;
    let exact = true;
    socket.on("data", (chunk: Uint8Array) => {
      if (exact && !pattern.matches(chunk, received)) exact = false;
      received += chunk.byteLength;
    });
    socket.once("end", () => resolve({ received, exact, ended: true }));
    socket.once("close", () => resolve({ received, exact, ended: false }));
  });
}

/** Open fds of this process. */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** A fresh counters object. */
export function counters(): { aToB: number; bToA: number; pauses: number } {
  return { aToB: 0, bToA: 0, pauses: 0 };
}

/** The pump options a fast path receives from forward() (the splice path reads only `counters`). */
export function pumpOptions(
  extra: { counters?: { aToB: number; bToA: number; pauses: number }; signal?: AbortSignal; idleTimeoutMs?: number } =
    {},
) {
  return {
    counters: extra.counters ?? counters(),
    bufferSize: 64 * 1024,
    highWatermark: 1024 * 1024,
    lowWatermark: 512 * 1024,
    reuseBuffers: true,
    signal: extra.signal,
    idleTimeoutMs: extra.idleTimeoutMs,
  };
}
