/**
 * Options of {@linkcode Http3Proxy} and their defaults (applied and checked in one place,
 * `_resolve.ts`), and the `Alt-Svc` value an HTTP/1.1 or HTTP/2 listener sends to advertise it.
 * @module
 */
import type { NetError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import type { NetAddr } from "../types.ts";

/** Default time to wait for the upstream's response headers after the request body was sent: 60 s. */
export const DEFAULT_HTTP3_UPSTREAM_TIMEOUT_MS = 60_000;
/** Default time to open a TCP connection (or h2c session) to the upstream: 10 s. */
export const DEFAULT_HTTP3_CONNECT_TIMEOUT_MS = 10_000;
/** Default time {@linkcode Http3Proxy.close} lets in-flight requests finish after GOAWAY: 10 s. */
export const DEFAULT_HTTP3_CLOSE_TIMEOUT_MS = 10_000;
/** Default largest request field section we accept (`SETTINGS_MAX_FIELD_SECTION_SIZE`): 64 KiB. */
export const DEFAULT_HTTP3_MAX_FIELD_SECTION_SIZE = 65_536;
/** Default number of requests one client connection may have in flight (QUIC bidirectional stream limit). */
export const DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS = 100;
/** Default QUIC idle timeout of a client connection: 30 s. */
export const DEFAULT_HTTP3_MAX_IDLE_TIMEOUT_MS = 30_000;
/** Default cap on concurrent HTTP/1.1 connections to the upstream (keep-alive pool). */
export const DEFAULT_HTTP3_MAX_UPSTREAM_SOCKETS = 256;
/** Default `ma` (max age, seconds) of an `Alt-Svc` value from {@linkcode altSvcValue}: one day. */
export const DEFAULT_HTTP3_ALT_SVC_MAX_AGE_SECONDS = 86_400;

/** How the proxy talks to its target. */
export type Http3Upstream = "http1" | "h2c";

/** Options for {@linkcode Http3Proxy}. */
export interface Http3ProxyOptions {
  /** The upstream `host:port` every request goes to, e.g. `"127.0.0.1:8080"` or `"[::1]:3000"`. */
  target: string;
  /** How to talk to the target: HTTP/1.1 (keep-alive pool) or h2c (HTTP/2 prior knowledge). @default {"http1"} */
  upstream?: Http3Upstream;
  /** Host or IP to bind (UDP); empty binds every interface (`::`, or `0.0.0.0` without IPv6). @default {""} */
  hostname?: string;
  /** UDP port to bind; 0 picks a free one. @default {0} */
  port?: number;
  /** Server certificate chain, PEM, leaf first. */
  cert: string;
  /** Private key of `cert`, PEM. */
  key: string;
  /** Time to wait for response headers after the request was fully sent; then 504. 0 waits forever. @default {60_000} */
  upstreamTimeoutMs?: number;
  /** Time to open a TCP connection (or h2c session) to the target; then 504. @default {10_000} */
  connectTimeoutMs?: number;
  /** How long {@linkcode Http3Proxy.close} lets in-flight requests finish after GOAWAY. @default {10_000} */
  closeTimeoutMs?: number;
  /**
   * Largest request header (and trailer) section accepted, counted as RFC 9114 §4.2.2 does;
   * advertised in `SETTINGS_MAX_FIELD_SECTION_SIZE`. Larger ones get 431. Deno only: Bun's server
   * applies its own limit. @default {65_536}
   */
  maxFieldSectionSize?: number;
  /**
   * Requests one client connection may have in flight; more wait for QUIC stream credit. Deno only:
   * Bun's server applies its own limit. @default {100}
   */
  maxConcurrentStreams?: number;
  /** QUIC idle timeout of a client connection (the smaller of both sides' values applies). @default {30_000} */
  maxIdleTimeoutMs?: number;
  /** Most concurrent HTTP/1.1 connections to the upstream. @default {256} */
  maxUpstreamSockets?: number;
  /** The runtime adapter to use. @default {the adapter for the running runtime} */
  runtime?: Runtime;
  /** Called for every request with the client's address. @default {undefined} */
  onRequest?: (remoteAddr: NetAddr) => void;
  /** Called for every failed upstream exchange (the client got 502/504 or a cut-off response). @default {undefined} */
  onError?: (error: NetError) => void;
}

/**
 * The `Alt-Svc` header value that advertises an HTTP/3 listener on `port` of the same host, for an
 * HTTP/1.1 or HTTP/2 listener to send (for example as `Http2Proxy`'s `altSvc` option).
 *
 * @example Advertise h3 on UDP 443
 * ```ts
 * import { altSvcValue } from "./options.ts";
 * console.assert(altSvcValue(443) === 'h3=":443"; ma=86400');
 * ```
 * @param port The UDP port of the HTTP/3 listener, 1 to 65535.
 * @param maxAgeSeconds How long clients may remember it. @default {86_400}
 * @returns The header value, `h3=":PORT"; ma=SECONDS`.
 * @throws {RangeError} For a port or max age out of range.
 */
export function altSvcValue(port: number, maxAgeSeconds: number = DEFAULT_HTTP3_ALT_SVC_MAX_AGE_SECONDS): string {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`Cannot build Alt-Svc as 'port' must be an integer from 1 to 65535: current value is ${port}`);
  }
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw new RangeError(
      `Cannot build Alt-Svc as 'maxAgeSeconds' must be a non-negative integer: current value is ${maxAgeSeconds}`,
    );
  }
  return `h3=":${port}"; ma=${maxAgeSeconds}`;
}
