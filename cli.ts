/**
 * The `ts-tunnel` command line: `forward` (default), `run -config FILE`, `server` and `client`
 * (the reverse tunnel), `cert status|renew|revoke` (automatic TLS), `demo`, `version`.
 * go-tunnel's flags work as they are (`-protocol tcp -listen :8080 -target 127.0.0.1:80
 * -config f.yaml -cert -key -auto-tls -email -domains -staging -dns-provider -version`), and so
 * do `--long` forms.
 *
 * @example Forward a port
 * ```sh
 * deno run -A cli.ts -listen :8080 -target 127.0.0.1:80
 * bun cli.ts -config tunnels.yaml
 * ```
 * @module
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import denoJson from "./deno.json" with { type: "json" };
import {
  type FlagSpec,
  formatFlags,
  parseFlags,
  SOCKET_FLAGS,
  socketFromFlags,
  TLS_FLAGS,
  tlsFromFlags,
  UsageError,
} from "./forward/cli_flags.ts";
import { AUTO_TLS_FLAGS, autoTlsFromFlags } from "./forward/cli_auto_tls.ts";
import { HTTP2_FLAGS, http2FromFlags } from "./forward/cli_http_flags.ts";
import { DEFAULT_TUNNEL_CONFIG, resolveTunnelConfig, type TunnelConfig } from "./forward/config.ts";
import { ConfigError, type FileAdminConfig, parseConfigFile, parseSize } from "./forward/config_file.ts";
import { formatDuration, parseDuration } from "./forward/duration.ts";
import { PRESETS } from "./forward/presets.ts";
import type { Tunnel } from "./forward/tunnel.ts";
import { startDemoTargets } from "./forward/demo.ts";
import { type AdminConfig, type ServeContext, serveTunnels } from "./forward/serve.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, Logger, type LogLevel, type LogSink } from "./ha/logger.ts";
import { StatusLine } from "./ha/status_line.ts";
import { parseDialAddr, parseListenAddr } from "./protocols/address.ts";
import { defaultRuntime, type Runtime } from "./protocols/runtime.ts";
import { NetError } from "./protocols/errors.ts";
import { PROTOCOL_NAMES } from "./protocols/registry.ts";
import type { AutoTlsSettings } from "./tls/auto_tls.ts";

/** The version, from deno.json. */
export const VERSION: string = denoJson.version;

/** Where the CLI writes, and whether stderr is a terminal. Injectable for tests. */
export interface CliIo {
  /** Writes to standard output. */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /** True when standard error is a terminal (enables the live status line). */
  readonly isTerminal: boolean;
}

/** Options for {@linkcode main}. */
export interface MainOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** Output. @default {the process's stdout and stderr} */
  io?: CliIo;
  /** Aborting it acts like SIGTERM (for embedding and tests). */
  signal?: AbortSignal;
  /** Environment variables (the DNS provider's credentials, `XDG_DATA_HOME`). @default {process.env} */
  env?: Record<string, string | undefined>;
}

