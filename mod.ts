/**
 * ts-tunnel: a TCP forwarding engine and tunnel toolkit for Deno and Bun, with go-tunnel's API
 * (`Tunnel`, `Config`, presets, `forward`, `handlePair`) done for real.
 *
 * @example Forward a port
 * ```ts ignore
 * import { Tunnel, serverPreset } from "@ts-tunnel/tunnel";
 * const tunnel = new Tunnel({ ...serverPreset(), listenAddr: ":8080", targetAddr: "127.0.0.1:80" });
 * await tunnel.start();
 * ```
 * @module
 */
export {
  BUFFER_SIZE_DEFAULT,
  BUFFER_SIZE_LARGE,
  clientPreset,
  type ConnectionEnd,
  DEFAULT_TUNNEL_CONFIG,
  forward,
  type ForwardOptions,
  type ForwardStats,
  handlePair,
  highThroughputPreset,
  serverPreset,
  Tunnel,
  type TunnelConfig,
  type TunnelConfig as Config,
  type TunnelObserver,
  type TunnelOptions,
  type TunnelStats,
} from "./forward/mod.ts";
export {
  type Conn,
  createProtocol,
  type Listener,
  NetError,
  type NetErrorCode,
  type Protocol,
  type ProtocolName,
  ServerClosedError,
  TcpProtocol,
  UnsupportedProtocolError,
} from "./protocols/mod.ts";
