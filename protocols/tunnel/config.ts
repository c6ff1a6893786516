/**
 * Configuration of the reverse tunnel's server and client, with defaults in one place and
 * validation that names the key, the value and the fix.
 * @module
 */
import { QUIC_CONGESTION_CONTROLS, type QuicCongestionControl } from "../quic_types.ts";
import { CLIENT_ID_PATTERN } from "./messages.ts";
import { DEFAULT_MAX_STREAMS } from "./mux.ts";
import type { ProxyProtocolVersion } from "./proxy_protocol.ts";
import type { TunnelTransportKind } from "./transport.ts";

/** A service name: 1–64 characters of `[A-Za-z0-9._-]`. */
export const SERVICE_NAME_PATTERN: RegExp = /^[A-Za-z0-9._-]{1,64}$/;
/** Shortest token accepted, in bytes. */
export const MIN_TOKEN_BYTES = 16;
/** Largest `maxStreamsPerSession` accepted (each stream may buffer a 256 KiB window per direction). */
export const MAX_STREAMS_PER_SESSION = 65_536;
/**
 * The tunnel's QUIC congestion control unless configured: BBR, because a session carries
 * interactive connections beside bulk ones (round trips under a bulk transfer stay near their idle
 * value, for somewhat less bulk throughput).
 */
export const DEFAULT_TUNNEL_QUIC_CONGESTION_CONTROL: QuicCongestionControl = "low-latency";

/** Defaults for {@linkcode TunnelServerConfig}. */
export const DEFAULT_TUNNEL_SERVER_CONFIG = {
  transport: "tls" as TunnelTransportKind,
  bindHost: "",
  portRange: "10000-20000",
  maxServicesPerClient: 16,
  maxConnectionsPerService: 1_000,
  maxConnections: 10_000,
  maxClients: 1_000,
  heartbeatMs: 5_000,
  heartbeatMisses: 3,
  handshakeTimeoutMs: 10_000,
  resumeGraceMs: 30_000,
  authFailuresPerMinute: 5,
  authFailureBurst: 10,
  streamOpenTimeoutMs: 10_000,
  maxStreamsPerSession: DEFAULT_MAX_STREAMS,
  quicCongestionControl: DEFAULT_TUNNEL_QUIC_CONGESTION_CONTROL,
};

/** The server: where it listens, who may connect, and what they may expose. */
export interface TunnelServerConfig {
  /** Where clients connect, e.g. `":7000"`. */
  listenAddr: string;
  /** `tls` (default) or `tcp` (unencrypted; trusted networks and tests only). @default {"tls"} */
  transport?: TunnelTransportKind;
  /** Per-client tokens: client id → token (at least 16 bytes). */
  tokens?: Record<string, string>;
  /** go-tunnel's `AuthToken`: one token any client id may use. Per-client `tokens` are preferred. */
  authToken?: string;
  /** Public ports clients may use, `"10000-20000"`. @default {"10000-20000"} */
  portRange?: string;
  /** Host the public listeners bind; empty = every interface. @default {""} */
  bindHost?: string;
  /** Services one client may register (go-tunnel's `MaxTunnels` per client). @default {16} */
  maxServicesPerClient?: number;
  /** Open connections per service (go-tunnel's `MaxConnsPerTunnel`). @default {1000} */
  maxConnectionsPerService?: number;
  /** Open public connections in all. @default {10000} */
  maxConnections?: number;
  /** Clients with a session or within their resume grace period. @default {1000} */
  maxClients?: number;
  /** Interval between pings; sent to clients in `welcome`. @default {5000} */
  heartbeatMs?: number;
  /** Unanswered pings that end a session. @default {3} */
  heartbeatMisses?: number;
  /** Deadline from connect to `welcome`. @default {10000} */
  handshakeTimeoutMs?: number;
  /** How long a vanished client's public ports are kept for it to resume. @default {30000} */
  resumeGraceMs?: number;
  /** Failed authentications per source IP per minute before that IP is refused. @default {5} */
  authFailuresPerMinute?: number;
  /** Burst of failed authentications per source IP. @default {10} */
  authFailureBurst?: number;
  /**
   * Deadline for opening a stream to the client for a public connection. Opens in one time slot
   * share a timer, so an open may wait up to a tenth longer (at most 1 s more). @default {10000}
   */
  streamOpenTimeoutMs?: number;
  /**
   * Forwarded connections one client session may carry at once. Over TLS/TCP a public connection
   * beyond it is closed at once (and counted as refused); over QUIC the server also advertises it
   * (the client's own value bounds the streams the server opens: the open waits for stream credit,
   * on Deno up to `streamOpenTimeoutMs`). 1 to 65536. @default {1024}
   */
  maxStreamsPerSession?: number;
  /**
   * Congestion control of the server's QUIC sender (transport `quic`): `"low-latency"` (BBR),
   * `"throughput"` (CUBIC) or `"default"` (the runtime's). @default {"low-latency"}
   */
  quicCongestionControl?: QuicCongestionControl;
}

