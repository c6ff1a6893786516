/**
 * `createProtocol(name)`: the one factory that knows every protocol.
 * @module
 */
import { UnsupportedProtocolError } from "./errors.ts";
import { QuicProtocol, type QuicProtocolOptions } from "./quic.ts";
import type { Runtime } from "./runtime.ts";
import { TcpProtocol } from "./tcp.ts";
import { TlsProtocol, type TlsProtocolOptions } from "./tls.ts";
import type { Protocol, ProtocolName } from "./types.ts";

/** Every protocol name, in go-tunnel's order plus `tls`. */
export const PROTOCOL_NAMES: readonly ProtocolName[] = ["tcp", "tls", "http2", "http3", "quic"];

/** Options for {@linkcode createProtocol}. */
export interface CreateProtocolOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** Settings of the `tls` protocol (server certificate, client verification). @default {{}} */
  tls?: Omit<TlsProtocolOptions, "runtime">;
  /**
   * Settings of the `quic` protocol. Without `quic.server`, the certificate and key of
   * `tls.server` are used, so a config written for `tls` listens over QUIC as it is.
   * @default {{}}
   */
  quic?: Omit<QuicProtocolOptions, "runtime">;
}

/** The `quic` options, with the server certificate taken from `tls.server` when `quic.server` has none. */
function quicOptions(options: CreateProtocolOptions): QuicProtocolOptions {
  const quic = options.quic ?? {};
  const tls = options.tls?.server;
  const server = quic.server ??
    (tls
      ? {
        certFile: tls.certFile,
        keyFile: tls.keyFile,
        cert: tls.cert,
        key: tls.key,
        handshakeTimeoutMs: tls.handshakeTimeoutMs,
      }
      : undefined);
  return { ...quic, server, runtime: options.runtime };
}

/**
 * Creates the protocol named `name`.
 *
 * @param name A go-tunnel protocol name.
 * @param options The runtime to use, and the `tls` and `quic` settings.
 * @returns The protocol.
 * @throws {UnsupportedProtocolError} For a protocol this version does not provide, with the reason.
 */
export function createProtocol(name: string, options: CreateProtocolOptions = {}): Protocol {
  switch (name) {
    case "tcp":
      return new TcpProtocol(options);
    case "tls":
      return new TlsProtocol({ ...options.tls, runtime: options.runtime });
    case "http2":
      throw new UnsupportedProtocolError(
        name,
        'it is an HTTP/2 + HTTP/1.1 reverse proxy, not a byte transport: use Tunnel with protocol "http2" (CLI: -protocol http2), or Http2Proxy from protocols/http2',
      );
    case "quic":
      return new QuicProtocol(quicOptions(options));
    case "http3":
      throw new UnsupportedProtocolError(
        name,
        'it is an HTTP/3 reverse proxy, not a byte transport: use Tunnel with protocol "http3" (CLI: -protocol http3), or Http3Proxy from protocols/http3',
      );
    default:
      throw new UnsupportedProtocolError(name, `unknown protocol; use one of ${PROTOCOL_NAMES.join(", ")}`);
  }
}
