/**
 * The reverse tunnel's YAML: a `server:` or a `client:` section (frp-style), plus the shared
 * `admin`, `log_level` and `log_format` keys. Unknown keys and bad values are rejected with their
 * path, the value and the fix.
 * @module
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { ConfigError, type FileAdminConfig } from "../../forward/config_file.ts";
import { parseDuration } from "../../forward/duration.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../../ha/logger.ts";
import { QUIC_CONGESTION_CONTROLS, type QuicCongestionControl } from "../quic_types.ts";
import type { TlsClientOptions, TlsServerOptions } from "../tls.ts";
import type { TunnelClientConfig, TunnelServerConfig, TunnelServiceConfig } from "./config.ts";

/** A parsed tunnel config file. */
export interface TunnelFileConfig {
  /** The `server` section, if present. */
  readonly server?: { config: TunnelServerConfig; tls?: TlsServerOptions };
  /** The `client` section, if present. */
  readonly client?: { config: TunnelClientConfig; tls?: TlsClientOptions };
  /** The `admin` section. */
  readonly admin?: FileAdminConfig;
  /** `log_level`. */
  readonly logLevel?: LogLevel;
  /** `log_format`. */
  readonly logFormat?: LogFormat;
}

type Mapping = Record<string, unknown>;

const show = (value: unknown) => JSON.stringify(value) ?? String(value);

function mapping(value: unknown, path: string, keys: readonly string[]): Mapping {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(path, `must be a mapping with keys ${keys.join(", ")}`);
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new ConfigError(`${path}.${key}`, `unknown key; allowed keys here: ${keys.join(", ")}`);
    }
  }
  return value as Mapping;
}

function text(m: Mapping, key: string, path: string): string | undefined {
  const value = m[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(`${path}.${key}`, `${show(value)} must be a non-empty string`);
  }
  return value;
}

function count(m: Mapping, key: string, path: string): number | undefined {
  const value = m[key];
  if (value === undefined) return undefined;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw new ConfigError(`${path}.${key}`, `${show(value)} is not a whole number; use for example 100`);
  }
  return n;
}

function duration(m: Mapping, key: string, path: string): number | undefined {
  const value = m[key];
  if (value === undefined) return undefined;
  try {
    if (typeof value !== "string") throw new TypeError(`write it with a unit, for example "5s"`);
    return parseDuration(value);
  } catch (error) {
    throw new ConfigError(`${path}.${key}`, `${show(value)}: ${(error as Error).message}`);
  }
}

/** `quic_congestion_control`: one of {@linkcode QUIC_CONGESTION_CONTROLS}. */
function congestionControl(m: Mapping, path: string): QuicCongestionControl | undefined {
  const value = text(m, "quic_congestion_control", path);
  if (value !== undefined && !QUIC_CONGESTION_CONTROLS.includes(value as QuicCongestionControl)) {
    throw new ConfigError(
      `${path}.quic_congestion_control`,
      `${show(value)} is not a congestion control; use one of ${QUIC_CONGESTION_CONTROLS.join(", ")}`,
    );
  }
  return value as QuicCongestionControl | undefined;
}

/** A token given inline, or read from `token_file` (trailing whitespace trimmed). */
function token(m: Mapping, key: string, path: string): string | undefined {
  const inline = text(m, key, path);
  const file = text(m, `${key}_file`, path);
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError(`${path}.${key}_file`, `give either ${key} or ${key}_file, not both`);
  }
  if (file === undefined) return inline;
  try {
    return readFileSync(file, "utf8").trimEnd();
  } catch (error) {
    throw new ConfigError(`${path}.${key}_file`, `cannot read ${show(file)}: ${(error as Error).message}`);
  }
}

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const SERVER_KEYS = [
  "listen",
  "transport",
  "tls",
  "tokens",
  "auth_token",
  "auth_token_file",
  "port_range",
  "bind_host",
  "max_services_per_client",
  "max_connections_per_service",
  "max_connections",
  "max_clients",
  "heartbeat",
  "heartbeat_misses",
  "handshake_timeout",
  "resume_grace",
  "max_streams_per_session",
  "quic_congestion_control",
] as const;

function parseServer(value: unknown, path: string): NonNullable<TunnelFileConfig["server"]> {
  const m = mapping(value, path, SERVER_KEYS);
  const tokens: Record<string, string> = {};
  if (m.tokens !== undefined) {
    const t = mapping(m.tokens, `${path}.tokens`, Object.keys(m.tokens as object));
    for (const [id, v] of Object.entries(t)) {
      if (typeof v !== "string") throw new ConfigError(`${path}.tokens.${id}`, `${show(v)} must be a string token`);
      tokens[id] = v;
    }
  }
  const listenAddr = text(m, "listen", path);
  if (!listenAddr) throw new ConfigError(`${path}.listen`, 'missing; where clients connect, e.g. ":7000"');
  let tls: TlsServerOptions | undefined;
  if (m.tls !== undefined) {
    const t = mapping(m.tls, `${path}.tls`, ["cert_file", "key_file", "reload_interval"]);
    tls = defined({
      certFile: text(t, "cert_file", `${path}.tls`),
      keyFile: text(t, "key_file", `${path}.tls`),
      reloadIntervalMs: duration(t, "reload_interval", `${path}.tls`),
    });
  }
  const config: TunnelServerConfig = defined({
    listenAddr,
    transport: text(m, "transport", path) as TunnelServerConfig["transport"],
    tokens: Object.keys(tokens).length > 0 ? tokens : undefined,
    authToken: token(m, "auth_token", path),
    portRange: text(m, "port_range", path),
    bindHost: m.bind_host === "" ? "" : text(m, "bind_host", path),
    maxServicesPerClient: count(m, "max_services_per_client", path),
    maxConnectionsPerService: count(m, "max_connections_per_service", path),
    maxConnections: count(m, "max_connections", path),
    maxClients: count(m, "max_clients", path),
    heartbeatMs: duration(m, "heartbeat", path),
    heartbeatMisses: count(m, "heartbeat_misses", path),
    handshakeTimeoutMs: duration(m, "handshake_timeout", path),
    resumeGraceMs: duration(m, "resume_grace", path),
    maxStreamsPerSession: count(m, "max_streams_per_session", path),
    quicCongestionControl: congestionControl(m, path),
  });
  return { config, tls };
}

