/**
 * Internal: the socket-option keys of {@linkcode TunnelConfig} (go-tunnel's `TCPQuickAck`,
 * `TCPFastOpen`, `SendBufferSize`, `RecvBufferSize`, plus keepalive timing and
 * `TCP_NOTSENT_LOWAT`): their names, checks, and the options they become. Nothing here loads FFI.
 * @module
 */
import type { ResolvedTunnelConfig, TunnelConfig } from "./config.ts";
import { checkInteger } from "./_config_listener.ts";

/** The socket-option keys; none has a default (unset leaves the kernel's value). */
export const SOCKET_OPTION_KEYS = [
  "tcpQuickAck",
  "tcpFastOpen",
  "sendBufferSize",
  "recvBufferSize",
  "keepAliveIdleSeconds",
  "keepAliveIntervalSeconds",
  "keepAliveCount",
  "notSentLowat",
] as const;

/** One of {@linkcode SOCKET_OPTION_KEYS}. */
export type SocketOptionKey = (typeof SOCKET_OPTION_KEYS)[number];

/** Largest `sendBufferSize`/`recvBufferSize`: 64 MiB (the kernel caps it at `net.core.[rw]mem_max` anyway). */
export const MAX_SOCKET_BUFFER_SIZE = 64 * 1024 * 1024;
/** Largest `tcpFastOpen` queue length. */
export const MAX_FAST_OPEN_QUEUE = 65_535;

/** The options set on each connected socket (client and upstream), in `TcpSocketOptions` naming. */
export interface ConnSocketOptions {
  sendBufferSize?: number;
  recvBufferSize?: number;
  quickAck?: boolean;
  keepAliveIdleSeconds?: number;
  keepAliveIntervalSeconds?: number;
  keepAliveCount?: number;
  notSentLowat?: number;
}

/** What a tunnel sets: per connection, and on its listening socket. */
export interface SocketOptionPlan {
  /** Set on every accepted client socket and every upstream socket. */
  readonly conn: ConnSocketOptions;
  /** Set on the listening socket: the Fast Open queue and the buffer sizes accepted sockets inherit. */
  readonly listener: ConnSocketOptions & { fastOpen?: boolean | number };
}

/** Whether any socket-option key is set (only then is FFI loaded). */
export function hasSocketOptions(config: TunnelConfig): boolean {
  return SOCKET_OPTION_KEYS.some((key) => config[key] !== undefined);
}

/**
 * Checks the socket-option keys of a config.
 *
 * @param resolved The config with defaults applied.
 * @throws {TypeError} For a wrong type, or keys that do not fit the protocol or `tcpKeepAlive`.
 * @throws {RangeError} For an out-of-range value.
 */
export function checkSocketOptions(resolved: ResolvedTunnelConfig): void {
  const used = SOCKET_OPTION_KEYS.find((key) => resolved[key] !== undefined);
  if (used === undefined) return;
  if (resolved.protocol !== "tcp" && resolved.protocol !== "tls") {
    throw new TypeError(
      `Cannot use TunnelConfig.${used} with protocol ${
        JSON.stringify(resolved.protocol)
      }: socket options apply to the tcp and tls listeners (their sockets are TCP); remove it`,
    );
  }
  if (resolved.tcpQuickAck !== undefined && typeof resolved.tcpQuickAck !== "boolean") {
    throw new TypeError(
      `Cannot use TunnelConfig.tcpQuickAck = ${JSON.stringify(resolved.tcpQuickAck)}: use true or false`,
    );
  }
  const fastOpen = resolved.tcpFastOpen;
  if (typeof fastOpen === "number") {
    checkInteger("tcpFastOpen", fastOpen, 0, MAX_FAST_OPEN_QUEUE, "give the queue length, for example 256, or true");
  } else if (fastOpen !== undefined && typeof fastOpen !== "boolean") {
    throw new TypeError(
      `Cannot use TunnelConfig.tcpFastOpen = ${JSON.stringify(fastOpen)}: use true, false or a queue length (e.g. 256)`,
    );
  }
  for (const key of ["sendBufferSize", "recvBufferSize"] as const) {
    if (resolved[key] !== undefined) {
      checkInteger(key, resolved[key], 1024, MAX_SOCKET_BUFFER_SIZE, "for example 262144 (256 KiB)");
    }
  }
  for (const key of ["keepAliveIdleSeconds", "keepAliveIntervalSeconds"] as const) {
    if (resolved[key] !== undefined) checkInteger(key, resolved[key], 1, 32_767, "for example 30 (seconds)");
  }
  if (resolved.keepAliveCount !== undefined) {
    checkInteger("keepAliveCount", resolved.keepAliveCount, 1, 127, "for example 9 (unanswered probes)");
  }
  if (resolved.notSentLowat !== undefined) {
    checkInteger("notSentLowat", resolved.notSentLowat, 0, 100 * 1024 * 1024, "for example 16384, or 0");
  }
  const timing = (["keepAliveIdleSeconds", "keepAliveIntervalSeconds", "keepAliveCount"] as const)
    .find((key) => resolved[key] !== undefined);
  if (timing && resolved.tcpKeepAlive === false) {
    throw new TypeError(
      `Cannot use TunnelConfig.${timing} with tcpKeepAlive = false: keepalive timing needs keepalive on; remove one of them`,
    );
  }
}

/**
 * The options a resolved config sets, or `undefined` when it sets none.
 *
 * @param config A config checked by {@linkcode checkSocketOptions}.
 */
export function socketOptionPlan(config: ResolvedTunnelConfig): SocketOptionPlan | undefined {
  if (!hasSocketOptions(config)) return undefined;
  const conn: ConnSocketOptions = {
    sendBufferSize: config.sendBufferSize,
    recvBufferSize: config.recvBufferSize,
    quickAck: config.tcpQuickAck,
    keepAliveIdleSeconds: config.keepAliveIdleSeconds,
    keepAliveIntervalSeconds: config.keepAliveIntervalSeconds,
    keepAliveCount: config.keepAliveCount,
    notSentLowat: config.notSentLowat,
  };
  const listener = {
    sendBufferSize: config.sendBufferSize,
    recvBufferSize: config.recvBufferSize,
    fastOpen: config.tcpFastOpen,
  };
  return { conn: strip(conn), listener: strip(listener) };
}

function strip<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
