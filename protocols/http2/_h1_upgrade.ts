/**
 * Internal: a raw HTTP/1.1 Upgrade request to the target over `node:net`. It sends the head, reads
 * the response head (bounded), and hands over the socket with any bytes that followed the head.
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import type net from "node:net";
import { netAddr } from "../address.ts";
import { NetError } from "../errors.ts";
import type { DialAddr } from "../types.ts";
import { dialTcp } from "./_dial.ts";
import { timeoutError, toNetError } from "./_errors.ts";
import type { HeaderMap } from "./_headers.ts";

/** Largest response head accepted from the target. */
export const MAX_UPGRADE_HEAD_BYTES = 64 * 1024;

/** The target's answer to an Upgrade request. */
export interface UpgradeReply {
  /** The connection, paused; after a 101 it carries the upgraded protocol. */
  readonly socket: net.Socket;
  readonly status: number;
  /** Response fields, lower-case names. */
  readonly headers: HeaderMap;
  /** The response head exactly as received, through the blank line. */
  readonly head: Uint8Array;
  /** Bytes that arrived after the head. */
  readonly rest: Uint8Array;
}

/** Options for {@linkcode requestUpgrade}. */
export interface UpgradeOptions {
  readonly connectTimeoutMs: number;
  /** 0 waits forever. */
  readonly responseTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Message prefix, e.g. `Cannot upgrade "GET /ws" at "127.0.0.1:80"`. */
  readonly what: string;
}

/** A fresh `Sec-WebSocket-Key`. */
export function webSocketKey(): string {
  return randomBytes(16).toString("base64");
}

/** The `Sec-WebSocket-Accept` a server must answer to `key` (RFC 6455 §4.2.2). */
export function webSocketAccept(key: string): string {
  return createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
}

function parseHead(text: string): { status: number; headers: HeaderMap } | undefined {
  const [statusLine, ...lines] = text.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
  if (!match) return undefined;
  const headers: HeaderMap = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers[name];
    headers[name] = previous === undefined ? value : [previous, value].flat();
  }
  return { status: Number(match[1]), headers };
}

/**
 * Dials `target`, sends `requestHead` and resolves once the response head is in.
 * @throws {NetError} On dial failure, timeout, a closed connection or a malformed/oversized head.
 */
export async function requestUpgrade(
  target: DialAddr,
  requestHead: string,
  options: UpgradeOptions,
): Promise<UpgradeReply> {
  const { what, signal, responseTimeoutMs } = options;
  const socket = await dialTcp(target, { timeoutMs: options.connectTimeoutMs, signal, what });
  const remote = netAddr(target.hostname, target.port);
  return await new Promise<UpgradeReply>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const finish = (error?: unknown, reply?: UpgradeReply) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onEnd);
      if (reply) return resolve(reply);
      socket.on("error", () => {});
      socket.destroy();
      reject(error);
    };
    const malformed = (why: string) =>
      new NetError("EUNKNOWN", `${what}: ${why}`, { op: "read", protocol: "http2", remoteAddr: remote });
    const onData = (chunk: Uint8Array) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) {
        if (received.byteLength > MAX_UPGRADE_HEAD_BYTES) finish(malformed("the response head is too large"));
        return;
      }
      const parsed = parseHead(received.subarray(0, end).toString("latin1"));
      if (!parsed) return finish(malformed("the response is not HTTP/1.x"));
      socket.pause();
      finish(undefined, {
        socket,
        ...parsed,
        head: received.subarray(0, end + 4),
        rest: received.subarray(end + 4),
      });
    };
    const onError = (error: Error) => finish(toNetError(error, what, "read", remote));
    const onEnd = () =>
      finish(toNetError(Object.assign(new Error("closed"), { code: "ECONNRESET" }), what, "read", remote));
    const onAbort = () => finish(signal.reason);
    const timer = responseTimeoutMs > 0
      ? setTimeout(() => finish(timeoutError(what, responseTimeoutMs, "read", remote)), responseTimeoutMs)
      : undefined;
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("end", onEnd);
    socket.write(requestHead);
  });
}
