/**
 * Internal: opening a TCP connection with `node:net` under a deadline and an abort signal, and the
 * bidirectional pipe that moves tunnel bytes.
 * @module
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import { formatAddr, netAddr } from "../address.ts";
import type { DialAddr } from "../types.ts";
import { timeoutError, toNetError } from "./_errors.ts";

/** Options for {@linkcode dialTcp}. */
export interface DialTcpOptions {
  /** Fails with ETIMEDOUT after this long. */
  readonly timeoutMs: number;
  /** Aborting destroys the socket and rejects with the reason. */
  readonly signal?: AbortSignal;
  /** Names the purpose in error messages, e.g. `Cannot open a tunnel to "h:p"`. */
  readonly what: string;
}

/**
 * Connects to `addr` with half-close enabled and Nagle off.
 * @throws {NetError} ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ...; or the signal's reason.
 */
export function dialTcp(addr: DialAddr, options: DialTcpOptions): Promise<net.Socket> {
  const { timeoutMs, signal, what } = options;
  signal?.throwIfAborted();
  const remote = netAddr(addr.hostname, addr.port);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: addr.hostname, port: addr.port, allowHalfOpen: true, noDelay: true });
    const finish = (error?: unknown) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.off("connect", onConnect);
      socket.off("error", onError);
      if (error === undefined) return resolve(socket);
      socket.on("error", () => {});
      socket.destroy();
      reject(error);
    };
    const onConnect = () => finish();
    const onError = (error: Error) => finish(toNetError(error, what, "dial", remote));
    const onAbort = () => finish(signal!.reason);
    const timer = setTimeout(() => finish(timeoutError(what, timeoutMs, "dial", remote)), timeoutMs);
    socket.once("connect", onConnect);
    socket.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Byte counters a bridge updates. */
export interface BridgeCounters {
  /** Bytes from the client side. */
  bytesIn: number;
  /** Bytes to the client side. */
  bytesOut: number;
}

function cleanlyDone(stream: Duplex): boolean {
  return stream.readableEnded && stream.writableFinished;
}

/**
 * Pipes `client` and `upstream` into each other with backpressure and half-close (the end of one
 * side's bytes ends the other side's writes; the other direction keeps flowing). An error or an
 * abrupt close on one side destroys the other; a clean close ends it once its writes are flushed.
 * Resolves once both sides are closed.
 */
export function bridge(client: Duplex, upstream: Duplex, counters: BridgeCounters): Promise<void> {
  return new Promise((resolve) => {
    if (client.destroyed || upstream.destroyed) {
      // One side went away before the bridge started: nothing can flow.
      client.destroy();
      upstream.destroy();
      return resolve();
    }
    let open = 2;
    const watch = (self: Duplex, other: Duplex) => {
      self.on("error", () => other.destroy());
      self.once("close", () => {
        // Once one side is closed, what the other still sends has nowhere to go: stop it. A clean
        // close first lets the other side flush what it is still writing (the end of our bytes).
        if (!cleanlyDone(self) || other.writableFinished) other.destroy();
        else other.once("finish", () => other.destroy());
        if (--open === 0) resolve();
      });
    };
    client.on("data", (chunk: Uint8Array) => counters.bytesIn += chunk.byteLength);
    upstream.on("data", (chunk: Uint8Array) => counters.bytesOut += chunk.byteLength);
    watch(client, upstream);
    watch(upstream, client);
    client.pipe(upstream);
    upstream.pipe(client);
  });
}

/** `Cannot ... "host:port"` text for a target. */
export function quoteAddr(addr: DialAddr): string {
  return `"${formatAddr(addr)}"`;
}
