/**
 * Internal: maps `node:` errors to {@linkcode NetError}s and writes the short gateway responses
 * (400, 403, 502, 504) the proxy sends when it cannot reach or may not reach a target.
 * @module
 */
import { NET_ERROR_TEXT, NetError, type NetErrorCode, type NetErrorOptions } from "../errors.ts";
import type { NetAddr } from "../types.ts";

const NODE_CODES: Readonly<Record<string, NetErrorCode>> = {
  ECONNREFUSED: "ECONNREFUSED",
  ECONNRESET: "ECONNRESET",
  ECONNABORTED: "ECONNRESET",
  ERR_STREAM_PREMATURE_CLOSE: "ECONNRESET",
  ERR_HTTP2_STREAM_ERROR: "ECONNRESET",
  ERR_HTTP2_STREAM_CANCEL: "ECONNRESET",
  ERR_HTTP2_SESSION_ERROR: "ECONNRESET",
  ERR_HTTP2_GOAWAY_SESSION: "ECLOSED",
  ERR_HTTP2_INVALID_SESSION: "ECLOSED",
  ERR_STREAM_DESTROYED: "ECLOSED",
  ETIMEDOUT: "ETIMEDOUT",
  ENOTFOUND: "ENOTFOUND",
  EAI_AGAIN: "ENOTFOUND",
  EAI_NONAME: "ENOTFOUND",
  EPIPE: "EPIPE",
  EHOSTUNREACH: "ECONNREFUSED",
  ENETUNREACH: "ECONNREFUSED",
  EADDRINUSE: "EADDRINUSE",
  EADDRNOTAVAIL: "EADDRNOTAVAIL",
  EACCES: "EACCES",
};

/** The stable code for an error thrown by `node:net`, `node:http` or `node:http2`. */
export function netErrorCode(error: unknown): NetErrorCode {
  if (error instanceof NetError) return error.code;
  if (error instanceof Error && error.name === "TimeoutError") return "ETIMEDOUT";
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? NODE_CODES[code] ?? "EUNKNOWN" : "EUNKNOWN";
}

/**
 * Wraps `error` in a {@linkcode NetError} whose message is `${what}: ${reason}` (the reason is the
 * code's text), keeping the original as `cause`. A NetError passes through unchanged.
 */
export function toNetError(
  error: unknown,
  what: string,
  op: NetErrorOptions["op"],
  remoteAddr?: NetAddr,
): NetError {
  if (error instanceof NetError) return error;
  const code = netErrorCode(error);
  const detail = code === "EUNKNOWN" && error instanceof Error ? `${NET_ERROR_TEXT[code]} (${error.message})` : "";
  return new NetError(code, `${what}: ${detail || NET_ERROR_TEXT[code]}`, {
    op,
    protocol: "http2",
    remoteAddr,
    cause: error,
  });
}

/** A timeout as a NetError (`ETIMEDOUT`). */
export function timeoutError(
  what: string,
  timeoutMs: number,
  op: NetErrorOptions["op"],
  remoteAddr?: NetAddr,
): NetError {
  return new NetError("ETIMEDOUT", `${what}: no answer within ${timeoutMs} ms`, { op, protocol: "http2", remoteAddr });
}

/** HTTP status and short text body the client gets for a failed upstream exchange. */
export interface GatewayReply {
  readonly status: 400 | 403 | 502 | 504;
  readonly body: string;
}

/** 504 for a timeout, 502 for everything else. The body names the reason, never internal addresses. */
export function gatewayReply(error: NetError): GatewayReply {
  if (error.code === "ETIMEDOUT") {
    return { status: 504, body: "504 Gateway Timeout: the upstream did not answer in time\n" };
  }
  return { status: 502, body: `502 Bad Gateway: the upstream failed (${NET_ERROR_TEXT[error.code]})\n` };
}

/** The raw HTTP/1.1 bytes of a complete reply that closes the connection (for upgraded sockets). */
export function rawReply(reply: GatewayReply): string {
  const reason = { 400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 504: "Gateway Timeout" }[reply.status];
  return `HTTP/1.1 ${reply.status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(reply.body).byteLength}\r\nconnection: close\r\n\r\n${reply.body}`;
}
