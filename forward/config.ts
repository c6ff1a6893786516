/**
 * {@linkcode TunnelConfig}: go-tunnel's `Config` fields that apply to forwarding, in TypeScript
 * naming, with defaults in one place, validation with upper bounds, and the three presets.
 * @module
 */
import type { ProtocolName } from "../protocols/types.ts";

/** go-tunnel's `BufferSizeDefault`: 64 KiB. */
export const BUFFER_SIZE_DEFAULT = 64 * 1024;
/** go-tunnel's `BufferSizeLarge`: 256 KiB. */
export const BUFFER_SIZE_LARGE = 256 * 1024;
/** Largest accepted buffer or read size: 10 MiB (go-tunnel's bound). */
export const MAX_BUFFER_SIZE = 10 * 1024 * 1024;
/** Largest accepted watermark: 100 MiB (go-tunnel's bound). */
export const MAX_WATERMARK = 100 * 1024 * 1024;
/** Largest accepted `maxConnections`: 1,000,000 (go-tunnel's bound). */
export const MAX_CONNECTIONS_LIMIT = 1_000_000;
/** Largest accepted timeout: 24 hours. */
export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** How a tunnel is used; presets pick values for each. */
export type TunnelMode = "auto" | "server" | "client";

/** Configuration of a {@linkcode Tunnel}. Every field but the addresses has a default. */
export interface TunnelConfig {
  /** Listener protocol, by go-tunnel name. @default {"tcp"} */
  protocol?: ProtocolName;
  /** Where to listen, e.g. `":8080"`, `"127.0.0.1:8080"`, `"[::]:8080"`. */
  listenAddr: string;
  /** Where to forward, e.g. `"127.0.0.1:80"`. */
  targetAddr: string;
  /** How the tunnel is used (informational; presets set it). @default {"auto"} */
  mode?: TunnelMode;
  /** Largest read per direction, in bytes. @default {65536} */
  bufferSize?: number;
  /** go-tunnel's name for the read size; when set it overrides `bufferSize`. @default {undefined} */
  readBufferSize?: number;
  /** go-tunnel's name for the bytes queued towards a slow writer before reading pauses; overrides `backpressureHighWatermark`. @default {undefined} */
  writeBufferSize?: number;
  /** Reuse large read buffers from a process-wide pool (instead of one per connection). @default {true} */
  writeBufferPool?: boolean;
  /** Concurrent connections accepted; more are refused (closed at once). 0 means no limit. @default {0} */
  maxConnections?: number;
  /** Idle timeout: a connection with no byte either way for this long is closed. 0 disables. @default {0} */
  connectionTimeoutMs?: number;
  /** Deadline for an accepted connection's handshake (TLS, QUIC). @default {10_000} */
  acceptTimeoutMs?: number;
  /** Deadline for connecting to the target. @default {10_000} */
  dialTimeoutMs?: number;
  /** How long `stop()` lets connections finish before closing them. @default {30_000} */
  drainTimeoutMs?: number;
  /** Backpressure cannot be disabled; `false` is rejected (memory would be unbounded). @default {true} */
  enableBackpressure?: boolean;
  /** Bytes queued towards a slow side before the other side is paused. @default {1048576} */
  backpressureHighWatermark?: number;
  /** Queued bytes under which a paused side resumes. @default {524288} */
  backpressureLowWatermark?: number;
  /** `TCP_NODELAY` on both sides. @default {true} */
  tcpNoDelay?: boolean;
  /** `SO_KEEPALIVE` on both sides. @default {true} */
  tcpKeepAlive?: boolean;
  /** Concurrent connections from one source IP; more are refused. 0 means no limit. @default {0} */
  maxConnectionsPerIp?: number;
  /** Accepted connections per second (token bucket); more are refused. 0 means no limit. @default {0} */
  acceptRatePerSecond?: number;
  /** Burst size of the accept rate limit. 0 means one second's worth. @default {0} */
  acceptBurst?: number;
  /**
   * Budget for bytes buffered in user space by all of this tunnel's connections (large read
   * buffers, write queues). A connection refused by the budget keeps flowing through a small
   * buffer instead of growing; nothing is dropped. 0 means no budget. @default {0}
   */
  maxBufferedBytes?: number;
  /** Attempts to connect to the target before the client is closed (retries back off with jitter). @default {3} */
  dialAttempts?: number;
  /** Delay before the first dial retry; doubles per retry up to `dialRetryMaxDelayMs`. @default {100} */
  dialRetryInitialDelayMs?: number;
  /** Largest delay between dial retries. @default {2000} */
  dialRetryMaxDelayMs?: number;
  /** Consecutive failed dials that open the target's circuit (clients then fail fast). 0 disables the breaker. @default {5} */
  breakerFailureThreshold?: number;
  /** Successful probes in half-open state that close the circuit again. @default {2} */
  breakerSuccessThreshold?: number;
  /** How long the circuit stays open before a probe is let through. @default {30_000} */
  breakerCooldownMs?: number;
  /** Warm upstream connections dialed in advance (saves the connect on each client). 0 disables. @default {0} */
  upstreamPoolSize?: number;
  /** A warm upstream connection older than this is closed instead of used. @default {30_000} */
  upstreamPoolMaxAgeMs?: number;
  /**
   * How bytes move: `auto` splices in the kernel when it can (Linux, FFI allowed, plain TCP on
   * both sides) and falls back to the runtime's native pump; `splice` requires the kernel path
   * (start fails with the reason if it is unavailable); `pump` never loads FFI.
   * @default {"auto"}
   */
  forwardPath?: ForwardPathMode;
}

