/**
 * Internal: applies the {@linkcode Http2ProxyOptions} defaults and checks every value, in one place.
 * @module
 */
import { altSvcValue } from "../http3/options.ts";
import { checkProxyInteger, checkProxyTargetAndUpstream } from "../_http_proxy_checks.ts";
import { parseDialAddr } from "../address.ts";
import type { NetError } from "../errors.ts";
import type { TlsCertificateSource } from "../tls.ts";
import type { DialAddr, NetAddr } from "../types.ts";
import { ConnectAllowList } from "./connect_allow.ts";
import {
  DEFAULT_ALT_SVC_MAX_AGE_SECONDS,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HTTP2_MIN_VERSION,
  DEFAULT_MAX_UPSTREAM_SOCKETS,
  DEFAULT_STREAM_WINDOW_BYTES,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  type Http2MinVersion,
  type Http2ProxyOptions,
  type Http2Upstream,
} from "./options.ts";

/** Options after defaults were applied and checked. */
export interface ResolvedHttp2ProxyOptions {
  readonly target: DialAddr;
  readonly targetText: string;
  readonly upstream: Http2Upstream;
  readonly hostname: string | undefined;
  readonly port: number;
  readonly cert: string | Uint8Array | undefined;
  readonly key: string | Uint8Array | undefined;
  readonly certificates: Pick<TlsCertificateSource, "certificateFor" | "defaultCertificate"> | undefined;
  readonly h2c: boolean;
  readonly minVersion: Http2MinVersion;
  readonly allowHTTP1: boolean;
  readonly connectAllow: ConnectAllowList;
  readonly altSvc: string | undefined;
  readonly upstreamTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly streamWindowBytes: number;
  readonly sessionWindowBytes: number | undefined;
  readonly maxUpstreamSockets: number;
  readonly onError: ((error: NetError) => void) | undefined;
  readonly onRequest: ((remoteAddr: NetAddr) => void) | undefined;
}

function checkInteger(name: string, value: number, min: number, max?: number): number {
  return checkProxyInteger("Http2Proxy", name, value, min, max);
}

/**
 * Applies the defaults and checks every option.
 *
 * @param options What the caller passed.
 * @returns The complete options.
 * @throws {TypeError} For a missing target, certificate or key, or an unknown `upstream`.
 * @throws {RangeError} For a number out of range.
 */
export function resolveHttp2ProxyOptions(options: Http2ProxyOptions): ResolvedHttp2ProxyOptions {
  const {
    target,
    upstream = "http1",
    hostname,
    port = 0,
    cert,
    key,
    certificates,
    h2c = false,
    minVersion = DEFAULT_HTTP2_MIN_VERSION,
    allowHTTP1 = true,
    connectAllow = [],
    altSvc,
    upstreamTimeoutMs = DEFAULT_UPSTREAM_TIMEOUT_MS,
    connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
    closeTimeoutMs = DEFAULT_CLOSE_TIMEOUT_MS,
    streamWindowBytes = DEFAULT_STREAM_WINDOW_BYTES,
    sessionWindowBytes,
    maxUpstreamSockets = DEFAULT_MAX_UPSTREAM_SOCKETS,
    onError,
    onRequest,
  } = options;
  checkProxyTargetAndUpstream("Http2Proxy", target, upstream);
  if (!h2c && certificates === undefined && (cert === undefined || key === undefined)) {
    throw new TypeError(`Cannot create Http2Proxy as 'cert' and 'key' are required unless 'h2c' is true`);
  }
  if (certificates !== undefined && (h2c || cert !== undefined || key !== undefined)) {
    throw new TypeError(
      `Cannot create Http2Proxy as 'certificates' replaces 'cert' and 'key' and needs TLS: remove ${
        h2c ? "'h2c'" : "'cert' and 'key'"
      } or 'certificates'`,
    );
  }
  if (minVersion !== "1.2" && minVersion !== "1.3") {
    throw new TypeError(
      `Cannot create Http2Proxy as 'minVersion' must be "1.2" or "1.3": current value is "${minVersion}"`,
    );
  }
  if (typeof altSvc === "number") checkInteger("altSvc", altSvc, 1, 65535);
  const parsed = parseDialAddr(target);
  return {
    target: parsed,
    targetText: target.trim(),
    upstream,
    hostname: hostname || undefined,
    port: checkInteger("port", port, 0, 65535),
    cert: h2c ? undefined : cert,
    key: h2c ? undefined : key,
    certificates,
    h2c,
    minVersion,
    allowHTTP1,
    connectAllow: new ConnectAllowList(connectAllow),
    altSvc: typeof altSvc === "number" ? altSvcValue(altSvc, DEFAULT_ALT_SVC_MAX_AGE_SECONDS) : altSvc || undefined,
    upstreamTimeoutMs: checkInteger("upstreamTimeoutMs", upstreamTimeoutMs, 0),
    connectTimeoutMs: checkInteger("connectTimeoutMs", connectTimeoutMs, 1),
    closeTimeoutMs: checkInteger("closeTimeoutMs", closeTimeoutMs, 0),
    streamWindowBytes: checkInteger("streamWindowBytes", streamWindowBytes, 65_535, 2 ** 31 - 1),
    sessionWindowBytes: sessionWindowBytes === undefined
      ? undefined
      : checkInteger("sessionWindowBytes", sessionWindowBytes, 65_535, 2 ** 31 - 1),
    maxUpstreamSockets: checkInteger("maxUpstreamSockets", maxUpstreamSockets, 1),
    onError,
    onRequest,
  };
}
