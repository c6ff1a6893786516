/**
 * The YAML config file: go-tunnel's schema (`protocols: [{name, listen, target, enabled}]`, `tls`,
 * `options`, `log_level`) works as it is; ts-tunnel adds tuning keys per listener. Unknown keys
 * and bad values are rejected with their path, the value and the fix.
 * @module
 */
import { parse as parseYaml } from "yaml";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../ha/logger.ts";
import { parseDialAddr, parseListenAddr } from "../protocols/address.ts";
import { PROTOCOL_NAMES } from "../protocols/registry.ts";
import type { ProtocolName } from "../protocols/types.ts";
import type { AutoTlsSettings } from "../tls/auto_tls.ts";
import { type ForwardPathMode, resolveTunnelConfig, type TunnelConfig } from "./config.ts";
import { parseDuration } from "./duration.ts";
import { PRESETS } from "./presets.ts";
import { parseListenerTls, parseTargetTls, TLS_SECTION_KEYS } from "./_config_file_tls.ts";
import { parseAutoTls } from "./_config_file_acme.ts";
import { checkKeys, ConfigError, isMapping, type Mapping, show } from "./_config_yaml.ts";

export { ConfigError };

/** The config file's `admin` section. */
export interface FileAdminConfig {
  /** `admin.listen`: where the admin server listens. */
  readonly listen: string;
  /** `admin.metrics`: export `/metrics`. @default {true} */
  readonly metrics?: boolean;
  /** `admin.metrics_namespace`. @default {"ts_tunnel"} */
  readonly metricsNamespace?: string;
}

/** A config file, validated. */
export interface FileConfig {
  /** The `admin` section, if present. */
  readonly admin?: FileAdminConfig;
  /** `log_level`. @default {"info"} */
  readonly logLevel?: LogLevel;
  /** `log_format`. @default {"text"} */
  readonly logFormat?: LogFormat;
  /** One tunnel per enabled `protocols` entry. */
  readonly tunnels: readonly TunnelConfig[];
  /**
   * Automatic TLS, from go-tunnel's `options` (`auto_tls: "true"`, `email`, `domains`, `staging`,
   * `dns_provider`) and the `acme` section; the `tls`/`http2` entries marked `autoTls` use it.
   */
  readonly autoTls?: AutoTlsSettings;
  /** Things that are accepted but have no effect, for the log. */
  readonly warnings: readonly string[];
}

/** Tuning keys a `protocols` entry (or its `options` map) may carry, and how each maps to TunnelConfig. */
const ENTRY_TUNING: Record<
  string,
  { field: keyof TunnelConfig; kind: "duration" | "seconds" | "size" | "count" | "bool" | "fastOpen" }
> = {
  max_connections: { field: "maxConnections", kind: "count" },
  idle_timeout: { field: "connectionTimeoutMs", kind: "duration" },
  connection_timeout: { field: "connectionTimeoutMs", kind: "duration" },
  accept_timeout: { field: "acceptTimeoutMs", kind: "duration" },
  dial_timeout: { field: "dialTimeoutMs", kind: "duration" },
  drain_timeout: { field: "drainTimeoutMs", kind: "duration" },
  buffer_size: { field: "bufferSize", kind: "size" },
  read_buffer_size: { field: "readBufferSize", kind: "size" },
  write_buffer_size: { field: "writeBufferSize", kind: "size" },
  write_buffer_pool: { field: "writeBufferPool", kind: "bool" },
  backpressure_high_watermark: { field: "backpressureHighWatermark", kind: "size" },
  backpressure_low_watermark: { field: "backpressureLowWatermark", kind: "size" },
  tcp_no_delay: { field: "tcpNoDelay", kind: "bool" },
  tcp_keep_alive: { field: "tcpKeepAlive", kind: "bool" },
  max_connections_per_ip: { field: "maxConnectionsPerIp", kind: "count" },
  accept_rate: { field: "acceptRatePerSecond", kind: "count" },
  accept_burst: { field: "acceptBurst", kind: "count" },
  max_buffered_bytes: { field: "maxBufferedBytes", kind: "size" },
  dial_attempts: { field: "dialAttempts", kind: "count" },
  dial_retry_initial_delay: { field: "dialRetryInitialDelayMs", kind: "duration" },
  dial_retry_max_delay: { field: "dialRetryMaxDelayMs", kind: "duration" },
  breaker_failure_threshold: { field: "breakerFailureThreshold", kind: "count" },
  breaker_success_threshold: { field: "breakerSuccessThreshold", kind: "count" },
  breaker_cooldown: { field: "breakerCooldownMs", kind: "duration" },
  upstream_pool_size: { field: "upstreamPoolSize", kind: "count" },
  upstream_pool_max_age: { field: "upstreamPoolMaxAgeMs", kind: "duration" },
  tcp_quick_ack: { field: "tcpQuickAck", kind: "bool" },
  tcp_fast_open: { field: "tcpFastOpen", kind: "fastOpen" },
  send_buffer_size: { field: "sendBufferSize", kind: "size" },
  recv_buffer_size: { field: "recvBufferSize", kind: "size" },
  keep_alive_idle: { field: "keepAliveIdleSeconds", kind: "seconds" },
  keep_alive_interval: { field: "keepAliveIntervalSeconds", kind: "seconds" },
  keep_alive_count: { field: "keepAliveCount", kind: "count" },
  not_sent_lowat: { field: "notSentLowat", kind: "size" },
};
const ENTRY_KEYS = [
  "name",
  "listen",
  "target",
  "enabled",
  "preset",
  "forward_path",
  "workers",
  "options",
  "tls",
  "target_tls",
  "upstream",
  "h2c",
  "connect_allow",
  "alt_svc",
  "http3",
  ...Object.keys(ENTRY_TUNING),
];

