/**
 * The CLI's `server` and `client` commands (frps/frpc-style): flags or a YAML file in, a running
 * tunnel server or client out, until a signal.
 *
 * @example Expose a local PostgreSQL through a public server
 * ```sh
 * ts-tunnel server -listen :7000 -token "$TOKEN" -port-range 10000-20000 -cert cert.pem -key key.pem
 * ts-tunnel client -server tunnel.example.com:7000 -token "$TOKEN" -local 127.0.0.1:5432 -remote-port 15432
 * ```
 * @module
 */
import { readFile } from "node:fs/promises";
import { type FlagSpec, formatFlags, parseFlags, UsageError } from "../../forward/cli_flags.ts";
import { ConfigError, type FileAdminConfig } from "../../forward/config_file.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, Logger, type LogLevel } from "../../ha/logger.ts";
import type { Runtime } from "../runtime.ts";
import type { TlsClientOptions, TlsServerOptions } from "../tls.ts";
import { QUIC_CONGESTION_CONTROLS, type QuicCongestionControl } from "../quic_types.ts";
import {
  DEFAULT_TUNNEL_SERVER_CONFIG,
  MAX_STREAMS_PER_SESSION,
  type TunnelClientConfig,
  type TunnelServerConfig,
} from "./config.ts";
import { parseTunnelConfigFile } from "./config_file.ts";
import { serveTunnelClient, serveTunnelServer } from "./serve.ts";

/** Where a command writes. */
export interface CommandIo {
  /** Standard output. */
  stdout(text: string): void;
  /** Standard error. */
  stderr(text: string): void;
}

const COMMON_FLAGS: Record<string, FlagSpec> = {
  config: { type: "string", value: "FILE", help: "YAML file with a server: or client: section (instead of flags)" },
  token: { type: "string", value: "TOKEN", help: "shared secret, at least 16 bytes (see openssl rand -hex 32)" },
  transport: {
    type: "string",
    value: "NAME",
    help: "tls (default); quic (server: QUIC + TLS on one port); auto (client: QUIC, then TLS); tcp (no encryption)",
  },
  "max-streams-per-session": {
    type: "string",
    value: "N",
    help: `forwarded connections one session carries at once, 1-${MAX_STREAMS_PER_SESSION} (QUIC: streams advertised)`,
    default: String(DEFAULT_TUNNEL_SERVER_CONFIG.maxStreamsPerSession),
  },
  "quic-congestion-control": {
    type: "string",
    value: "CC",
    help: "QUIC sender: low-latency (BBR: interactive traffic beside bulk), throughput (CUBIC) or default",
    default: DEFAULT_TUNNEL_SERVER_CONFIG.quicCongestionControl,
  },
  admin: { type: "string", value: "ADDR", help: "admin HTTP server: /metrics /health /livez /readyz /status" },
  "metrics-namespace": { type: "string", value: "NS", help: "prefix of the Prometheus series", default: "ts_tunnel" },
  "log-level": { type: "string", value: "LEVEL", help: `one of ${LOG_LEVELS.join(", ")}`, default: "info" },
  "log-format": { type: "string", value: "FMT", help: `one of ${LOG_FORMATS.join(", ")}`, default: "text" },
  help: { type: "boolean", short: "h", help: "print this help and exit" },
};

const SERVER_FLAGS: Record<string, FlagSpec> = {
  listen: { type: "string", value: "ADDR", help: "where clients connect", default: ":7000" },
  "port-range": {
    type: "string",
    value: "MIN-MAX",
    help: "public ports clients may use",
    default: DEFAULT_TUNNEL_SERVER_CONFIG.portRange,
  },
  "bind-host": { type: "string", value: "HOST", help: "host the public ports bind (default: every interface)" },
  cert: { type: "string", value: "FILE", help: "TLS certificate chain (PEM), reloaded when it changes" },
  key: { type: "string", value: "FILE", help: "TLS private key (PEM)" },
  "max-services": {
    type: "string",
    value: "N",
    help: "services per client",
    default: String(DEFAULT_TUNNEL_SERVER_CONFIG.maxServicesPerClient),
  },
  "max-connections-per-service": {
    type: "string",
    value: "N",
    help: "open connections per service",
    default: String(DEFAULT_TUNNEL_SERVER_CONFIG.maxConnectionsPerService),
  },
  ...COMMON_FLAGS,
};

