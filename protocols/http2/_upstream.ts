/**
 * Internal: the upstream side of one proxied exchange, and the HTTP/1.1 implementation (a
 * `node:http` request on a keep-alive Agent). The h2c one is in `_upstream_h2c.ts`.
 * @module
 */
import http from "node:http";
import type { Readable, Writable } from "node:stream";
import { netAddr } from "../address.ts";
import type { DialAddr } from "../types.ts";
import { timeoutError, toNetError } from "./_errors.ts";
import type { AnyHeaders, HeaderMap, UpstreamHead } from "./_headers.ts";

/** The upstream's answer. */
export interface UpstreamResponse {
  readonly status: number;
  /** Fields as received (pseudo-headers and hop-by-hop ones still in). */
  readonly headers: AnyHeaders;
  /** The response body; `end` after the last byte, and trailers are known by then. */
  readonly body: Readable;
  /** The response trailers, once `body` ended. */
  trailers(): AnyHeaders | undefined;
}

/** One request in flight to the upstream. */
export interface UpstreamCall {
  /** The request body sink, with backpressure. */
  readonly body: Writable;
  /** Ends the request body, sending `trailers` when given. */
  finish(trailers: HeaderMap | undefined): void;
  /** Cancels the request (and the response) now. Idempotent. */
  abort(): void;
  /** Resolves with the response head; rejects with a NetError. Always handled, so never unhandled. */
  readonly response: Promise<UpstreamResponse>;
}

/** Where requests go. */
export interface Upstream {
  /** `"http1"` or `"h2c"`. */
  readonly kind: "http1" | "h2c";
  /**
   * Starts a request. Resolves once it can take body bytes.
   * @throws {NetError} If no connection could be made; or the signal's reason.
   */
  open(head: UpstreamHead, signal: AbortSignal): Promise<UpstreamCall>;
  /** Closes idle connections; with `force`, every connection. */
  close(force: boolean): void;
}

/** Settings both upstream kinds share. */
export interface UpstreamSettings {
  readonly target: DialAddr;
  readonly connectTimeoutMs: number;
  readonly maxSockets: number;
  readonly streamWindowBytes: number;
  readonly sessionWindowBytes: number | undefined;
}

/** Prevents an unhandled rejection while nobody awaits `promise` yet. */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** HTTP/1.1 to the target through one keep-alive pool. */
export class Http1Upstream implements Upstream {
  readonly kind = "http1" as const;
  readonly #settings: UpstreamSettings;
  readonly #agent: http.Agent;

  constructor(settings: UpstreamSettings) {
    this.#settings = settings;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: settings.maxSockets, scheduling: "lifo" });
  }

  open(head: UpstreamHead, signal: AbortSignal): Promise<UpstreamCall> {
    signal.throwIfAborted();
    const { target, connectTimeoutMs } = this.#settings;
    const what = `Cannot proxy "${head.label}" to "${target.hostname}:${target.port}" over http1`;
    const remote = netAddr(target.hostname, target.port);
    const request = http.request({
      agent: this.#agent,
      host: target.hostname,
      port: target.port,
      method: head.method,
      path: head.path,
      headers: { ...head.headers, host: head.authority },
    });
    let connectTimer: ReturnType<typeof setTimeout> | undefined;
    const { promise, resolve, reject } = Promise.withResolvers<UpstreamResponse>();
    const abort = () => {
      clearTimeout(connectTimer);
      signal.removeEventListener("abort", abort);
      if (!request.destroyed) request.destroy();
      reject(signal.reason ?? toNetError(new Error("aborted"), what, "write", remote));
    };
    signal.addEventListener("abort", abort, { once: true });
    request.on("socket", (socket) => {
      if (!(socket as { connecting?: boolean }).connecting) return;
      connectTimer = setTimeout(() => {
        reject(timeoutError(what, connectTimeoutMs, "dial", remote));
        request.destroy();
      }, connectTimeoutMs);
      socket.once("connect", () => clearTimeout(connectTimer));
    });
    request.on("error", (error) => {
      clearTimeout(connectTimer);
      reject(toNetError(error, what, "dial", remote));
    });
    request.on("response", (response) => {
      clearTimeout(connectTimer);
      resolve({
        status: response.statusCode ?? 502,
        headers: response.headers,
        body: response,
        trailers: () => response.trailers,
      });
    });
    request.once("close", () => {
      clearTimeout(connectTimer);
      signal.removeEventListener("abort", abort);
    });
    return Promise.resolve({
      body: request,
      finish(trailers) {
        if (trailers) request.addTrailers(trailers);
        request.end();
      },
      abort() {
        if (!request.destroyed) request.destroy();
      },
      response: handled(promise),
    });
  }

  close(force: boolean): void {
    if (force) this.#agent.destroy();
    else {
      for (const sockets of Object.values(this.#agent.freeSockets ?? {})) for (const s of sockets ?? []) s.destroy();
    }
  }
}