/** The http2 keys of an entry (`upstream` also applies to http3). */
function parseHttp2Keys(entry: Mapping, path: string): Partial<TunnelConfig> {
  const out: Partial<TunnelConfig> = {};
  const { upstream, h2c, connect_allow, alt_svc, http3 } = entry;
  const used = (["upstream", "h2c", "connect_allow", "alt_svc", "http3"] as const).find((key) =>
    entry[key] !== undefined && !(key === "upstream" && entry.name === "http3")
  );
  if (used && entry.name !== "http2") {
    throw new ConfigError(
      `${path}.${used}`,
      used === "upstream"
        ? "applies to an http2 or http3 listener; set name: http2 (or http3), or remove it"
        : "applies to an http2 listener; set name: http2, or remove it",
    );
  }
  if (http3 !== undefined) {
    if (typeof http3 !== "boolean") {
      throw new ConfigError(`${path}.http3`, `${show(http3)} is not a boolean; use true or false`);
    }
    if (http3 && h2c === true) {
      throw new ConfigError(
        `${path}.http3`,
        "cannot be combined with h2c: HTTP/3 runs over QUIC, which is always encrypted; remove h2c and set tls.cert_file and tls.key_file",
      );
    }
    out.http3 = http3;
  }
  if (upstream !== undefined) {
    if (upstream !== "http1" && upstream !== "h2c") {
      throw new ConfigError(`${path}.upstream`, `${show(upstream)} is not an upstream protocol; use http1 or h2c`);
    }
    out.upstream = upstream;
  }
  if (h2c !== undefined) {
    if (typeof h2c !== "boolean") {
      throw new ConfigError(`${path}.h2c`, `${show(h2c)} is not a boolean; use true or false`);
    }
    out.h2c = h2c;
  }
  if (connect_allow !== undefined) {
    if (!Array.isArray(connect_allow) || !connect_allow.every((p) => typeof p === "string" && p !== "")) {
      throw new ConfigError(
        `${path}.connect_allow`,
        `${
          show(connect_allow)
        } is not a list of host:port patterns; write for example ["db.internal:5432", "*.example.com:443"]`,
      );
    }
    out.connectAllow = connect_allow as string[];
  }
  if (alt_svc !== undefined) {
    if (!(typeof alt_svc === "number" || (typeof alt_svc === "string" && alt_svc.trim() !== ""))) {
      throw new ConfigError(
        `${path}.alt_svc`,
        `${show(alt_svc)} is not an Alt-Svc; give the HTTP/3 port (443) or the header value ('h3=":443"; ma=86400')`,
      );
    }
    out.altSvc = alt_svc;
  }
  return out;
}

/** Parses `"64KiB"`, `"1MiB"`, `"65536"` or a number into bytes. */
export function parseSize(value: unknown, path: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  const match = typeof value === "string" ? /^\s*(\d+)\s*(|B|KiB|KB|K|MiB|MB|M|GiB|GB|G)\s*$/i.exec(value) : null;
  if (!match) {
    throw new ConfigError(path, `${show(value)} is not a size; use bytes or a unit, for example 65536 or 64KiB`);
  }
  const unit = match[2].toLowerCase();
  const scale = unit.startsWith("g") ? 1024 ** 3 : unit.startsWith("m") ? 1024 ** 2 : unit.startsWith("k") ? 1024 : 1;
  return Number(match[1]) * scale;
}