const CLIENT_FLAGS: Record<string, FlagSpec> = {
  server: { type: "string", value: "HOST:PORT", help: "the tunnel server (required without -config)" },
  "client-id": { type: "string", value: "ID", help: "the id the server knows the token by", default: "default" },
  local: { type: "string", value: "ADDR", help: "the local service to expose, e.g. 127.0.0.1:5432" },
  "remote-port": { type: "string", value: "PORT", help: "public port to ask for (default: any in the range)" },
  name: { type: "string", value: "NAME", help: "the service's name", default: "service" },
  "proxy-protocol": { type: "string", value: "V", help: "send a PROXY header (v1 or v2) to the local service" },
  ca: { type: "string", value: "FILE", help: "CA that signs the server's certificate (default: system roots)" },
  "server-name": { type: "string", value: "NAME", help: "name to verify in the server's certificate" },
  insecure: { type: "boolean", help: "do not verify the server's certificate (testing only)" },
  ...COMMON_FLAGS,
};

function usage(command: "server" | "client", version: string): string {
  const flags = command === "server" ? SERVER_FLAGS : CLIENT_FLAGS;
  const line = command === "server"
    ? "ts-tunnel server -listen :7000 -token TOKEN -port-range 10000-20000 -cert FILE -key FILE"
    : "ts-tunnel client -server HOST:7000 -token TOKEN -local 127.0.0.1:5432 -remote-port 15432";
  return `ts-tunnel ${version}: reverse tunnel ${command}

Usage:
  ${line}
  ts-tunnel ${command} -config FILE

Flags (-flag and --flag both work):
${formatFlags(flags)}
`;
}

function whole(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`Flag "-${flag}" cannot be "${text}": use a whole number`);
  return Number(text);
}

type Values = Record<string, string | boolean | undefined>;

/** The session settings both sides take: `-max-streams-per-session` and `-quic-congestion-control`. */
function sessionFromFlags(values: Values): Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl"> {
  const settings: Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl"> = {};
  const maxStreams = values["max-streams-per-session"] as string | undefined;
  if (maxStreams !== undefined) settings.maxStreamsPerSession = whole("max-streams-per-session", maxStreams);
  const cc = values["quic-congestion-control"] as string | undefined;
  if (cc !== undefined) {
    if (!QUIC_CONGESTION_CONTROLS.includes(cc as QuicCongestionControl)) {
      throw new UsageError(
        `Flag "-quic-congestion-control" cannot be "${cc}": use one of ${QUIC_CONGESTION_CONTROLS.join(", ")}`,
      );
    }
    settings.quicCongestionControl = cc as QuicCongestionControl;
  }
  return settings;
}

function serverFromFlags(values: Values): { config: TunnelServerConfig; tls?: TlsServerOptions } {
  const config: TunnelServerConfig = {
    listenAddr: (values.listen as string | undefined) ?? ":7000",
    ...sessionFromFlags(values),
  };
  if (values.token === undefined) throw new UsageError("Missing the token: add -token TOKEN, or use -config FILE");
  config.authToken = values.token as string;
  if (values["port-range"] !== undefined) config.portRange = values["port-range"] as string;
  if (values["bind-host"] !== undefined) config.bindHost = values["bind-host"] as string;
  if (values.transport !== undefined) config.transport = values.transport as TunnelServerConfig["transport"];
  if (values["max-services"] !== undefined) {
    config.maxServicesPerClient = whole("max-services", values["max-services"] as string);
  }
  if (values["max-connections-per-service"] !== undefined) {
    config.maxConnectionsPerService = whole(
      "max-connections-per-service",
      values["max-connections-per-service"] as string,
    );
  }
  const tls = values.cert !== undefined || values.key !== undefined
    ? { certFile: values.cert as string | undefined, keyFile: values.key as string | undefined }
    : undefined;
  return { config, tls };
}

