/**
 * Internal: applies the {@linkcode Http3ProxyOptions} defaults and checks every value, in one place.
 * @module
 */
import { checkProxyInteger, checkProxyTargetAndUpstream } from "../_http_proxy_checks.ts";
import { parseDialAddr } from "../address.ts";
import type { NetError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import type { DialAddr, NetAddr } from "../types.ts";
import {
  DEFAULT_HTTP3_CLOSE_TIMEOUT_MS,
  DEFAULT_HTTP3_CONNECT_TIMEOUT_MS,
  DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS,
  DEFAULT_HTTP3_MAX_FIELD_SECTION_SIZE,
  DEFAULT_HTTP3_MAX_IDLE_TIMEOUT_MS,
  DEFAULT_HTTP3_MAX_UPSTREAM_SOCKETS,
  DEFAULT_HTTP3_UPSTREAM_TIMEOUT_MS,
  type Http3ProxyOptions,
  type Http3Upstream,
} from "./options.ts";

/** Options after defaults were applied and checked. */
export interface ResolvedHttp3ProxyOptions {
  readonly target: DialAddr;
  readonly targetText: string;
  readonly upstream: Http3Upstream;
  readonly hostname: string | undefined;
  readonly port: number;
  readonly cert: string;
  readonly key: string;
  readonly upstreamTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly maxFieldSectionSize: number;
  readonly maxConcurrentStreams: number;
  readonly maxIdleTimeoutMs: number;
  readonly maxUpstreamSockets: number;
  readonly runtime: Runtime | undefined;
  readonly onError: ((error: NetError) => void) | undefined;
  readonly onRequest: ((remoteAddr: NetAddr) => void) | undefined;
}

function checkInteger(name: string, value: number, min: number, max?: number): number {
  return checkProxyInteger("Http3Proxy", name, value, min, max);
}

/**
 * Applies the defaults and checks every option.
 *
 * @param options What the caller passed.
 * @returns The complete options.
 * @throws {TypeError} For a missing target, certificate or key, or an unknown `upstream`.
 * @throws {RangeError} For a number out of range.
 */
export function resolveHttp3ProxyOptions(options: Http3ProxyOptions): ResolvedHttp3ProxyOptions {
  const {
    target,
    upstream = "http1",
    hostname,
    port = 0,
    cert,
    key,
    upstreamTimeoutMs = DEFAULT_HTTP3_UPSTREAM_TIMEOUT_MS,
    connectTimeoutMs = DEFAULT_HTTP3_CONNECT_TIMEOUT_MS,
    closeTimeoutMs = DEFAULT_HTTP3_CLOSE_TIMEOUT_MS,
    maxFieldSectionSize = DEFAULT_HTTP3_MAX_FIELD_SECTION_SIZE,
    maxConcurrentStreams = DEFAULT_HTTP3_MAX_CONCURRENT_STREAMS,
    maxIdleTimeoutMs = DEFAULT_HTTP3_MAX_IDLE_TIMEOUT_MS,
    maxUpstreamSockets = DEFAULT_HTTP3_MAX_UPSTREAM_SOCKETS,
    runtime,
    onError,
    onRequest,
  } = options;
  checkProxyTargetAndUpstream("Http3Proxy", target, upstream);
  if (typeof cert !== "string" || cert === "" || typeof key !== "string" || key === "") {
    throw new TypeError(
      `Cannot create Http3Proxy as 'cert' and 'key' are required: HTTP/3 always runs over TLS (give PEM strings)`,
    );
  }
  return {
    target: parseDialAddr(target),
    targetText: target.trim(),
    upstream,
    hostname: hostname || undefined,
    port: checkInteger("port", port, 0, 65535),
    cert,
    key,
    upstreamTimeoutMs: checkInteger("upstreamTimeoutMs", upstreamTimeoutMs, 0),
    connectTimeoutMs: checkInteger("connectTimeoutMs", connectTimeoutMs, 1),
    closeTimeoutMs: checkInteger("closeTimeoutMs", closeTimeoutMs, 0),
    maxFieldSectionSize: checkInteger("maxFieldSectionSize", maxFieldSectionSize, 1024),
    maxConcurrentStreams: checkInteger("maxConcurrentStreams", maxConcurrentStreams, 1, 65_535),
    maxIdleTimeoutMs: checkInteger("maxIdleTimeoutMs", maxIdleTimeoutMs, 1),
    maxUpstreamSockets: checkInteger("maxUpstreamSockets", maxUpstreamSockets, 1),
    runtime,
    onError,
    onRequest,
  };
}