/** A service the client exposes. */
export interface TunnelServiceConfig {
  /** Name, unique per client. */
  name: string;
  /** The local target, `"127.0.0.1:5432"`: the only address the client ever dials for it. */
  localAddr: string;
  /** Public port to ask for; omitted = any free port in the server's range. */
  remotePort?: number;
  /** Send a PROXY protocol header to the local service first. @default {undefined} */
  proxyProtocol?: ProxyProtocolVersion;
}

/** Defaults for {@linkcode TunnelClientConfig}. */
export const DEFAULT_TUNNEL_CLIENT_CONFIG = {
  transport: "tls" as TunnelTransportKind | "auto",
  reconnectInitialMs: 500,
  reconnectMaxMs: 30_000,
  handshakeTimeoutMs: 10_000,
  localDialTimeoutMs: 5_000,
  quicFallbackMs: 3_000,
  maxStreamsPerSession: DEFAULT_MAX_STREAMS,
  quicCongestionControl: DEFAULT_TUNNEL_QUIC_CONGESTION_CONTROL,
};

/** The client: which server, which identity, which services. */
export interface TunnelClientConfig {
  /** The server, `"tunnel.example.com:7000"`. */
  serverAddr: string;
  /** Client id the server knows the token by. @default {"default"} */
  clientId?: string;
  /** The client's token (at least 16 bytes). */
  token: string;
  /** `tls` (default), `quic`, `auto` (QUIC, falling back to TLS) or `tcp` (unencrypted). @default {"tls"} */
  transport?: TunnelTransportKind | "auto";
  /** Services to expose. */
  services: TunnelServiceConfig[];
  /** First reconnect delay; doubles with full jitter up to `reconnectMaxMs`. @default {500} */
  reconnectInitialMs?: number;
  /** Largest reconnect delay. @default {30000} */
  reconnectMaxMs?: number;
  /** Deadline from connect to `welcome`. @default {10000} */
  handshakeTimeoutMs?: number;
  /** Deadline for connecting a local service. @default {5000} */
  localDialTimeoutMs?: number;
  /** With `auto`: how long QUIC may take before TLS is tried. @default {3000} */
  quicFallbackMs?: number;
  /**
   * Forwarded connections the session may carry at once: the server's further streams are reset
   * (TLS/TCP) or wait for stream credit (QUIC, where it is the advertised stream limit; Bun
   * advertises 50 to 100 whatever is set). 1 to 65536. @default {1024}
   */
  maxStreamsPerSession?: number;
  /**
   * Congestion control of the client's QUIC sender (transport `quic` or `auto`): `"low-latency"`
   * (BBR), `"throughput"` (CUBIC) or `"default"` (the runtime's). @default {"low-latency"}
   */
  quicCongestionControl?: QuicCongestionControl;
}

/** A server config with every default applied. */
export type ResolvedTunnelServerConfig = Required<Omit<TunnelServerConfig, "authToken" | "tokens">> & {
  readonly tokens: ReadonlyMap<string, string>;
  readonly sharedToken: string | undefined;
  readonly portMin: number;
  readonly portMax: number;
};

/** A client config with every default applied. */
export type ResolvedTunnelClientConfig = Required<TunnelClientConfig>;

function fail(owner: string, key: string, value: unknown, fix: string): never {
  throw new RangeError(`Cannot use ${owner}.${key} = ${JSON.stringify(value)}: ${fix}`);
}

function checkCount(owner: string, key: string, value: unknown, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(owner, key, value, `it must be an integer from ${min} to ${max}`);
  }
}

function checkCongestionControl(owner: string, value: unknown): void {
  if (!QUIC_CONGESTION_CONTROLS.includes(value as QuicCongestionControl)) {
    const names = QUIC_CONGESTION_CONTROLS.join(", ").replace(/, ([^,]+)$/, " or $1");
    fail(owner, "quicCongestionControl", value, `use ${names}`);
  }
}

