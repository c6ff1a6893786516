/**
 * Protocols behind one interface: {@linkcode Conn}, {@linkcode Listener}, {@linkcode Protocol},
 * typed {@linkcode NetError}s, address parsing, the `tcp`, `tls` and `quic` protocols, and the
 * runtime-neutral QUIC types ({@linkcode QuicConnection}, {@linkcode QuicListener}).
 *
 * @example Dial over TCP
 * ```ts ignore
 * import { createProtocol } from "@ts-tunnel/tunnel/protocols";
 * const tcp = createProtocol("tcp");
 * await using conn = await tcp.dial({ hostname: "127.0.0.1", port: 80 }, { timeoutMs: 5_000 });
 * ```
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./address.ts";
export * from "./tcp.ts";
export * from "./tls.ts";
export * from "./quic.ts";
export * from "./quic_types.ts";
export * from "./registry.ts";
export {
  defaultRuntime,
  type Http3ServeOptions,
  type Http3ServerHandle,
  type Runtime,
  type ShutdownSignal,
  type TcpConnectOptions,
  type TcpListenOptions,
  type TlsClientAuth,
  type TlsConnectOptions,
  type TlsListenOptions,
  type TlsMinVersion,
} from "./runtime.ts";
export * from "./tunnel/mod.ts";
