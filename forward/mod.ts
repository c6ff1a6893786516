/**
 * The forward engine: {@linkcode forward} and {@linkcode handlePair} move bytes between two
 * conns with half-close, byte counts, idle timeouts and backpressure; {@linkcode Tunnel} runs a
 * listener that forwards every connection to a target.
 *
 * @example Forward one local port to another
 * ```ts ignore
 * import { Tunnel } from "@ts-tunnel/tunnel/forward";
 * await using tunnel = new Tunnel({ listenAddr: "127.0.0.1:8080", targetAddr: "127.0.0.1:80" });
 * await tunnel.start();
 * ```
 * @module
 */
export * from "./types.ts";
export * from "./engine.ts";
export * from "./config.ts";
export * from "./presets.ts";
export * from "./tunnel.ts";
export type { RejectReason } from "./admission.ts";
export { UpstreamUnavailableError } from "./upstream.ts";
export * from "./monitoring.ts";
export { type AdminConfig, type ServeContext, serveTunnels } from "./serve.ts";
export { BufferPool } from "./buffer_pool.ts";
export { IDLE_CHECKS_PER_TIMEOUT, IdleWatch, type IntervalTimer } from "./idle_watch.ts";
export { SOCKET_OPTION_KEYS, type SocketOptionKey } from "./_config_socket.ts";
export type { SocketOptionStats, SocketSide } from "./_socket_tuning.ts";
export type { HttpCounters } from "./_http_frontend.ts";
export type { WorkerStats } from "./workers.ts";
