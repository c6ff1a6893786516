/**
 * Internal: what the HTTP/3 connection, request and fetch handlers share with
 * {@linkcode Http3Proxy}, and the helpers both servers (our own framing over QUIC, and a runtime's
 * HTTP/3 server) use to reach the upstream.
 * @module
 */
import type { Writable } from "node:stream";
import { NetError } from "../errors.ts";
import { toNetError } from "../http2/_errors.ts";
import { type HeaderMap, requestHead, type UpstreamHead } from "../http2/_headers.ts";
import type { Upstream } from "../http2/_upstream.ts";
import type { NetAddr } from "../types.ts";
import type { ResolvedHttp3ProxyOptions } from "./_resolve.ts";

/** Live counters; {@linkcode Http3Proxy.stats} copies them. */
export interface Http3Counters {
  connections: number;
  activeConnections: number;
  requests: number;
  activeRequests: number;
  bytesIn: number;
  bytesOut: number;
  upstreamErrors: number;
  rejectedStreams: number;
  connectionErrors: number;
}

/** The proxy as its handlers see it. */
export interface Http3Context {
  readonly options: ResolvedHttp3ProxyOptions;
  readonly counters: Http3Counters;
  readonly upstream: Upstream;
  /** True once a graceful close began. */
  readonly closing: boolean;
  /** Counts an upstream failure and tells the `onError` observer. */
  fail(error: NetError): void;
}

/** The upstream request head for an HTTP/3 request (`X-Forwarded-*` and `Forwarded` added, hop-by-hop fields dropped). */
export function upstreamHead(
  ctx: Http3Context,
  request: { method: string; path: string; authority: string | undefined; headers: Iterable<[string, string]> },
  remoteAddr: NetAddr | undefined,
): UpstreamHead {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of request.headers) {
    const previous = headers[name];
    headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  if (request.authority !== undefined) headers[":authority"] = request.authority;
  return requestHead({
    method: request.method,
    url: request.path,
    headers,
    clientIp: remoteAddr?.hostname,
    proto: "https",
    fallbackAuthority: ctx.options.targetText,
  });
}

/** Header pairs of a `node:` header map (repeated fields as separate pairs). */
export function headerPairs(headers: HeaderMap): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one]);
  }
  return pairs;
}

/** Writes to a `node:` stream, waiting for `drain` when its buffer is full; rejects when it fails or closes. */
export function writeNode(body: Writable, chunk: Uint8Array): Promise<void> {
  if (body.destroyed) return Promise.reject(new Error("the upstream request ended"));
  if (body.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      body.off("drain", onDrain);
      body.off("error", onError);
      body.off("close", onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = () => done();
    const onError = (error: unknown) => done(error);
    const onClose = () => done(new Error("the upstream request ended"));
    body.once("drain", onDrain);
    body.once("error", onError);
    body.once("close", onClose);
  });
}

/** The `Cannot proxy …` prefix of messages about one exchange. */
export function what(ctx: Http3Context, head: UpstreamHead | undefined, method: string): string {
  return `Cannot proxy "${head?.label ?? method}" to "${ctx.options.targetText}" over ${ctx.upstream.kind}`;
}

/** An exchange's failure as a NetError (counted and reported once by the caller). */
export function exchangeError(error: unknown, text: string): NetError {
  return error instanceof NetError ? error : toNetError(error, text, "read");
}

/** Awaits `promise` unless `signal` aborts first. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Arms the upstream deadline (`upstreamTimeoutMs` after the request body was sent): it aborts
 * `controller` with an ETIMEDOUT NetError. Returns the function that disarms it.
 */
export function armDeadline(ctx: Http3Context, text: string, controller: AbortController): () => void {
  const { upstreamTimeoutMs } = ctx.options;
  if (upstreamTimeoutMs <= 0) return () => {};
  const timer = setTimeout(() => {
    controller.abort(
      new NetError("ETIMEDOUT", `${text}: no answer within ${upstreamTimeoutMs} ms`, { op: "read", protocol: "http3" }),
    );
  }, upstreamTimeoutMs);
  return () => clearTimeout(timer);
}