const FLAGS: Record<string, FlagSpec> = {
  protocol: {
    type: "string",
    value: "NAME",
    help:
      "listener protocol: tcp, tls, http2 (HTTP/2 + HTTP/1.1 reverse proxy), http3 (HTTP/3 reverse proxy), quic (QUIC streams to TCP)",
    default: "tcp",
  },
  listen: { type: "string", value: "ADDR", help: "listen address, e.g. :8080 or 127.0.0.1:8080", default: ":8080" },
  target: { type: "string", value: "ADDR", help: "target address, e.g. 127.0.0.1:80 (required without -config)" },
  config: {
    type: "string",
    value: "FILE",
    help: "YAML config with many listeners (other tunnel flags are then not allowed)",
  },
  preset: { type: "string", value: "NAME", help: `tuning preset: ${Object.keys(PRESETS).join(", ")}` },
  "max-connections": {
    type: "string",
    value: "N",
    help: "concurrent connections; more are refused (0 = no limit)",
    default: "0",
  },
  "idle-timeout": { type: "string", value: "DUR", help: "close connections idle this long (0 = never)", default: "0" },
  "dial-timeout": {
    type: "string",
    value: "DUR",
    help: "deadline to connect to the target",
    default: formatDuration(DEFAULT_TUNNEL_CONFIG.dialTimeoutMs),
  },
  "drain-timeout": {
    type: "string",
    value: "DUR",
    help: "on SIGINT/SIGTERM, let connections finish this long",
    default: formatDuration(DEFAULT_TUNNEL_CONFIG.drainTimeoutMs),
  },
  "buffer-size": { type: "string", value: "SIZE", help: "largest read per direction, e.g. 64KiB", default: "64KiB" },
  "log-level": { type: "string", value: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, default: "info" },
  "log-format": { type: "string", value: "FMT", help: `one of ${LOG_FORMATS.join(", ")}`, default: "text" },
  "max-connections-per-ip": {
    type: "string",
    value: "N",
    help: "concurrent connections per source IP (0 = no limit)",
    default: "0",
  },
  "accept-rate": { type: "string", value: "N", help: "accepted connections per second (0 = no limit)", default: "0" },
  "max-buffered-bytes": {
    type: "string",
    value: "SIZE",
    help: "memory budget for buffered bytes, e.g. 256MiB (0 = none)",
    default: "0",
  },
  "dial-attempts": {
    type: "string",
    value: "N",
    help: "attempts to reach the target, with backoff",
    default: String(DEFAULT_TUNNEL_CONFIG.dialAttempts),
  },
  "forward-path": {
    type: "string",
    value: "PATH",
    help:
      "auto (kernel splice when possible, else the native pump), splice (required), pump, owned (a libc Worker owns the sockets: plain TCP, one target)",
    default: "auto",
  },
  workers: {
    type: "string",
    value: "N",
    help: "accept loops (worker threads on one SO_REUSEPORT port; tcp only): a number or auto (1 below 4 cores)",
    default: "auto",
  },
  admin: { type: "string", value: "ADDR", help: "admin HTTP server: /metrics /health /livez /readyz /status /circuit" },
  "metrics-namespace": { type: "string", value: "NS", help: "prefix of the Prometheus series", default: "ts_tunnel" },
  status: { type: "string", value: "WHEN", help: "live status line: auto (on a terminal), on, off", default: "auto" },
  ...SOCKET_FLAGS,
  ...TLS_FLAGS,
  ...HTTP2_FLAGS,
  ...AUTO_TLS_FLAGS,
  version: { type: "boolean", help: "print the version and exit" },
  help: { type: "boolean", short: "h", help: "print this help and exit" },
};

const COMMANDS = ["forward", "run", "server", "client", "cert", "demo", "version", "help"] as const;

function usage(): string {
  return `ts-tunnel ${VERSION}: forward TCP connections (go-tunnel compatible flags)

Usage:
  ts-tunnel [forward] -listen ADDR -target ADDR [flags]   forward one listener
  ts-tunnel [run] -config FILE [flags]                    forward every listener in a YAML file
  ts-tunnel server -listen :7000 -token T [flags]         reverse-tunnel server (ts-tunnel server -h)
  ts-tunnel client -server H:7000 -token T -local ADDR    reverse-tunnel client (ts-tunnel client -h)
  ts-tunnel cert status|renew|revoke [flags]              automatic TLS certificates (ts-tunnel cert -h)
  ts-tunnel demo                                          start demo targets and forwarders
  ts-tunnel version                                       print the version

Flags (-flag and --flag both work; -flag=value too):
${formatFlags(FLAGS)}

Signals: the first SIGINT/SIGTERM stops accepting and lets connections drain
(-drain-timeout); a second one closes everything at once.
Exit codes: 0 done, 1 could not start, 2 bad command line or config.
`;
}

function processIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isTerminal: Boolean(process.stderr.isTTY),
  };
}

function pick<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(`Flag "-${flag}" cannot be "${value}": use one of ${allowed.join(", ")}`);
  }
  return value as T;
}

function flagNumber(flag: string, parse: (text: string) => number, text: string): number {
  try {
    return parse(text);
  } catch (error) {
    throw new UsageError(`Flag "-${flag}": ${(error as Error).message}`);
  }
}

const TUNNEL_FLAGS = [
  "protocol",
  "listen",
  "target",
  "preset",
  "max-connections",
  "idle-timeout",
  "dial-timeout",
  "buffer-size",
  "max-connections-per-ip",
  "accept-rate",
  "max-buffered-bytes",
  "dial-attempts",
  "forward-path",
  "workers",
  ...Object.keys(SOCKET_FLAGS),
  ...Object.keys(TLS_FLAGS),
  ...Object.keys(HTTP2_FLAGS),
  ...Object.keys(AUTO_TLS_FLAGS),
];

