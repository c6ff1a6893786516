/**
 * Internal: creating the `node:http2` server (TLS with ALPN h2 + http/1.1, or h2c) and checking and
 * swapping its certificate.
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, X509Certificate } from "node:crypto";
import http2 from "node:http2";
import type { ResolvedHttp2ProxyOptions } from "./_resolve.ts";

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
  checkPem(o.cert!, o.key!, "Cannot create Http2Proxy as");
  try {
    return http2.createSecureServer({
      cert: pem(o.cert!),
      key: pem(o.key!),
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
