/**
 * {@linkcode TunnelConfig}: go-tunnel's `Config` fields that apply to forwarding, in TypeScript
 * naming, with defaults in one place, validation with upper bounds, and the three presets.
 * @module
 */
import type { TlsClientAuth, TlsMinVersion } from "../protocols/runtime.ts";
import type { TlsClientOptions, TlsServerOptions } from "../protocols/tls.ts";
import type { Http2Upstream } from "../protocols/http2/options.ts";
import type { ProtocolName } from "../protocols/types.ts";
import { checkInteger, checkListener } from "./_config_listener.ts";
import { checkSocketOptions, SOCKET_OPTION_KEYS, type SocketOptionKey } from "./_config_socket.ts";
import { checkOwnedPath } from "./_config_owned.ts";

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
/** Largest accepted `workers`. */
export const MAX_WORKERS = 256;

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
  /**
   * go-tunnel's `TCPQuickAck`: `TCP_QUICKACK` on the client and upstream sockets once connected
   * (Linux; the kernel may leave quick-ACK mode on its own later). Needs FFI, as do all the socket
   * options below: without it (not Linux, Deno without `--allow-ffi`) they are not applied, the
   * log says why, and connections go on. Unset leaves the kernel's value. @default {undefined}
   */
  tcpQuickAck?: boolean;
  /**
   * go-tunnel's `TCPFastOpen`: `TCP_FASTOPEN` on the listening socket, with this queue length
   * (`true`: 256; the kernel also needs bit 2 of `net.ipv4.tcp_fastopen`). Dials cannot use it:
   * `TCP_FASTOPEN_CONNECT` must be set before `connect`, which the runtimes do not expose.
   * @default {undefined}
   */
  tcpFastOpen?: boolean | number;
  /**
   * go-tunnel's `SendBufferSize`: `SO_SNDBUF` in bytes on the listener (accepted sockets inherit
   * it), the client and the upstream sockets. The kernel caps it at `net.core.wmem_max`, stores
   * twice the value and stops autotuning that socket. @default {undefined}
   */
  sendBufferSize?: number;
  /** go-tunnel's `RecvBufferSize`: `SO_RCVBUF`, like `sendBufferSize` (capped at `net.core.rmem_max`). @default {undefined} */
  recvBufferSize?: number;
  /** `TCP_KEEPIDLE`: idle seconds before the first keepalive probe, 1–32767. @default {undefined} */
  keepAliveIdleSeconds?: number;
  /** `TCP_KEEPINTVL`: seconds between keepalive probes, 1–32767. @default {undefined} */
  keepAliveIntervalSeconds?: number;
  /** `TCP_KEEPCNT`: unanswered probes before the connection is dropped, 1–127. @default {undefined} */
  keepAliveCount?: number;
  /** `TCP_NOTSENT_LOWAT`: unsent bytes above which a socket stops polling writable (0: system default). @default {undefined} */
  notSentLowat?: number;
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
   * (start fails with the reason if it is unavailable); `pump` never loads FFI. `owned` runs the
   * owned-socket forwarder (`listenOwnedSplice`) instead of a listener and accept loop: a Worker
   * accepts, connects and splices through libc (Linux, FFI), about a third of the syscalls and a
   * tenth of the memory per connection; plain TCP to one target only (TLS, dial retries, the
   * circuit breaker, the warm pool, per-IP and accept-rate limits are refused), no per-connection
   * observer calls or rows, `workers: N` runs N forwarders on one `SO_REUSEPORT` port, and
   * `maxConnections: 0` means 65,536 per forwarder.
   * @default {"auto"}
   */
  forwardPath?: ForwardPathMode;
  /**
   * TLS termination on the listener; required when `protocol` is `"tls"` (or `"http2"` without
   * `h2c`) unless `autoTls` is set, and when it is `"http3"` or `"quic"` (certificate files only:
   * QUIC listeners are not reloaded and take no automatic TLS). @default {undefined}
   */
  tls?: TunnelTlsConfig;
  /**
   * The `tls` or `http2` listener takes its certificates from `TunnelOptions.certificates` (an ACME
   * manager's `tlsConfig()`; the CLI's `-auto-tls` creates one) instead of `tls.certFile`.
   * `tls` may still set `minVersion`, `alpn` and the client-certificate keys. @default {false}
   */
  autoTls?: boolean;
  /** `http2` and `http3`: how the proxy talks to the target, HTTP/1.1 (keep-alive pool) or h2c. @default {"http1"} */
  upstream?: Http2Upstream;
  /** `http2` only: serve cleartext HTTP/2 with prior knowledge (h2c) instead of TLS. @default {false} */
  h2c?: boolean;
  /**
   * `http2` only: `host:port` patterns that CONNECT tunnels may reach (`*` and `*.suffix` hosts,
   * `N-M` and `*` ports); empty refuses every CONNECT with 403. @default {[]}
   */
  connectAllow?: string[];
  /**
   * `http2` only: `Alt-Svc` advertised on every response: an HTTP/3 port (`h3=":PORT"; ma=86400`)
   * or the whole header value. With `http3: true` it defaults to the shared port. @default {undefined}
   */
  altSvc?: number | string;
  /**
   * `http2` only: also serve HTTP/3 on the same port number over UDP (an `Http3Proxy` to the same
   * target) and advertise it on every h1/h2 response with `Alt-Svc: h3=":PORT"; ma=86400`, as
   * Caddy does. Needs certificate files (`tls.certFile`, `tls.keyFile`): not h2c, not `autoTls`;
   * the h3 side keeps the certificate it started with. `stats()` sums both (`protocols` has each).
   * @default {false}
   */
  http3?: boolean;
  /** Dial the target over TLS (verified) instead of plain TCP. @default {undefined} */
  targetTls?: TunnelTargetTlsConfig;
  /**
   * Accept loops: with N > 1 the tunnel runs in N worker threads, each with its own event loop
   * and its own `SO_REUSEPORT` listener on the port (the kernel spreads new connections over
   * them). Limits stay global (`maxConnections`, `maxConnectionsPerIp`; `acceptRatePerSecond`
   * and `maxBufferedBytes` are split evenly), `stats()` and the metrics sum every worker, and
   * `stop()` drains them all. `"auto"` picks 1 below 4 cores, else one per two cores (at most 16),
   * and 1 wherever workers do not apply. Only `tcp` listeners run in several workers; on Deno they
   * need `--unstable-net` (for `SO_REUSEPORT`). The CLI and YAML default to `"auto"`.
   * @default {1}
   */
  workers?: number | "auto";
}