function clientFromFlags(values: Values): { config: TunnelClientConfig; tls?: TlsClientOptions } {
  if (values.server === undefined) {
    throw new UsageError("Missing the server: add -server HOST:PORT, or use -config FILE");
  }
  if (values.token === undefined) throw new UsageError("Missing the token: add -token TOKEN, or use -config FILE");
  if (values.local === undefined) {
    throw new UsageError("Missing the local service: add -local HOST:PORT (for example -local 127.0.0.1:5432)");
  }
  const proxyProtocol = values["proxy-protocol"] as string | undefined;
  if (proxyProtocol !== undefined && proxyProtocol !== "v1" && proxyProtocol !== "v2") {
    throw new UsageError(`Flag "-proxy-protocol" cannot be "${proxyProtocol}": use v1 or v2`);
  }
  const config: TunnelClientConfig = {
    serverAddr: values.server as string,
    token: values.token as string,
    clientId: (values["client-id"] as string | undefined) ?? "default",
    services: [{
      name: (values.name as string | undefined) ?? "service",
      localAddr: values.local as string,
      ...(values["remote-port"] !== undefined
        ? { remotePort: whole("remote-port", values["remote-port"] as string) }
        : {}),
      ...(proxyProtocol ? { proxyProtocol } : {}),
    }],
    ...sessionFromFlags(values),
  };
  if (values.transport !== undefined) config.transport = values.transport as TunnelClientConfig["transport"];
  const tls: TlsClientOptions = {};
  if (values.ca !== undefined) tls.caFile = values.ca as string;
  if (values["server-name"] !== undefined) tls.serverName = values["server-name"] as string;
  if (values.insecure) tls.insecure = true;
  return { config, tls };
}

/**
 * Runs `ts-tunnel server …` or `ts-tunnel client …`.
 *
 * @param command Which side.
 * @param args The arguments after the command.
 * @param options Output, runtime, stop signal and version.
 * @returns The exit code: 0 done, 1 could not start, 2 bad command line or config.
 */
export async function runTunnelCommand(
  command: "server" | "client",
  args: readonly string[],
  options: { io: CommandIo; runtime: () => Promise<Runtime>; signal?: AbortSignal; version: string },
): Promise<number> {
  const { io } = options;
  try {
    const { values, positionals } = parseFlags(args, command === "server" ? SERVER_FLAGS : CLIENT_FLAGS);
    if (positionals.length > 0) {
      throw new UsageError(`Unexpected argument "${positionals[0]}": flags start with "-"`);
    }
    if (values.help) {
      io.stdout(usage(command, options.version));
      return 0;
    }
    let admin: FileAdminConfig | undefined;
    let logLevel: LogLevel = "info";
    let logFormat: LogFormat = "text";
    let server: ReturnType<typeof serverFromFlags> | undefined;
    let client: ReturnType<typeof clientFromFlags> | undefined;
    if (values.config !== undefined) {
      let text: string;
      try {
        text = await readFile(values.config as string, "utf8");
      } catch (error) {
        throw new UsageError(`Cannot read config file "${values.config}": ${(error as Error).message}`);
      }
      const file = parseTunnelConfigFile(text);
      if (!file[command]) throw new ConfigError("(top level)", `has no ${command}: section for the ${command} command`);
      server = file.server;
      client = file.client;
      admin = file.admin;
      logLevel = file.logLevel ?? logLevel;
      logFormat = file.logFormat ?? logFormat;
    } else if (command === "server") server = serverFromFlags(values);
    else client = clientFromFlags(values);
    if (values["log-level"] !== undefined) logLevel = values["log-level"] as LogLevel;
    if (values["log-format"] !== undefined) logFormat = values["log-format"] as LogFormat;
    if (!LOG_LEVELS.includes(logLevel)) {
      throw new UsageError(`Flag "-log-level" cannot be "${logLevel}": use one of ${LOG_LEVELS.join(", ")}`);
    }
    if (!LOG_FORMATS.includes(logFormat)) {
      throw new UsageError(`Flag "-log-format" cannot be "${logFormat}": use one of ${LOG_FORMATS.join(", ")}`);
    }
    if (values.admin !== undefined) admin = { ...admin, listen: values.admin as string };
    const metricsNamespace = (values["metrics-namespace"] as string | undefined) ?? admin?.metricsNamespace;
    const logger = new Logger({ writeLine: (line) => io.stderr(line) }, { level: logLevel, format: logFormat });
    const ctx = {
      runtime: await options.runtime(),
      logger,
      signal: options.signal,
      admin: admin && { ...admin, metricsNamespace },
      version: options.version,
    };
    return command === "server"
      ? await serveTunnelServer(server!.config, server!.tls, ctx)
      : await serveTunnelClient(client!.config, client!.tls, ctx);
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof ConfigError || error instanceof TypeError ||
      error instanceof RangeError
    ) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    io.stderr(`${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}
