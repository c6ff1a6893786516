/**
 * Internal: the checks of {@linkcode TunnelConfig}'s listener sections: `tls`, `targetTls`,
 * `autoTls` and the `http2`/`http3` keys (`upstream`, `h2c`, `connectAllow`, `altSvc`, `http3`).
 * Every message names the key, the value and the fix.
 * @module
 */
import { ConnectAllowList } from "../protocols/http2/connect_allow.ts";
import type { ResolvedTunnelConfig, TunnelConfig } from "./config.ts";

/** Largest accepted timeout: 24 hours. */
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Throws a RangeError unless `value` is an integer in [min, max]. */
export function checkInteger(key: string, value: unknown, min: number, max: number, fix: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot use TunnelConfig.${key} = ${JSON.stringify(value)}: it must be an integer from ${min} to ${max}; ${fix}`,
    );
  }
}

const TLS_KEYS = ["certFile", "keyFile", "minVersion", "alpn", "clientAuth", "clientCaFile", "reloadIntervalMs"];
const TARGET_TLS_KEYS = ["serverName", "caFile", "insecure", "alpn", "certFile", "keyFile"];

/** The keys only an `http2` listener takes (`upstream` also applies to `http3`). */
export const HTTP2_KEYS = ["upstream", "h2c", "connectAllow", "altSvc", "http3"] as const;

/**
 * Why a QUIC listener (`http3`, `quic`, an `http2` listener's h3 side) takes no automatic TLS and
 * is not reloaded.
 */
const QUIC_NO_RELOAD =
  "a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection)";

function checkTlsSection(
  key: "tls" | "targetTls",
  section: unknown,
  allowed: readonly string[],
): Record<string, unknown> {
  if (typeof section !== "object" || section === null || Array.isArray(section)) {
    throw new TypeError(`Cannot use TunnelConfig.${key} = ${JSON.stringify(section)}: it must be an object`);
  }
  const map = section as Record<string, unknown>;
  for (const name of Object.keys(map)) {
    if (!allowed.includes(name)) {
      throw new TypeError(`Cannot use TunnelConfig.${key}.${name}: unknown key; use one of ${allowed.join(", ")}`);
    }
  }
  for (const name of ["certFile", "keyFile", "clientCaFile", "caFile", "serverName"]) {
    if (map[name] !== undefined && (typeof map[name] !== "string" || map[name] === "")) {
      throw new TypeError(
        `Cannot use TunnelConfig.${key}.${name} = ${JSON.stringify(map[name])}: it must be a non-empty string`,
      );
    }
  }
  if (
    map.alpn !== undefined && !(Array.isArray(map.alpn) && map.alpn.every((p) => typeof p === "string" && p !== ""))
  ) {
    throw new TypeError(
      `Cannot use TunnelConfig.${key}.alpn = ${
        JSON.stringify(map.alpn)
      }: it must be a list of names, for example ["h2", "http/1.1"]`,
    );
  }
  return map;
}

/** Whether the listener terminates TLS: `tls`, `http3`, `quic`, or `http2` unless it serves h2c. */
function terminatesTls(resolved: ResolvedTunnelConfig): boolean {
  const { protocol } = resolved;
  return protocol === "tls" || protocol === "http3" || protocol === "quic" || (protocol === "http2" && !resolved.h2c);
}

/** Whether the listener runs over QUIC: `http3` and `quic` (an http2 listener's h3 side is checked apart). */
function overQuic(resolved: ResolvedTunnelConfig): boolean {
  return resolved.protocol === "http3" || resolved.protocol === "quic";
}

function checkListenerTls(resolved: ResolvedTunnelConfig): void {
  const { protocol, tls, autoTls } = resolved;
  if (typeof autoTls !== "boolean") {
    throw new TypeError(`Cannot use TunnelConfig.autoTls = ${JSON.stringify(autoTls)}: use true or false`);
  }
  if (autoTls && (overQuic(resolved) || resolved.http3 === true)) {
    throw new TypeError(
      `Cannot use TunnelConfig.autoTls with ${
        overQuic(resolved) ? `protocol ${JSON.stringify(protocol)}` : "http3: true"
      }: ${QUIC_NO_RELOAD}, so ACME renewals could not reach it; set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)`,
    );
  }
  if (autoTls && !terminatesTls(resolved)) {
    throw new TypeError(
      resolved.h2c
        ? "Cannot use TunnelConfig.autoTls with h2c: an h2c listener is cleartext; remove one of them"
        : `Cannot use TunnelConfig.autoTls with protocol ${
          JSON.stringify(protocol)
        }: set protocol "tls" or "http2" (CLI: -protocol tls)`,
    );
  }
  if (protocol === "tls" && tls === undefined && !autoTls) {
    throw new TypeError(
      'Cannot use TunnelConfig.protocol = "tls" without TunnelConfig.tls: set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE), or autoTls (CLI: -auto-tls)',
    );
  }
  if (protocol === "http2" && !resolved.h2c && tls === undefined && !autoTls) {
    throw new TypeError(
      'Cannot use TunnelConfig.protocol = "http2" without TunnelConfig.tls: set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE), autoTls (CLI: -auto-tls), or h2c for cleartext (CLI: -h2c)',
    );
  }
  // A quic tunnel may get its QuicProtocol (with its certificate) from setProtocol(): Tunnel.start() checks it.
  if (protocol === "http3" && tls === undefined) throw quicWithoutTls(protocol);
  if (tls === undefined) return;
  if (!terminatesTls(resolved)) {
    throw new TypeError(
      resolved.h2c
        ? "Cannot use TunnelConfig.tls with h2c: an h2c listener is cleartext; remove tls or h2c"
        : `Cannot use TunnelConfig.tls with protocol ${
          JSON.stringify(protocol)
        }: set protocol "tls" (CLI: -protocol tls)`,
    );
  }
  const map = checkTlsSection("tls", tls, TLS_KEYS);
  if (autoTls) {
    const given = ["certFile", "keyFile"].find((name) => map[name] !== undefined);
    if (given) {
      throw new TypeError(
        `Cannot use TunnelConfig.tls.${given} with autoTls: the certificate comes from ACME; remove tls.certFile and tls.keyFile, or autoTls`,
      );
    }
  } else {
    for (const name of ["certFile", "keyFile"]) {
      if (map[name] === undefined) {
        throw new TypeError(
          `Cannot use TunnelConfig.tls: ${name} is missing; set both certFile and keyFile (CLI: -cert FILE -key FILE)`,
        );
      }
    }
  }
  if (map.minVersion !== undefined && !["1.2", "1.3"].includes(map.minVersion as string)) {
    throw new RangeError(
      `Cannot use TunnelConfig.tls.minVersion = ${JSON.stringify(map.minVersion)}: use "1.2" or "1.3"`,
    );
  }
  if (map.clientAuth !== undefined && !["none", "optional", "require"].includes(map.clientAuth as string)) {
    throw new RangeError(
      `Cannot use TunnelConfig.tls.clientAuth = ${JSON.stringify(map.clientAuth)}: use "none", "optional" or "require"`,
    );
  }
  if ((map.clientAuth ?? "none") !== "none" && map.clientCaFile === undefined) {
    throw new TypeError(
      `Cannot use TunnelConfig.tls.clientAuth = ${
        JSON.stringify(map.clientAuth)
      } without tls.clientCaFile: set it to the CA that signs client certificates`,
    );
  }
  if (protocol === "http2") {
    if (map.alpn !== undefined) {
      throw new TypeError(
        'Cannot use TunnelConfig.tls.alpn with protocol "http2": the proxy offers h2 and http/1.1 itself; remove alpn',
      );
    }
    if ((map.clientAuth ?? "none") !== "none") {
      throw new TypeError(
        `Cannot use TunnelConfig.tls.clientAuth = ${
          JSON.stringify(map.clientAuth)
        } with protocol "http2": the HTTP/2 proxy does not verify client certificates; use protocol "tls" for mutual TLS`,
      );
    }
  }
  if (overQuic(resolved)) checkQuicTls(protocol, map);
  if (map.reloadIntervalMs !== undefined) {
    checkInteger(
      "tls.reloadIntervalMs",
      map.reloadIntervalMs,
      0,
      MAX_TIMEOUT_MS,
      "for example 5000, or 0 to turn reloading off",
    );
  }
}

/**
 * The error for an `http3` or `quic` listener without `tls` (a `quic` one is checked when it
 * starts, as `setProtocol()` may bring the certificate).
 */
export function quicWithoutTls(protocol: string): TypeError {
  return new TypeError(
    `Cannot use TunnelConfig.protocol = ${
      JSON.stringify(protocol)
    } without TunnelConfig.tls: QUIC needs a certificate; set tls.certFile and tls.keyFile (CLI: -cert FILE -key FILE)`,
  );
}

/** The `tls` keys an `http3` or `quic` listener refuses. */
function checkQuicTls(protocol: string, map: Record<string, unknown>): void {
  const name = JSON.stringify(protocol);
  if (protocol === "http3" && map.alpn !== undefined) {
    throw new TypeError(
      'Cannot use TunnelConfig.tls.alpn with protocol "http3": the proxy offers h3 itself; remove alpn',
    );
  }
  if ((map.clientAuth ?? "none") !== "none") {
    throw new TypeError(
      `Cannot use TunnelConfig.tls.clientAuth = ${
        JSON.stringify(map.clientAuth)
      } with protocol ${name}: the QUIC listener does not verify client certificates; use protocol "tls" for mutual TLS`,
    );
  }
  if (map.minVersion !== undefined) {
    throw new TypeError(
      `Cannot use TunnelConfig.tls.minVersion with protocol ${name}: QUIC always uses TLS 1.3; remove minVersion`,
    );
  }
  if (map.reloadIntervalMs !== undefined && map.reloadIntervalMs !== 0) {
    throw new TypeError(
      `Cannot use TunnelConfig.tls.reloadIntervalMs = ${
        JSON.stringify(map.reloadIntervalMs)
      } with protocol ${name}: ${QUIC_NO_RELOAD}; remove reloadIntervalMs (restart the tunnel to change the certificate)`,
    );
  }
}

function checkTargetTls(resolved: ResolvedTunnelConfig): void {
  const { targetTls } = resolved;
  if (targetTls === undefined) return;
  if (resolved.protocol === "http2" || resolved.protocol === "http3") {
    throw new TypeError(
      `Cannot use TunnelConfig.targetTls with protocol "${resolved.protocol}": the proxy talks HTTP/1.1 or h2c to its target; remove targetTls`,
    );
  }
  const map = checkTlsSection("targetTls", targetTls, TARGET_TLS_KEYS);
  if (map.insecure !== undefined && typeof map.insecure !== "boolean") {
    throw new TypeError(
      `Cannot use TunnelConfig.targetTls.insecure = ${JSON.stringify(map.insecure)}: use true or false`,
    );
  }
  if ((map.certFile === undefined) !== (map.keyFile === undefined)) {
    throw new TypeError("Cannot use TunnelConfig.targetTls: set both certFile and keyFile, or neither");
  }
}

function checkHttp2(resolved: ResolvedTunnelConfig, given: TunnelConfig): void {
  if (resolved.protocol !== "http2") {
    const key = HTTP2_KEYS.find((k) => given[k] !== undefined && !(k === "upstream" && resolved.protocol === "http3"));
    if (key) {
      throw new TypeError(
        `Cannot use TunnelConfig.${key} with protocol ${JSON.stringify(resolved.protocol)}: it applies to protocol ${
          key === "upstream" ? '"http2" or "http3" (CLI: -protocol http2)' : '"http2" (CLI: -protocol http2)'
        }`,
      );
    }
  }
  const { upstream, h2c, connectAllow, altSvc, http3 } = resolved;
  if (typeof http3 !== "boolean") {
    throw new TypeError(`Cannot use TunnelConfig.http3 = ${JSON.stringify(http3)}: use true or false`);
  }
  if (http3 && h2c) {
    throw new TypeError(
      "Cannot use TunnelConfig.http3 with h2c: HTTP/3 runs over QUIC, which is always encrypted; remove h2c (and set tls.certFile and tls.keyFile), or http3",
    );
  }
  if (upstream !== "http1" && upstream !== "h2c") {
    throw new TypeError(`Cannot use TunnelConfig.upstream = ${JSON.stringify(upstream)}: use "http1" or "h2c"`);
  }
  if (typeof h2c !== "boolean") {
    throw new TypeError(`Cannot use TunnelConfig.h2c = ${JSON.stringify(h2c)}: use true or false`);
  }
  if (!Array.isArray(connectAllow) || !connectAllow.every((p) => typeof p === "string")) {
    throw new TypeError(
      `Cannot use TunnelConfig.connectAllow = ${
        JSON.stringify(connectAllow)
      }: it must be a list of "host:port" patterns, for example ["db.internal:5432", "*.example.com:443"]`,
    );
  }
  try {
    new ConnectAllowList(connectAllow);
  } catch (error) {
    throw new TypeError(`Cannot use TunnelConfig.connectAllow: ${(error as Error).message}`);
  }
  if (altSvc !== undefined) {
    if (typeof altSvc === "number") {
      checkInteger("altSvc", altSvc, 1, 65535, 'give the HTTP/3 port, or the whole header, e.g. h3=":443"; ma=86400');
    } else if (typeof altSvc !== "string" || altSvc.trim() === "") {
      throw new TypeError(
        `Cannot use TunnelConfig.altSvc = ${
          JSON.stringify(altSvc)
        }: give the HTTP/3 port (e.g. 443) or the header value (e.g. h3=":443"; ma=86400)`,
      );
    }
  }
}

/**
 * Validates the listener sections of a resolved config.
 *
 * @param resolved The config with defaults applied.
 * @param given The config as the user gave it (to tell set keys from defaults).
 * @throws {TypeError} For a section that does not fit the protocol, or a malformed value.
 * @throws {RangeError} For an out-of-range value.
 */
export function checkListener(resolved: ResolvedTunnelConfig, given: TunnelConfig): void {
  checkHttp2(resolved, given);
  checkListenerTls(resolved);
  checkTargetTls(resolved);
}