function tuningValue(kind: string, value: unknown, path: string): number | boolean {
  switch (kind) {
    case "duration":
      if (typeof value !== "string") {
        throw new ConfigError(
          path,
          `${show(value)} is not a duration; write it with a unit, for example "30s" or "5m"`,
        );
      }
      try {
        return parseDuration(value);
      } catch (error) {
        throw new ConfigError(path, (error as Error).message);
      }
    case "seconds": {
      const ms = tuningValue("duration", value, path) as number;
      if (ms % 1000 !== 0 || ms === 0) {
        throw new ConfigError(path, `${show(value)} is not a whole number of seconds; use for example "30s" or "1m"`);
      }
      return ms / 1000;
    }
    case "fastOpen":
      if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) {
        return tuningValue("count", value, path);
      }
      if (typeof value === "boolean" || value === "true" || value === "false") return tuningValue("bool", value, path);
      throw new ConfigError(path, `${show(value)} is not Fast Open; use true, false or a queue length (e.g. 256)`);
    case "size":
      return parseSize(value, path);
    case "count":
      if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
      if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
      throw new ConfigError(path, `${show(value)} is not a whole number; use for example 1000 (0 means no limit)`);
    default:
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "false") return value === "true";
      throw new ConfigError(path, `${show(value)} is not a boolean; use true or false`);
  }
}

function parseEntry(
  entry: unknown,
  path: string,
  topTls: Mapping | undefined,
  autoTls: boolean,
): TunnelConfig | undefined {
  if (!isMapping(entry)) throw new ConfigError(path, "each entry must be a mapping with name, listen and target");
  checkKeys(entry, path, ENTRY_KEYS);
  const { name = "tcp", listen, target, enabled = true, preset, options = {} } = entry;
  if (typeof enabled !== "boolean") {
    throw new ConfigError(`${path}.enabled`, `${show(enabled)} is not a boolean; use true or false`);
  }
  if (!enabled) return undefined;
  if (typeof name !== "string" || !PROTOCOL_NAMES.includes(name as ProtocolName)) {
    throw new ConfigError(`${path}.name`, `${show(name)} is not a protocol; use one of ${PROTOCOL_NAMES.join(", ")}`);
  }
  for (const [key, value, parse] of [["listen", listen, parseListenAddr], ["target", target, parseDialAddr]] as const) {
    if (typeof value !== "string") {
      throw new ConfigError(`${path}.${key}`, `missing or not a string; write "host:port", for example ":8080"`);
    }
    try {
      parse(value);
    } catch (error) {
      throw new ConfigError(`${path}.${key}`, (error as Error).message);
    }
  }
  let config: TunnelConfig = {
    protocol: name as ProtocolName,
    listenAddr: listen as string,
    targetAddr: target as string,
  };
  if (preset !== undefined) {
    const make = typeof preset === "string" ? PRESETS[preset] : undefined;
    if (!make) {
      throw new ConfigError(
        `${path}.preset`,
        `${show(preset)} is not a preset; use one of ${Object.keys(PRESETS).join(", ")}`,
      );
    }
    config = { ...make(), ...config };
  }
  if (entry.forward_path !== undefined) {
    if (!["auto", "splice", "pump", "owned"].includes(entry.forward_path as string)) {
      throw new ConfigError(
        `${path}.forward_path`,
        `${show(entry.forward_path)} is not a path; use one of auto, splice, pump, owned`,
      );
    }
    config.forwardPath = entry.forward_path as ForwardPathMode;
  }
  if (entry.workers !== undefined) {
    const { workers } = entry;
    if (workers !== "auto" && !(typeof workers === "number" && Number.isInteger(workers) && workers >= 1)) {
      throw new ConfigError(
        `${path}.workers`,
        `${show(workers)} is not a number of accept loops; use a positive integer or auto`,
      );
    }
    config.workers = workers;
  }
  Object.assign(config, parseHttp2Keys(entry, path), parseListenerTls(entry, path, topTls, autoTls));
  const targetTls = parseTargetTls(entry.target_tls, `${path}.target_tls`);
  if (targetTls) config.targetTls = targetTls;
  if (!isMapping(options)) throw new ConfigError(`${path}.options`, "must be a mapping of option names to values");
  checkKeys(options, `${path}.options`, Object.keys(ENTRY_TUNING));
  for (const [where, map] of [[`${path}.options`, options], [path, entry]] as const) {
    for (const [key, spec] of Object.entries(ENTRY_TUNING)) {
      if (map[key] !== undefined) {
        (config as unknown as Record<string, unknown>)[spec.field] = tuningValue(
          spec.kind,
          map[key],
          `${where}.${key}`,
        );
      }
    }
  }
  try {
    resolveTunnelConfig(config);
  } catch (error) {
    throw new ConfigError(path, (error as Error).message);
  }
  return config;
}

