/**
 * `createProtocol(name)`: the one factory that knows every protocol.
 * @module
 */
import { UnsupportedProtocolError } from "./errors.ts";
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
}

/**
 * Creates the protocol named `name`.
 *
 * @param name A go-tunnel protocol name.
 * @param options The runtime to use, and the `tls` settings.
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
    case "http3":
    case "quic":
      throw new UnsupportedProtocolError(
        name,
        "this version of ts-tunnel forwards plain TCP and TLS only; use -protocol tcp or -protocol tls",
      );
    default:
      throw new UnsupportedProtocolError(name, `unknown protocol; use one of ${PROTOCOL_NAMES.join(", ")}`);
  }
}
