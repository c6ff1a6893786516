/**
 * The `ts-tunnel` command line: `forward` (default), `run -config FILE`, `demo`, `version`.
 * go-tunnel's flags work as they are (`-protocol tcp -listen :8080 -target 127.0.0.1:80
 * -config f.yaml -version`), and so do `--long` forms.
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
import { type FlagSpec, formatFlags, parseFlags, UsageError } from "./forward/cli_flags.ts";
import type { TunnelConfig } from "./forward/config.ts";
import { ConfigError, parseConfigFile, parseSize } from "./forward/config_file.ts";
import { formatDuration, parseDuration } from "./forward/duration.ts";
import { PRESETS } from "./forward/presets.ts";
import { DEFAULT_TUNNEL_CONFIG } from "./forward/config.ts";
import { Tunnel, type TunnelObserver } from "./forward/tunnel.ts";
import { startDemoTargets } from "./forward/demo.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, Logger, type LogLevel, type LogSink } from "./ha/logger.ts";
import { StatusLine } from "./ha/status_line.ts";
import { formatAddr, parseDialAddr, parseListenAddr } from "./protocols/address.ts";
import { defaultRuntime, type Runtime } from "./protocols/runtime.ts";
import { NetError, UnsupportedProtocolError } from "./protocols/errors.ts";
import { PROTOCOL_NAMES } from "./protocols/registry.ts";

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
}

const FLAGS: Record<string, FlagSpec> = {
  protocol: { type: "string", value: "NAME", help: "listener protocol: tcp", default: "tcp" },
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
  status: { type: "string", value: "WHEN", help: "live status line: auto (on a terminal), on, off", default: "auto" },
  version: { type: "boolean", help: "print the version and exit" },
  help: { type: "boolean", short: "h", help: "print this help and exit" },
};

const COMMANDS = ["forward", "run", "demo", "version", "help"] as const;

function usage(): string {
  return `ts-tunnel ${VERSION}: forward TCP connections (go-tunnel compatible flags)

Usage:
  ts-tunnel [forward] -listen ADDR -target ADDR [flags]   forward one listener
  ts-tunnel [run] -config FILE [flags]                    forward every listener in a YAML file
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
  if (values["buffer-size"] !== undefined) {
    config.bufferSize = flagNumber("buffer-size", (t) => parseSize(t, "-buffer-size"), values["buffer-size"] as string);
  }
  return config;
}

/** Logs what tunnels do: listener start/stop and connection errors at info, closed connections at debug. */
function loggingObserver(logger: Logger, tunnel: () => Tunnel): TunnelObserver {
  return {
    onListen: (addr) => logger.info("listening", { tunnel: tunnel().toString(), addr: formatAddr(addr) }),
    onReject: (remoteAddr, reason) => logger.warn("connection refused", { from: formatAddr(remoteAddr), reason }),
    onAcceptError: (error) => logger.error("accept failed; retrying", { error }),
    onConnectionEnd(end) {
      if (end.error !== undefined) {
        logger.info(`connection failed at ${end.phase}`, {
          id: end.id,
          from: formatAddr(end.remoteAddr),
          error: end.error,
        });
      } else if (end.stats && logger.enabled("debug")) {
        const s = end.stats;
        logger.debug("connection closed", {
          id: end.id,
          from: formatAddr(end.remoteAddr),
          in: s.aToB,
          out: s.bToA,
          ms: Math.round(s.durationMs),
          end: s.end,
          path: s.path,
        });
      }
    },
    onStop: () => logger.info("stopped", { tunnel: tunnel().toString() }),
  };
}

interface RunContext {
  readonly runtime: Runtime;
  readonly io: CliIo;
  readonly signal?: AbortSignal;
  readonly logger: Logger;
  readonly statusLine?: StatusLine;
  readonly drainTimeoutMs?: number;
  /** Filled by runTunnels; read by the status line. */
  readonly tunnels: Tunnel[];
}

/** Starts tunnels, waits for a signal, drains, and resolves to an exit code. */
async function runTunnels(
  configs: readonly TunnelConfig[],
  ctx: RunContext,
  onStarted?: (tunnels: readonly Tunnel[]) => void,
): Promise<number> {
  const { logger, runtime, tunnels } = ctx;
  for (const config of configs) {
    const full = ctx.drainTimeoutMs === undefined ? config : { ...config, drainTimeoutMs: ctx.drainTimeoutMs };
    const tunnel: Tunnel = new Tunnel(full, { runtime, observer: loggingObserver(logger, () => tunnel) });
    tunnels.push(tunnel);
  }
  for (const tunnel of tunnels) {
    try {
      await tunnel.start();
    } catch (error) {
      logger.error("cannot start", { tunnel: tunnel.toString(), error });
      tunnels.forEach((t) => t.close());
      return error instanceof UnsupportedProtocolError ? 2 : 1;
    }
  }
  logger.info("ready", {
    tunnels: tunnels.length,
    runtime: runtime.name,
    engine: runtime.name === "bun" ? "push-pump" : "pull-pump",
  });
  onStarted?.(tunnels);
  ctx.statusLine?.start();
  const stopRequested = Promise.withResolvers<void>();
  let signals = 0;
  const onSignal = (name: string) => {
    signals++;
    if (signals === 1) {
      logger.info("stopping: draining connections (send the signal again to stop at once)", { signal: name });
      stopRequested.resolve();
    } else {
      logger.warn("stopping at once", { signal: name });
      tunnels.forEach((t) => t.close());
    }
  };
  using _int = runtime.onSignal("SIGINT", () => onSignal("SIGINT"));
  using _term = runtime.onSignal("SIGTERM", () => onSignal("SIGTERM"));
  const onAbort = () => onSignal("abort");
  ctx.signal?.addEventListener("abort", onAbort);
  if (ctx.signal?.aborted) onAbort();
  try {
    await stopRequested.promise;
    await Promise.all(tunnels.map((t) => t.stop()));
  } finally {
    ctx.signal?.removeEventListener("abort", onAbort);
    ctx.statusLine?.stop();
  }
  return 0;
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
    let logLevel: LogLevel = "info";
    let logFormat: LogFormat = "text";
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
      logLevel = file.logLevel ?? logLevel;
      logFormat = file.logFormat ?? logFormat;
      warnings.push(...file.warnings);
    } else if (command === "demo") {
      configs = [];
    } else if (command === "run") {
      throw new UsageError("Missing the config file: use run -config FILE");
    } else {
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
    const ctx: RunContext = { runtime, io, signal: options.signal, logger, statusLine, drainTimeoutMs, tunnels };
    if (command === "demo") return await runDemo(ctx);
    return await runTunnels(configs, ctx);
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

async function runDemo(ctx: RunContext): Promise<number> {
  await using targets = await startDemoTargets();
  const configs: TunnelConfig[] = [
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${targets.httpPort}` },
    { listenAddr: "127.0.0.1:0", targetAddr: `127.0.0.1:${targets.echoPort}` },
  ];
  return await runTunnels(configs, ctx, ([http, echo]) => {
    const httpPort = http.addr?.port;
    const echoPort = echo.addr?.port;
    ctx.io.stdout(`ts-tunnel demo: two forwarders in front of embedded targets.
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
