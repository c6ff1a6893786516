/**
 * The reverse tunnel (frp/rathole-style): a {@linkcode TunnelServer} on a public host and
 * {@linkcode TunnelClient}s behind NAT that expose their local services on its ports, over one
 * authenticated, multiplexed TLS (or TCP) session each. Wire protocol: docs/PROTOCOL.md.
 *
 * go-tunnel's names work too: `MuxServer`, `MuxClient`, `MuxServerConfig`, `MuxClientConfig`.
 *
 * @example Server and client in one script
 * ```ts ignore
 * import { TunnelClient, TunnelServer } from "@ts-tunnel/tunnel/protocols";
 * const server = new TunnelServer({ listenAddr: "127.0.0.1:7000", transport: "tcp", tokens: { laptop: token } });
 * await server.start();
 * const client = new TunnelClient({
 *   serverAddr: "127.0.0.1:7000", transport: "tcp", clientId: "laptop", token,
 *   services: [{ name: "web", localAddr: "127.0.0.1:8080", remotePort: 18080 }],
 * });
 * await client.start(); // 127.0.0.1:18080 now reaches 127.0.0.1:8080
 * ```
 * @module
 */
import { TunnelClient } from "./client.ts";
import type { TunnelClientConfig, TunnelServerConfig } from "./config.ts";
import { TunnelServer } from "./server.ts";

export {
  CLIENT_CAPABILITIES,
  type ServiceStatus,
  TunnelClient,
  type TunnelClientObserver,
  type TunnelClientOptions,
} from "./client.ts";
export {
  DEFAULT_TUNNEL_CLIENT_CONFIG,
  DEFAULT_TUNNEL_SERVER_CONFIG,
  parsePortRange,
  type ResolvedTunnelClientConfig,
  type ResolvedTunnelServerConfig,
  resolveTunnelClientConfig,
  resolveTunnelServerConfig,
  type TunnelClientConfig,
  type TunnelServerConfig,
  type TunnelServiceConfig,
} from "./config.ts";
export { TUNNEL_ERROR_NUMBERS, TunnelError, type TunnelErrorCode } from "./errors.ts";
export type { HeartbeatPath, HeartbeatStats } from "./heartbeat.ts";
export { STREAM_PACING_CAPABILITY, type StreamPacingStats } from "./stream_pacing.ts";
export type { PublicServiceStats } from "./public_service.ts";
export { encodeProxyHeader, type ProxiedAddrs, type ProxyProtocolVersion } from "./proxy_protocol.ts";
export {
  SERVER_CAPABILITIES,
  type TunnelClientInfo,
  TunnelServer,
  type TunnelServerObserver,
  type TunnelServerOptions,
} from "./server.ts";
export type { TunnelTransportKind } from "./transport.ts";
export type { QuicConnect, QuicConnectionLike, QuicListen, QuicListenerLike } from "./quic_transport.ts";

/** go-tunnel's name for {@linkcode TunnelServer}. */
export const MuxServer: typeof TunnelServer = TunnelServer;
/** go-tunnel's name for {@linkcode TunnelClient}. */
export const MuxClient: typeof TunnelClient = TunnelClient;
/** go-tunnel's name for {@linkcode TunnelServerConfig}. */
export type MuxServerConfig = TunnelServerConfig;
/** go-tunnel's name for {@linkcode TunnelClientConfig}. */
export type MuxClientConfig = TunnelClientConfig;