function checkToken(owner: string, key: string, token: unknown): void {
  if (typeof token !== "string" || new TextEncoder().encode(token).byteLength < MIN_TOKEN_BYTES) {
    const shown = typeof token === "string" ? `a ${token.length}-character string` : token;
    throw new RangeError(
      `Cannot use ${owner}.${key} = ${typeof token === "string" ? shown : JSON.stringify(shown)}: a token must be a ` +
        `string of at least ${MIN_TOKEN_BYTES} bytes; generate one with "openssl rand -hex 32"`,
    );
  }
}

/**
 * Parses a port range such as `"10000-20000"` (or a single port `"15432"`).
 *
 * @param text The range.
 * @returns The lowest and highest port.
 * @throws {RangeError} If it is not a range of ports from 1 to 65535 with min <= max.
 */
export function parsePortRange(text: string): { min: number; max: number } {
  const match = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  const min = match ? Number(match[1]) : NaN;
  const max = match ? Number(match[2] ?? match[1]) : NaN;
  if (!(min >= 1 && max <= 65535 && min <= max)) {
    throw new RangeError(
      `Cannot use port range "${text}": write it as MIN-MAX with 1 <= MIN <= MAX <= 65535, e.g. "10000-20000"`,
    );
  }
  return { min, max };
}

const SERVER_KEYS = new Set([...Object.keys(DEFAULT_TUNNEL_SERVER_CONFIG), "listenAddr", "tokens", "authToken"]);

/**
 * Applies the defaults and checks every value.
 *
 * @param config The server config.
 * @returns The resolved config.
 * @throws {TypeError} For unknown keys or missing values.
 * @throws {RangeError} For values out of bounds, naming the key, the value and the fix.
 */