/** Values of {@linkcode TunnelConfig.forwardPath}. */
export type ForwardPathMode = "auto" | "splice" | "pump";

/** A {@linkcode TunnelConfig} with every default applied. */
export type ResolvedTunnelConfig = Required<Omit<TunnelConfig, "readBufferSize" | "writeBufferSize">>;

/** The defaults, in one place (the CLI help prints them). */
export const DEFAULT_TUNNEL_CONFIG: Readonly<Omit<ResolvedTunnelConfig, "listenAddr" | "targetAddr">> = {
  protocol: "tcp",
  mode: "auto",
  bufferSize: BUFFER_SIZE_DEFAULT,
  writeBufferPool: true,
  maxConnections: 0,
  connectionTimeoutMs: 0,
  acceptTimeoutMs: 10_000,
  dialTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
  enableBackpressure: true,
  backpressureHighWatermark: 1024 * 1024,
  backpressureLowWatermark: 512 * 1024,
  tcpNoDelay: true,
  tcpKeepAlive: true,
  maxConnectionsPerIp: 0,
  acceptRatePerSecond: 0,
  acceptBurst: 0,
  maxBufferedBytes: 0,
  dialAttempts: 3,
  dialRetryInitialDelayMs: 100,
  dialRetryMaxDelayMs: 2000,
  breakerFailureThreshold: 5,
  breakerSuccessThreshold: 2,
  breakerCooldownMs: 30_000,
  upstreamPoolSize: 0,
  upstreamPoolMaxAgeMs: 30_000,
  forwardPath: "auto",
};