/**
 * TLS termination on the listener ({@linkcode TunnelConfig.tls}; CLI `-cert`/`-key`, YAML `tls`).
 * The files are reloaded when they change (not for `http3` and `quic` listeners). For `http2`
 * listeners only `certFile`, `keyFile`, `minVersion` and `reloadIntervalMs` apply; for `http3`
 * only `certFile` and `keyFile`; for `quic` `certFile`, `keyFile` and `alpn`.
 */
export interface TunnelTlsConfig {
  /** Certificate chain file (PEM, leaf first); required unless `TunnelConfig.autoTls` is set. */
  certFile?: string;
  /** Private key file (PEM); required with `certFile`. */
  keyFile?: string;
  /** Lowest TLS version accepted; `"1.3"` needs Bun. @default {"1.2"} */
  minVersion?: TlsMinVersion;
  /** ALPN protocols to accept, most preferred first (`quic`: both sides must agree). @default {[] (quic: ["ts-tunnel-quic"])} */
  alpn?: string[];
  /** Client certificates: `"optional"` or `"require"` need `clientCaFile` (and Bun). @default {"none"} */
  clientAuth?: TlsClientAuth;
  /** CA bundle (PEM) that client certificates must chain to. */
  clientCaFile?: string;
  /** How often to check the files for changes; 0 turns reloading off. @default {5_000} */
  reloadIntervalMs?: number;
}