export function resolveTunnelServerConfig(config: TunnelServerConfig): ResolvedTunnelServerConfig {
  const owner = "TunnelServerConfig";
  for (const key of Object.keys(config)) {
    if (!SERVER_KEYS.has(key)) throw new TypeError(`Cannot use ${owner}.${key}: unknown key; check its spelling`);
  }
  if (typeof config.listenAddr !== "string" || !config.listenAddr) {
    throw new TypeError(
      `Cannot use ${owner}.listenAddr = ${JSON.stringify(config.listenAddr)}: it must be "host:port"`,
    );
  }
  const { tokens = {}, authToken, ...rest } = config;
  const resolved = { ...DEFAULT_TUNNEL_SERVER_CONFIG, ...rest };
  if (!["tls", "tcp", "quic"].includes(resolved.transport)) {
    fail(owner, "transport", resolved.transport, "use tls, quic or tcp");
  }
  const map = new Map<string, string>();
  for (const [id, token] of Object.entries(tokens)) {
    if (!CLIENT_ID_PATTERN.test(id)) {
      fail(owner, `tokens[${JSON.stringify(id)}]`, id, "a client id is 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    checkToken(owner, `tokens[${JSON.stringify(id)}]`, token);
    map.set(id, token);
  }
  if (authToken !== undefined) checkToken(owner, "authToken", authToken);
  if (map.size === 0 && authToken === undefined) {
    throw new TypeError(
      `Cannot use ${owner}: no client could authenticate; set tokens (client id -> token) or authToken`,
    );
  }
  const { min, max } = parsePortRange(resolved.portRange);
  checkCount(owner, "maxServicesPerClient", resolved.maxServicesPerClient, 1, 10_000);
  checkCount(owner, "maxConnectionsPerService", resolved.maxConnectionsPerService, 1, 1_000_000);
  checkCount(owner, "maxConnections", resolved.maxConnections, 1, 1_000_000);
  checkCount(owner, "maxClients", resolved.maxClients, 1, 1_000_000);
  checkCount(owner, "heartbeatMs", resolved.heartbeatMs, 10, 3_600_000);
  checkCount(owner, "heartbeatMisses", resolved.heartbeatMisses, 1, 1_000);
  checkCount(owner, "handshakeTimeoutMs", resolved.handshakeTimeoutMs, 1, 3_600_000);
  checkCount(owner, "resumeGraceMs", resolved.resumeGraceMs, 0, 86_400_000);
  checkCount(owner, "authFailuresPerMinute", resolved.authFailuresPerMinute, 1, 1_000_000);
  checkCount(owner, "authFailureBurst", resolved.authFailureBurst, 1, 1_000_000);
  checkCount(owner, "streamOpenTimeoutMs", resolved.streamOpenTimeoutMs, 1, 3_600_000);
  checkCount(owner, "maxStreamsPerSession", resolved.maxStreamsPerSession, 1, MAX_STREAMS_PER_SESSION);
  checkCongestionControl(owner, resolved.quicCongestionControl);
  return { ...resolved, tokens: map, sharedToken: authToken, portMin: min, portMax: max } as ResolvedTunnelServerConfig;
}

const CLIENT_KEYS = new Set([
  ...Object.keys(DEFAULT_TUNNEL_CLIENT_CONFIG),
  "serverAddr",
  "clientId",
  "token",
  "services",
]);

/**
 * Applies the defaults and checks every value.
 *
 * @param config The client config.
 * @returns The resolved config.
 * @throws {TypeError} For unknown keys or missing values.
 * @throws {RangeError} For values out of bounds, naming the key, the value and the fix.
 */
export function resolveTunnelClientConfig(config: TunnelClientConfig): ResolvedTunnelClientConfig {
  const owner = "TunnelClientConfig";
  for (const key of Object.keys(config)) {
    if (!CLIENT_KEYS.has(key)) throw new TypeError(`Cannot use ${owner}.${key}: unknown key; check its spelling`);
  }
  if (typeof config.serverAddr !== "string" || !config.serverAddr) {
    throw new TypeError(
      `Cannot use ${owner}.serverAddr = ${JSON.stringify(config.serverAddr)}: it must be "host:port"`,
    );
  }
  const resolved = { ...DEFAULT_TUNNEL_CLIENT_CONFIG, clientId: "default", ...config };
  if (!["tls", "tcp", "quic", "auto"].includes(resolved.transport)) {
    fail(owner, "transport", resolved.transport, "use tls, quic, auto or tcp");
  }
  if (!CLIENT_ID_PATTERN.test(resolved.clientId)) {
    fail(owner, "clientId", resolved.clientId, "a client id is 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  checkToken(owner, "token", resolved.token);
  if (!Array.isArray(resolved.services) || resolved.services.length === 0) {
    throw new TypeError(`Cannot use ${owner}.services: list at least one service ({ name, localAddr, remotePort? })`);
  }
  const names = new Set<string>();
  resolved.services.forEach((s, i) => {
    const at = `services[${i}]`;
    if (typeof s?.name !== "string" || !SERVICE_NAME_PATTERN.test(s.name)) {
      fail(owner, `${at}.name`, s?.name, "a service name is 1-64 characters of A-Z a-z 0-9 . _ -");
    }
    if (names.has(s.name)) fail(owner, `${at}.name`, s.name, "service names must be unique");
    names.add(s.name);
    if (typeof s.localAddr !== "string" || !s.localAddr) {
      fail(owner, `${at}.localAddr`, s.localAddr, 'it must be "host:port", e.g. "127.0.0.1:5432"');
    }
    if (s.remotePort !== undefined) checkCount(owner, `${at}.remotePort`, s.remotePort, 1, 65535);
    if (s.proxyProtocol !== undefined && s.proxyProtocol !== "v1" && s.proxyProtocol !== "v2") {
      fail(owner, `${at}.proxyProtocol`, s.proxyProtocol, 'use "v1" or "v2", or leave it out');
    }
  });
  checkCount(owner, "reconnectInitialMs", resolved.reconnectInitialMs, 1, 3_600_000);
  checkCount(owner, "reconnectMaxMs", resolved.reconnectMaxMs, resolved.reconnectInitialMs, 3_600_000);
  checkCount(owner, "handshakeTimeoutMs", resolved.handshakeTimeoutMs, 1, 3_600_000);
  checkCount(owner, "localDialTimeoutMs", resolved.localDialTimeoutMs, 1, 3_600_000);
  checkCount(owner, "quicFallbackMs", resolved.quicFallbackMs, 1, 3_600_000);
  checkCount(owner, "maxStreamsPerSession", resolved.maxStreamsPerSession, 1, MAX_STREAMS_PER_SESSION);
  checkCongestionControl(owner, resolved.quicCongestionControl);
  return resolved as ResolvedTunnelClientConfig;
}