const CLIENT_KEYS = [
  "server",
  "transport",
  "client_id",
  "token",
  "token_file",
  "tls",
  "services",
  "reconnect_initial",
  "reconnect_max",
  "local_dial_timeout",
  "max_streams_per_session",
  "quic_congestion_control",
] as const;

function parseClient(value: unknown, path: string): NonNullable<TunnelFileConfig["client"]> {
  const m = mapping(value, path, CLIENT_KEYS);
  const serverAddr = text(m, "server", path);
  if (!serverAddr) {
    throw new ConfigError(`${path}.server`, 'missing; the tunnel server, e.g. "tunnel.example.com:7000"');
  }
  const secret = token(m, "token", path);
  if (!secret) throw new ConfigError(`${path}.token`, "missing; the client's token (or token_file)");
  if (!Array.isArray(m.services) || m.services.length === 0) {
    throw new ConfigError(`${path}.services`, "list at least one service: [{name, local, remote_port}]");
  }
  const services = m.services.map((entry, i): TunnelServiceConfig => {
    const at = `${path}.services[${i}]`;
    const s = mapping(entry, at, ["name", "local", "remote_port", "proxy_protocol"]);
    const name = text(s, "name", at);
    const localAddr = text(s, "local", at);
    if (!name) throw new ConfigError(`${at}.name`, "missing; a name for the service, e.g. pg");
    if (!localAddr) throw new ConfigError(`${at}.local`, 'missing; the local target, e.g. "127.0.0.1:5432"');
    return defined({
      name,
      localAddr,
      remotePort: count(s, "remote_port", at),
      proxyProtocol: text(s, "proxy_protocol", at) as TunnelServiceConfig["proxyProtocol"],
    });
  });
  let tls: TlsClientOptions | undefined;
  if (m.tls !== undefined) {
    const t = mapping(m.tls, `${path}.tls`, ["ca_file", "server_name", "insecure"]);
    if (t.insecure !== undefined && typeof t.insecure !== "boolean") {
      throw new ConfigError(`${path}.tls.insecure`, `${show(t.insecure)} is not a boolean; use true or false`);
    }
    tls = defined({
      caFile: text(t, "ca_file", `${path}.tls`),
      serverName: text(t, "server_name", `${path}.tls`),
      insecure: t.insecure as boolean | undefined,
    });
  }
  const config: TunnelClientConfig = defined({
    serverAddr,
    token: secret,
    services,
    transport: text(m, "transport", path) as TunnelClientConfig["transport"],
    clientId: text(m, "client_id", path),
    reconnectInitialMs: duration(m, "reconnect_initial", path),
    reconnectMaxMs: duration(m, "reconnect_max", path),
    localDialTimeoutMs: duration(m, "local_dial_timeout", path),
    maxStreamsPerSession: count(m, "max_streams_per_session", path),
    quicCongestionControl: congestionControl(m, path),
  });
  return { config, tls };
}

/**
 * Parses a tunnel config file.
 *
 * @param source The YAML text.
 * @returns The server and/or client sections, admin and logging.
 * @throws {ConfigError} Naming the key path, the value and the fix.
 */
export function parseTunnelConfigFile(source: string): TunnelFileConfig {
  let doc: unknown;
  try {
    doc = parseYaml(source);
  } catch (error) {
    throw new ConfigError("(file)", `not valid YAML: ${(error as Error).message}`);
  }
  const top = mapping(doc ?? {}, "(top level)", ["server", "client", "admin", "log_level", "log_format", "version"]);
  if (top.server === undefined && top.client === undefined) {
    throw new ConfigError("(top level)", "needs a server: or a client: section");
  }
  const logLevel = text(top, "log_level", "log_level");
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError("log_level", `${show(logLevel)} is not a level; use one of ${LOG_LEVELS.join(", ")}`);
  }
  const logFormat = text(top, "log_format", "log_format");
  if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat as LogFormat)) {
    throw new ConfigError("log_format", `${show(logFormat)} is not a format; use one of ${LOG_FORMATS.join(", ")}`);
  }
  let admin: FileAdminConfig | undefined;
  if (top.admin !== undefined) {
    const a = mapping(top.admin, "admin", ["listen", "metrics", "metrics_namespace"]);
    const listen = text(a, "listen", "admin");
    if (!listen) throw new ConfigError("admin.listen", 'missing; e.g. "127.0.0.1:9090"');
    admin = defined({
      listen,
      metrics: a.metrics as boolean | undefined,
      metricsNamespace: text(a, "metrics_namespace", "admin"),
    });
  }
  return defined({
    server: top.server === undefined ? undefined : parseServer(top.server, "server"),
    client: top.client === undefined ? undefined : parseClient(top.client, "client"),
    admin,
    logLevel: logLevel as LogLevel | undefined,
    logFormat: logFormat as LogFormat | undefined,
  });
}