/**
 * Parses and validates a YAML config file's text.
 *
 * @param text The YAML text.
 * @returns The validated config.
 * @throws {ConfigError} Naming the key path, the value and the fix.
 */
export function parseConfigFile(text: string): FileConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new ConfigError("(file)", `not valid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!isMapping(doc)) throw new ConfigError("(file)", "the file must be a YAML mapping with a protocols list");
  checkKeys(doc, "", ["version", "log_level", "log_format", "protocols", "tls", "options", "acme", "admin"]);
  const { log_level, log_format, protocols, tls, options, acme } = doc;
  const admin = doc.admin === undefined ? undefined : parseAdmin(doc.admin);
  if (log_level !== undefined && !LOG_LEVELS.includes(log_level as LogLevel)) {
    throw new ConfigError("log_level", `${show(log_level)} is not a level; use one of ${LOG_LEVELS.join(", ")}`);
  }
  if (log_format !== undefined && !LOG_FORMATS.includes(log_format as LogFormat)) {
    throw new ConfigError("log_format", `${show(log_format)} is not a format; use one of ${LOG_FORMATS.join(", ")}`);
  }
  if (!Array.isArray(protocols) || protocols.length === 0) {
    throw new ConfigError("protocols", "must be a list with at least one entry (name, listen, target)");
  }
  if (tls !== undefined) {
    if (!isMapping(tls)) throw new ConfigError("tls", "must be a mapping with cert_file, key_file and ca_file");
    checkKeys(tls, "tls", TLS_SECTION_KEYS);
  }
  const topTls = tls as Mapping | undefined;
  const autoTls = parseAutoTls(options, acme, topTls);
  const tunnels = protocols.map((entry, i) => parseEntry(entry, `protocols[${i}]`, topTls, autoTls !== undefined))
    .filter((t) => t !== undefined);
  if (tunnels.length === 0) {
    throw new ConfigError("protocols", "no entry is enabled; set enabled: true on at least one");
  }
  const warnings: string[] = [];
  if (tls !== undefined && tunnels.every((t) => t.protocol === "tcp" || t.h2c)) {
    warnings.push("tls: not used, because every listener is plain tcp");
  }
  if (autoTls && !tunnels.some((t) => t.autoTls)) {
    warnings.push(
      "options.auto_tls: not used, because no enabled tls or http2 listener takes its certificate from ACME",
    );
  }
  return {
    autoTls,
    admin,
    logLevel: log_level as LogLevel | undefined,
    logFormat: log_format as LogFormat | undefined,
    tunnels,
    warnings,
  };
}

function parseAdmin(admin: unknown): FileAdminConfig {
  if (!isMapping(admin)) throw new ConfigError("admin", 'must be a mapping, for example {listen: "127.0.0.1:9090"}');
  checkKeys(admin, "admin", ["listen", "metrics", "metrics_namespace"]);
  const { listen, metrics, metrics_namespace } = admin;
  if (typeof listen !== "string") {
    throw new ConfigError("admin.listen", 'missing or not a string; write "host:port", for example "127.0.0.1:9090"');
  }
  try {
    parseListenAddr(listen);
  } catch (error) {
    throw new ConfigError("admin.listen", (error as Error).message);
  }
  if (metrics !== undefined && typeof metrics !== "boolean") {
    throw new ConfigError("admin.metrics", `${show(metrics)} is not a boolean; use true or false`);
  }
  if (
    metrics_namespace !== undefined &&
    !(typeof metrics_namespace === "string" && /^[a-zA-Z_][a-zA-Z0-9_]*$/.test(metrics_namespace))
  ) {
    throw new ConfigError(
      "admin.metrics_namespace",
      `${show(metrics_namespace)} is not a metric prefix; use letters, digits and underscores, for example ts_tunnel`,
    );
  }
  return { listen, metrics: metrics as boolean | undefined, metricsNamespace: metrics_namespace as string | undefined };
}