function checkInteger(key: string, value: unknown, min: number, max: number, fix: string): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot use TunnelConfig.${key} = ${JSON.stringify(value)}: it must be an integer from ${min} to ${max}; ${fix}`,
    );
  }
}

const KNOWN_KEYS = new Set<string>([
  ...Object.keys(DEFAULT_TUNNEL_CONFIG),
  "listenAddr",
  "targetAddr",
  "readBufferSize",
  "writeBufferSize",
]);

/**
 * Applies defaults and validates a config.
 *
 * @param config The user's config.
 * @returns The config with every default applied.
 * @throws {TypeError} For unknown keys, missing addresses or wrong types.
 * @throws {RangeError} For values out of bounds (each message names the key, the value and the fix).
 */
export function resolveTunnelConfig(config: TunnelConfig): ResolvedTunnelConfig {
  for (const key of Object.keys(config)) {
    if (!KNOWN_KEYS.has(key)) throw new TypeError(`Cannot use TunnelConfig.${key}: unknown key; check its spelling`);
  }
  for (const key of ["listenAddr", "targetAddr"] as const) {
    if (typeof config[key] !== "string" || config[key] === "") {
      throw new TypeError(`Cannot use TunnelConfig.${key} = ${JSON.stringify(config[key])}: it must be "host:port"`);
    }
  }
  const resolved: ResolvedTunnelConfig = {
    ...DEFAULT_TUNNEL_CONFIG,
    ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
  } as ResolvedTunnelConfig;
  if (config.readBufferSize !== undefined) {
    checkInteger("readBufferSize", config.readBufferSize, 1024, MAX_BUFFER_SIZE, "for example 65536");
    resolved.bufferSize = config.readBufferSize;
  }
  if (config.writeBufferSize !== undefined) {
    checkInteger("writeBufferSize", config.writeBufferSize, 1024, MAX_WATERMARK, "for example 1048576");
    resolved.backpressureHighWatermark = config.writeBufferSize;
    if (config.backpressureLowWatermark === undefined) {
      resolved.backpressureLowWatermark = Math.floor(config.writeBufferSize / 2);
    }
  }
  const { protocol, mode } = resolved;
  if (!["tcp", "tls", "http2", "http3", "quic"].includes(protocol)) {
    throw new TypeError(
      `Cannot use TunnelConfig.protocol = ${JSON.stringify(protocol)}: use one of tcp, tls, http2, http3, quic`,
    );
  }
  if (!["auto", "splice", "pump"].includes(resolved.forwardPath)) {
    throw new TypeError(
      `Cannot use TunnelConfig.forwardPath = ${JSON.stringify(resolved.forwardPath)}: use one of auto, splice, pump`,
    );
  }
  if (!["auto", "server", "client"].includes(mode)) {
    throw new TypeError(`Cannot use TunnelConfig.mode = ${JSON.stringify(mode)}: use one of auto, server, client`);
  }
  checkInteger("bufferSize", resolved.bufferSize, 1024, MAX_BUFFER_SIZE, "for example 65536 (64 KiB)");
  checkInteger("maxConnections", resolved.maxConnections, 0, MAX_CONNECTIONS_LIMIT, "use 0 for no limit");
  checkInteger("maxConnectionsPerIp", resolved.maxConnectionsPerIp, 0, MAX_CONNECTIONS_LIMIT, "use 0 for no limit");
  checkInteger("acceptRatePerSecond", resolved.acceptRatePerSecond, 0, MAX_CONNECTIONS_LIMIT, "use 0 for no limit");
  checkInteger("acceptBurst", resolved.acceptBurst, 0, MAX_CONNECTIONS_LIMIT, "use 0 for one second's worth");
  checkInteger(
    "maxBufferedBytes",
    resolved.maxBufferedBytes,
    0,
    Number.MAX_SAFE_INTEGER,
    "for example 268435456 (256 MiB), or 0 for no budget",
  );
  checkInteger("dialAttempts", resolved.dialAttempts, 1, 100, "use 1 to disable retries");
  checkInteger("dialRetryInitialDelayMs", resolved.dialRetryInitialDelayMs, 1, MAX_TIMEOUT_MS, "for example 100");
  checkInteger("dialRetryMaxDelayMs", resolved.dialRetryMaxDelayMs, 1, MAX_TIMEOUT_MS, "for example 2000");
  checkInteger(
    "breakerFailureThreshold",
    resolved.breakerFailureThreshold,
    0,
    1_000_000,
    "use 0 to disable the breaker",
  );
  checkInteger("breakerSuccessThreshold", resolved.breakerSuccessThreshold, 1, 1_000_000, "for example 2");
  checkInteger("breakerCooldownMs", resolved.breakerCooldownMs, 1, MAX_TIMEOUT_MS, "for example 30000 (30 s)");
  checkInteger("upstreamPoolSize", resolved.upstreamPoolSize, 0, 10_000, "use 0 to disable the pool");
  checkInteger("upstreamPoolMaxAgeMs", resolved.upstreamPoolMaxAgeMs, 1, MAX_TIMEOUT_MS, "for example 30000 (30 s)");
  for (const key of ["connectionTimeoutMs", "drainTimeoutMs"] as const) {
    checkInteger(key, resolved[key], 0, MAX_TIMEOUT_MS, "use 0 to disable");
  }
  for (const key of ["acceptTimeoutMs", "dialTimeoutMs"] as const) {
    checkInteger(key, resolved[key], 1, MAX_TIMEOUT_MS, "for example 10000 (10 s)");
  }
  for (const key of ["backpressureHighWatermark", "backpressureLowWatermark"] as const) {
    checkInteger(key, resolved[key], 0, MAX_WATERMARK, "for example 1048576 (1 MiB)");
  }
  if (resolved.backpressureLowWatermark >= resolved.backpressureHighWatermark) {
    throw new RangeError(
      `Cannot use TunnelConfig.backpressureLowWatermark = ${resolved.backpressureLowWatermark}: it must be below backpressureHighWatermark (${resolved.backpressureHighWatermark})`,
    );
  }
  if (resolved.enableBackpressure !== true) {
    throw new TypeError(
      `Cannot use TunnelConfig.enableBackpressure = ${
        JSON.stringify(resolved.enableBackpressure)
      }: backpressure cannot be turned off (memory per connection would be unbounded); tune the watermarks instead`,
    );
  }
  for (const key of ["writeBufferPool", "tcpNoDelay", "tcpKeepAlive"] as const) {
    if (typeof resolved[key] !== "boolean") {
      throw new TypeError(`Cannot use TunnelConfig.${key} = ${JSON.stringify(resolved[key])}: use true or false`);
    }
  }
  return resolved;
}