/** TLS towards the target ({@linkcode TunnelConfig.targetTls}; YAML `target_tls`). Verification is on. */
export interface TunnelTargetTlsConfig {
  /** Name to send (SNI) and to verify. @default {the target's host} */
  serverName?: string;
  /** CA bundle (PEM) to trust. @default {the runtime's roots} */
  caFile?: string;
  /** Skip verifying the target's certificate (Bun only). @default {false} */
  insecure?: boolean;
  /** ALPN protocols to offer. @default {[]} */
  alpn?: string[];
  /** Client certificate file (PEM), for targets that require one. Pair with `keyFile`. */
  certFile?: string;
  /** Private key file (PEM) of the client certificate. */
  keyFile?: string;
}

/**
 * The listener settings of {@linkcode TlsProtocol} for a tunnel's {@linkcode TunnelTlsConfig}.
 *
 * @param tls The tunnel's `tls` section.
 * @returns Options for `new TlsProtocol({ server })`.
 */
export function tlsServerOptions(tls: TunnelTlsConfig): TlsServerOptions {
  return {
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    minVersion: tls.minVersion,
    alpnProtocols: tls.alpn,
    clientAuth: tls.clientAuth,
    clientCaFile: tls.clientCaFile,
    reloadIntervalMs: tls.reloadIntervalMs,
  };
}

/**
 * The dial settings of {@linkcode TlsProtocol} for a tunnel's {@linkcode TunnelTargetTlsConfig}.
 *
 * @param tls The tunnel's `targetTls` section.
 * @returns Options for `new TlsProtocol({ client })`.
 */
export function tlsClientOptions(tls: TunnelTargetTlsConfig): TlsClientOptions {
  return {
    serverName: tls.serverName,
    caFile: tls.caFile,
    insecure: tls.insecure,
    alpnProtocols: tls.alpn,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
  };
}

/** Values of {@linkcode TunnelConfig.forwardPath}. */
export type ForwardPathMode = "auto" | "splice" | "pump" | "owned";

/** A {@linkcode TunnelConfig} with every default applied. */
export type ResolvedTunnelConfig =
  & Required<
    Omit<TunnelConfig, "readBufferSize" | "writeBufferSize" | "tls" | "targetTls" | "altSvc" | SocketOptionKey>
  >
  & Pick<TunnelConfig, "tls" | "targetTls" | "altSvc" | SocketOptionKey>;

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
  autoTls: false,
  upstream: "http1",
  h2c: false,
  connectAllow: [],
  http3: false,
  workers: 1,
};

const KNOWN_KEYS = new Set<string>([
  ...Object.keys(DEFAULT_TUNNEL_CONFIG),
  "listenAddr",
  "targetAddr",
  "readBufferSize",
  "writeBufferSize",
  "tls",
  "targetTls",
  "altSvc",
  ...SOCKET_OPTION_KEYS,
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
  if (!["auto", "splice", "pump", "owned"].includes(resolved.forwardPath)) {
    throw new TypeError(
      `Cannot use TunnelConfig.forwardPath = ${
        JSON.stringify(resolved.forwardPath)
      }: use one of auto, splice, pump, owned`,
    );
  }
  checkListener(resolved, config);
  checkWorkers(resolved);
  checkSocketOptions(resolved);
  checkOwnedPath(resolved, config);
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

function checkWorkers(resolved: ResolvedTunnelConfig): void {
  const { workers, protocol } = resolved;
  if (workers === "auto") return;
  if (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(
      `Cannot use TunnelConfig.workers = ${
        JSON.stringify(workers)
      }: it is the number of accept loops (worker threads), from 1 to ${MAX_WORKERS}; use a positive integer or "auto"`,
    );
  }
  if (workers > 1 && protocol !== "tcp") {
    throw new TypeError(
      `Cannot use TunnelConfig.workers = ${workers} with protocol "${protocol}": only tcp listeners run in several workers; use workers: 1 or "auto"`,
    );
  }
}
