/**
 * Internal: creating the `node:http2` server (TLS with ALPN h2 + http/1.1, or h2c) and checking and
 * swapping its certificate.
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, X509Certificate } from "node:crypto";
import http2 from "node:http2";
import tls from "node:tls";
import type { TlsCertificatePair } from "../tls.ts";
import type { ResolvedHttp2ProxyOptions } from "./_resolve.ts";

/** Secure contexts kept per certificate (by its PEM text); the cache starts over beyond this many. */
const MAX_CACHED_CONTEXTS = 64;

function pem(value: string | Uint8Array): string | Buffer {
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

/** Parses the PEM texts up front (Deno's `node:tls` only fails at the first handshake) and pairs them. */
function checkPem(cert: string | Uint8Array, key: string | Uint8Array, what: string): void {
  let matches: boolean;
  try {
    matches = new X509Certificate(pem(cert)).checkPrivateKey(createPrivateKey(pem(key)));
  } catch (error) {
    throw new TypeError(`${what} the certificate or key is invalid: ${(error as Error).message}`, { cause: error });
  }
  if (!matches) throw new TypeError(`${what} the key does not belong to the certificate`);
}

/**
 * The server for `o`: h2c with prior knowledge, or TLS offering h2 (and http/1.1 unless disabled),
 * both advertising SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441).
 * @throws {TypeError} For a certificate or key that does not parse or does not match.
 */
export function createProxyServer(o: ResolvedHttp2ProxyOptions): http2.Http2Server | http2.Http2SecureServer {
  const settings = { enableConnectProtocol: true, initialWindowSize: o.streamWindowBytes };
  if (o.h2c) return http2.createServer({ settings });
  let pair: { cert?: string | Buffer; key?: string | Buffer; SNICallback?: tls.TlsOptions["SNICallback"] };
  if (o.certificates) {
    const first = o.certificates.defaultCertificate();
    pair = { ...(first ? { cert: first.cert, key: first.key } : {}), SNICallback: sniCallback(o) };
  } else {
    checkPem(o.cert!, o.key!, "Cannot create Http2Proxy as");
    pair = { cert: pem(o.cert!), key: pem(o.key!) };
  }
  try {
    return http2.createSecureServer({
      ...pair,
      minVersion: o.minVersion === "1.3" ? "TLSv1.3" : "TLSv1.2",
      allowHTTP1: o.allowHTTP1,
      ALPNProtocols: o.allowHTTP1 ? ["h2", "http/1.1"] : ["h2"],
      settings,
    });
  } catch (error) {
    const message = `Cannot create Http2Proxy as the certificate or key is invalid: ${(error as Error).message}`;
    throw new TypeError(message, { cause: error });
  }
}

/**
 * Picks the certificate by SNI name on every handshake (node:tls `SNICallback`, which Deno's and
 * Bun's `node:tls` both honour): the source's `certificateFor(name)`, else its default; with
 * neither, the server's own context (set by `setCertificate`, possibly none: a fatal alert).
 */
function sniCallback(o: ResolvedHttp2ProxyOptions): NonNullable<tls.TlsOptions["SNICallback"]> {
  const source = o.certificates!;
  const contexts = new Map<string, tls.SecureContext>();
  const contextFor = (pair: TlsCertificatePair): tls.SecureContext => {
    let context = contexts.get(pair.cert);
    if (!context) {
      if (contexts.size >= MAX_CACHED_CONTEXTS) contexts.clear();
      context = tls.createSecureContext({
        cert: pair.cert,
        key: pair.key,
        minVersion: o.minVersion === "1.3" ? "TLSv1.3" : "TLSv1.2",
      });
      contexts.set(pair.cert, context);
    }
    return context;
  };
  return (serverName, done) => {
    try {
      const pair = source.certificateFor(serverName) ?? source.defaultCertificate();
      done(null, pair ? contextFor(pair) : undefined);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

/**
 * Replaces the certificate for future handshakes (`setSecureContext`).
 * @throws {TypeError} For a certificate or key that does not parse or does not match.
 */
export function setServerCertificate(
  server: http2.Http2SecureServer,
  o: ResolvedHttp2ProxyOptions,
  cert: string | Uint8Array,
  key: string | Uint8Array,
): void {
  checkPem(cert, key, "Cannot set the certificate as");
  try {
    server.setSecureContext({
      cert: pem(cert),
      key: pem(key),
      minVersion: o.minVersion === "1.3" ? "TLSv1.3" : "TLSv1.2",
    });
  } catch (error) {
    throw new TypeError(`Cannot set the certificate as it is invalid: ${(error as Error).message}`, { cause: error });
  }
}