function tunnelFromFlags(values: Record<string, string | boolean | undefined>): TunnelConfig {
  const target = values.target as string | undefined;
  if (!target) {
    throw new UsageError(
      "Missing the target: add -target HOST:PORT (for example -target 127.0.0.1:80), or use -config FILE",
    );
  }
  const listen = (values.listen as string | undefined) ?? ":8080";
  for (const [flag, text, parse] of [["listen", listen, parseListenAddr], ["target", target, parseDialAddr]] as const) {
    try {
      parse(text);
    } catch (error) {
      throw new UsageError(`Flag "-${flag}": ${(error as Error).message}`);
    }
  }
  const presetName = values.preset as string | undefined;
  const preset = presetName === undefined ? {} : PRESETS[pick("preset", presetName, Object.keys(PRESETS))]();
  const config: TunnelConfig = {
    ...preset,
    protocol: pick("protocol", (values.protocol as string | undefined) ?? "tcp", PROTOCOL_NAMES),
    listenAddr: listen,
    targetAddr: target,
  };
  const count = (text: string) => {
    if (!/^\d+$/.test(text)) throw new TypeError(`"${text}" is not a whole number; use for example 1000`);
    return Number(text);
  };
  if (values["max-connections"] !== undefined) {
    config.maxConnections = flagNumber("max-connections", count, values["max-connections"] as string);
  }
  if (values["idle-timeout"] !== undefined) {
    config.connectionTimeoutMs = flagNumber("idle-timeout", parseDuration, values["idle-timeout"] as string);
  }
  if (values["dial-timeout"] !== undefined) {
    config.dialTimeoutMs = flagNumber("dial-timeout", parseDuration, values["dial-timeout"] as string);
  }
  for (
    const [flag, field] of [
      ["max-connections-per-ip", "maxConnectionsPerIp"],
      ["accept-rate", "acceptRatePerSecond"],
      ["dial-attempts", "dialAttempts"],
    ] as const
  ) {
    if (values[flag] !== undefined) config[field] = flagNumber(flag, count, values[flag] as string);
  }
  if (values["forward-path"] !== undefined) {
    config.forwardPath = pick(
      "forward-path",
      values["forward-path"] as string,
      ["auto", "splice", "pump", "owned"] as const,
    );
  }
  if (values.workers !== undefined && values.workers !== "auto") {
    config.workers = flagNumber("workers", (text) => {
      if (!/^\d+$/.test(text)) throw new TypeError(`"${text}" is not a number of workers; use for example 4, or auto`);
      return Number(text);
    }, values.workers as string);
  }
  for (const [flag, field] of [["buffer-size", "bufferSize"], ["max-buffered-bytes", "maxBufferedBytes"]] as const) {
    if (values[flag] !== undefined) {
      config[field] = flagNumber(flag, (t) => parseSize(t, `-${flag}`), values[flag] as string);
    }
  }
  const protocol = config.protocol ?? "tcp";
  const socket = socketFromFlags(values, protocol, {
    size: (text) => parseSize(text, "value"),
    durationMs: parseDuration,
  }, ({ protocol: _, ...keys }) => resolveTunnelConfig({ listenAddr: listen, targetAddr: target, ...keys }));
  Object.assign(config, socket, http2FromFlags(values, protocol), tlsFromFlags(values, protocol));
  return config;
}

function sumStats(tunnels: readonly Tunnel[]) {
  return () => {
    let active = 0, bytesSent = 0, bytesReceived = 0;
    for (const t of tunnels) {
      const s = t.stats();
      active += s.active;
      bytesSent += s.bytesSent;
      bytesReceived += s.bytesReceived;
    }
    return { active, bytesSent, bytesReceived };
  };
}

/**
 * Runs the command line and resolves to the process exit code (0 done, 1 could not start,
 * 2 bad command line or config). Never calls `exit` itself.
 *
 * @param args The arguments after the program name.
 * @param options Runtime, output and a stop signal.
 * @returns The exit code.
 */
export async function main(args: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  let command: (typeof COMMANDS)[number] = "forward";
  let rest = [...args];
  if (rest[0] !== undefined && !rest[0].startsWith("-")) {
    if (!COMMANDS.includes(rest[0] as (typeof COMMANDS)[number])) {
      io.stderr(`Unknown command "${rest[0]}": use one of ${COMMANDS.join(", ")}. Run with --help for usage.\n`);
      return 2;
    }
    command = rest[0] as (typeof COMMANDS)[number];
    rest = rest.slice(1);
  }
  if (command === "cert") {
    const { runCertCommand } = await import("./tls/command.ts");
    return await runCertCommand(rest, { io, env: options.env ?? process.env, version: VERSION });
  }
  if (command === "server" || command === "client") {
    const { runTunnelCommand } = await import("./protocols/tunnel/command.ts");
    return await runTunnelCommand(command, rest, {
      io,
      runtime: () => options.runtime ? Promise.resolve(options.runtime) : defaultRuntime(),
      signal: options.signal,
      version: VERSION,
    });
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseFlags(rest, FLAGS);
    if (parsed.positionals.length > 0) {
      throw new UsageError(
        `Unexpected argument "${parsed.positionals[0]}": flags start with "-", for example -target 127.0.0.1:80`,
      );
    }
    values = parsed.values;
  } catch (error) {
    io.stderr(`${(error as Error).message}\n`);
    return 2;
  }
  if (values.help || command === "help") {
    io.stdout(usage());
    return 0;
  }
  if (values.version || command === "version") {
    io.stdout(`ts-tunnel version ${VERSION}\n`);
    return 0;
  }
  try {
    const runtime = options.runtime ?? await defaultRuntime();
    let configs: readonly TunnelConfig[];
    let fileAdmin: FileAdminConfig | undefined;
    let logLevel: LogLevel = "info";
    let logFormat: LogFormat = "text";
    let autoTls: AutoTlsSettings | undefined;
    const warnings: string[] = [];
    if (values.config !== undefined) {
      const used = TUNNEL_FLAGS.filter((f) => values[f] !== undefined);
      if (used.length > 0) {
        throw new UsageError(`Flag "-${used[0]}" cannot be combined with -config: put it in the config file instead`);
      }
      let text: string;
      try {
        text = await readFile(values.config as string, "utf8");
      } catch (error) {
        throw new UsageError(`Cannot read config file "${values.config}": ${(error as Error).message}`);
      }
      const file = parseConfigFile(text);
      configs = file.tunnels;
      fileAdmin = file.admin;
      autoTls = file.autoTls;
      logLevel = file.logLevel ?? logLevel;
      logFormat = file.logFormat ?? logFormat;
      warnings.push(...file.warnings);
    } else if (command === "demo") {
      configs = [];
    } else if (command === "run") {
      throw new UsageError("Missing the config file: use run -config FILE");
    } else {
      autoTls = autoTlsFromFlags(values, { command: "forward" });
      configs = [tunnelFromFlags(values)];
    }
    if (values["log-level"] !== undefined) logLevel = pick("log-level", values["log-level"] as string, LOG_LEVELS);
    if (values["log-format"] !== undefined) logFormat = pick("log-format", values["log-format"] as string, LOG_FORMATS);
    const statusMode = pick("status", (values.status as string | undefined) ?? "auto", ["auto", "on", "off"]);
    const drainTimeoutMs = values["drain-timeout"] === undefined
      ? undefined
      : flagNumber("drain-timeout", parseDuration, values["drain-timeout"] as string);
    const tunnels: Tunnel[] = [];
    const stderrSink: LogSink = { writeLine: (line) => io.stderr(line) };
    const statusLine = statusMode === "on" || (statusMode === "auto" && io.isTerminal)
      ? new StatusLine({ write: io.stderr }, sumStats(tunnels))
      : undefined;
    const logger = new Logger(statusLine ?? stderrSink, { level: logLevel, format: logFormat });
    warnings.forEach((w) => logger.warn(w));
    const adminListen = (values.admin as string | undefined) ?? fileAdmin?.listen;
    if (values.admin !== undefined) {
      try {
        parseListenAddr(values.admin as string);
      } catch (error) {
        throw new UsageError(`Flag "-admin": ${(error as Error).message}`);
      }
    }
    const admin: AdminConfig | undefined = adminListen === undefined ? undefined : {
      listen: adminListen,
      metrics: fileAdmin?.metrics,
      metricsNamespace: (values["metrics-namespace"] as string | undefined) ?? fileAdmin?.metricsNamespace,
    };
    const ctx: ServeContext = {
      runtime,
      signal: options.signal,
      logger,
      statusLine,
      drainTimeoutMs,
      tunnels,
      admin,
      version: VERSION,
      autoTls,
      env: options.env,
    };
    if (command === "demo") return await runDemo(ctx, io);
    return await serveTunnels(configs, ctx);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    if (error instanceof TypeError || error instanceof RangeError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    io.stderr(`${error instanceof NetError ? error.message : String(error)}\n`);
    return 1;
  }
}

async function runDemo(ctx: ServeContext, io: CliIo): Promise<number> {
  await using targets = await startDemoTargets();
  const configs: TunnelConfig[] = [
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${targets.httpPort}` },
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${targets.echoPort}` },
  ];
  return await serveTunnels(configs, ctx, ([http, echo]) => {
    const httpPort = http.addr?.port;
    const echoPort = echo.addr?.port;
    io.stdout(`ts-tunnel demo: two forwarders in front of embedded targets.
  HTTP:  curl -v http://127.0.0.1:${httpPort}/hello     (forwarder :${httpPort} -> HTTP target :${targets.httpPort})
  echo:  echo hi | nc -q1 127.0.0.1 ${echoPort}         (forwarder :${echoPort} -> echo target :${targets.echoPort})
Press Ctrl-C to stop (connections drain first; press it twice to stop at once).
`);
  });
}

if (import.meta.main) {
  const runtime = await defaultRuntime();
  runtime.exit(await main(runtime.args(), { runtime }));
}
