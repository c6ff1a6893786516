/**
 * Command-line flags in go-tunnel's style: `-listen :8080` and `--listen=:8080` both work.
 * Unknown flags and bad values get a message naming the flag, the value and the fix.
 * @module
 */
import { parseArgs } from "node:util";

/** A flag's definition, for parsing and for `--help`. */
export interface FlagSpec {
  /** `string` flags take a value; `boolean` flags do not. */
  readonly type: "string" | "boolean";
  /** One-line help. */
  readonly help: string;
  /** Placeholder for the value in help, e.g. `ADDR`. */
  readonly value?: string;
  /** The default, as printed in help. */
  readonly default?: string;
  /** A one-letter alias. */
  readonly short?: string;
}

/** A usage error: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The closest known flag name, if it is close enough to be a typo. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Parses `args` against `specs`. Go-style single-dash long flags are accepted.
 *
 * @returns The flag values and the positional arguments.
 * @throws {UsageError} For unknown flags, missing values or unexpected arguments.
 */
export function parseFlags(
  args: readonly string[],
  specs: Readonly<Record<string, FlagSpec>>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const names = Object.keys(specs);
  const normalized: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      normalized.push(...args.slice(i));
      break;
    }
    const match = /^(-{1,2})([A-Za-z][\w-]*)(=.*)?$/.exec(arg);
    if (!match) {
      normalized.push(arg);
      continue;
    }
    const [, dashes, rawName, rest = ""] = match;
    const byShort = dashes === "-" && rawName.length === 1 ? names.find((n) => specs[n].short === rawName) : undefined;
    const name = byShort ?? rawName;
    if (!specs[name]) {
      const hint = suggest(name, names);
      throw new UsageError(
        `Unknown flag "${arg}"${hint ? `: did you mean "-${hint}"?` : ""} Run with --help to list the flags.`,
      );
    }
    if (specs[name].type === "string" && rest === "" && (i + 1 >= args.length)) {
      throw new UsageError(`Flag "-${name}" needs a value, for example: -${name} ${specs[name].value ?? "VALUE"}`);
    }
    normalized.push(`--${name}${rest}`);
    if (specs[name].type === "boolean" && rest !== "") {
      throw new UsageError(`Flag "-${name}" takes no value; write just -${name}`);
    }
  }
  const options = Object.fromEntries(names.map((n) => [n, { type: specs[n].type }]));
  const { values, positionals } = parseArgs({ args: normalized, options, allowPositionals: true, strict: true });
  return { values: values as Record<string, string | boolean | undefined>, positionals };
}

/** Formats the flags table for `--help`. */
export function formatFlags(specs: Readonly<Record<string, FlagSpec>>): string {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = `  -${name}${spec.value ? " " + spec.value : ""}${spec.short ? `, -${spec.short}` : ""}`;
    const right = spec.help + (spec.default !== undefined ? ` (default: ${spec.default})` : "");
    return [left, right] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => left.padEnd(width) + right).join("\n");
}

/**
 * The TLS flags, go-tunnel's `-cert` and `-key` first. `cli.ts` merges them into its table and
 * maps them with {@linkcode tlsFromFlags}.
 */
export const TLS_FLAGS: Readonly<Record<string, FlagSpec>> = {
  cert: {
    type: "string",
    value: "FILE",
    help: "certificate chain (PEM) of a -protocol tls, http2, http3 or quic listener; reloaded on change (tls, http2)",
  },
  key: { type: "string", value: "FILE", help: "private key (PEM) for -cert" },
  "tls-min-version": { type: "string", value: "V", help: "lowest TLS version accepted: 1.2 or 1.3", default: "1.2" },
  alpn: {
    type: "string",
    value: "LIST",
    help: "ALPN protocols the listener accepts, e.g. h2,http/1.1 (quic: both sides must agree; default ts-tunnel-quic)",
  },
  "client-ca": { type: "string", value: "FILE", help: "CA (PEM) of client certificates; needs -client-auth" },
  "client-auth": {
    type: "string",
    value: "MODE",
    help: "client certificates: none, optional, require",
    default: "none",
  },
  "target-tls": { type: "boolean", help: "dial the target over TLS (its certificate is verified)" },
  "target-ca": { type: "string", value: "FILE", help: "CA (PEM) the target's certificate must chain to" },
  "target-server-name": { type: "string", value: "NAME", help: "name to verify the target's certificate against" },
  "target-insecure": { type: "boolean", help: "do not verify the target's certificate (Bun only; unsafe)" },
};

/** The TLS parts of a tunnel config, as {@linkcode tlsFromFlags} returns them. */
export interface TlsFlagConfig {
  /** Certificates from ACME (`-auto-tls`) instead of `-cert`/`-key`. */
  autoTls?: boolean;
  /** Listener TLS, from `-cert`, `-key` and friends. */
  tls?: {
    certFile?: string;
    keyFile?: string;
    minVersion?: "1.2" | "1.3";
    alpn?: string[];
    clientAuth?: "none" | "optional" | "require";
    clientCaFile?: string;
  };
  /** Target TLS, from `-target-tls` and friends. */
  targetTls?: { serverName?: string; caFile?: string; insecure?: boolean };
}

/**
 * Maps the {@linkcode TLS_FLAGS} to `TunnelConfig.tls` and `TunnelConfig.targetTls`.
 *
 * @param values Parsed flag values.
 * @param protocol The listener protocol (`-protocol`).
 * @returns The TLS sections to merge into the tunnel config (empty when no TLS flag is set).
 * @throws {UsageError} Naming the flag, its value and the fix.
 */
export function tlsFromFlags(values: Record<string, string | boolean | undefined>, protocol: string): TlsFlagConfig {
  const text = (flag: string) => values[flag] as string | undefined;
  const out: TlsFlagConfig = {};
  const listenerFlags = ["cert", "key", "tls-min-version", "alpn", "client-ca", "client-auth"];
  const used = listenerFlags.filter((f) => values[f] !== undefined);
  const autoTls = values["auto-tls"] === true;
  const h2c = protocol === "http2" && values.h2c === true;
  const quic = protocol === "http3" || protocol === "quic";
  const terminates = protocol === "tls" || (protocol === "http2" && !h2c) || quic;
  if (autoTls && (quic || (protocol === "http2" && values.http3 === true))) {
    throw new UsageError(
      `Flag "-auto-tls" cannot be combined with ${
        quic ? `-protocol ${protocol}` : "-http3"
      }: a QUIC listener cannot take a new certificate while it runs, so ACME renewals could not reach it; use -cert FILE -key FILE`,
    );
  }
  if (autoTls && !terminates) {
    throw new UsageError(
      h2c
        ? 'Flag "-auto-tls" cannot be combined with -h2c (cleartext HTTP/2): remove one of them'
        : 'Flag "-auto-tls" applies to a TLS listener: add -protocol tls (or -protocol http2)',
    );
  }
  if (terminates || used.length > 0) {
    if (!terminates) {
      throw new UsageError(
        h2c
          ? `Flag "-${used[0]}" cannot be combined with -h2c (cleartext HTTP/2): remove one of them`
          : `Flag "-${used[0]}" applies to a TLS listener: add -protocol tls`,
      );
    }
    if (quic) {
      const refused = protocol === "http3"
        ? ["alpn", "tls-min-version", "client-auth", "client-ca"]
        : ["tls-min-version", "client-auth", "client-ca"];
      const other = refused.find((f) => values[f] !== undefined);
      if (other) {
        throw new UsageError(
          other === "alpn"
            ? 'Flag "-alpn" does not apply to -protocol http3: the proxy offers h3 itself'
            : other === "tls-min-version"
            ? `Flag "-tls-min-version" does not apply to -protocol ${protocol}: QUIC always uses TLS 1.3`
            : `Flag "-${other}" does not apply to -protocol ${protocol}: the QUIC listener does not verify client certificates; use -protocol tls for mutual TLS`,
        );
      }
    }
    if (protocol === "http2") {
      const other = ["alpn", "client-ca", "client-auth"].find((f) => values[f] !== undefined);
      if (other) {
        throw new UsageError(
          other === "alpn"
            ? 'Flag "-alpn" does not apply to -protocol http2: the proxy offers h2 and http/1.1 itself'
            : `Flag "-${other}" does not apply to -protocol http2: it does not verify client certificates; use -protocol tls for mutual TLS`,
        );
      }
    }
    const cert = text("cert");
    const key = text("key");
    if (autoTls && (cert !== undefined || key !== undefined)) {
      throw new UsageError(
        `Flag "-${
          cert !== undefined ? "cert" : "key"
        }" cannot be combined with -auto-tls: the certificate comes from ACME; remove -cert and -key, or -auto-tls`,
      );
    }
    if (!autoTls && (!cert || !key)) {
      const hint = protocol === "http2" ? " (or -auto-tls, or -h2c for cleartext)" : quic ? "" : " (or -auto-tls)";
      throw new UsageError(
        `-protocol ${protocol} needs a certificate: add ${cert ? "" : "-cert FILE "}${key ? "" : "-key FILE"}`.trim() +
          (cert || key ? "" : hint),
      );
    }
    const tls: NonNullable<TlsFlagConfig["tls"]> = autoTls ? {} : { certFile: cert, keyFile: key };
    const minVersion = text("tls-min-version");
    if (minVersion !== undefined) {
      if (minVersion !== "1.2" && minVersion !== "1.3") {
        throw new UsageError(`Flag "-tls-min-version" cannot be "${minVersion}": use 1.2 or 1.3`);
      }
      tls.minVersion = minVersion;
    }
    const alpn = text("alpn");
    if (alpn !== undefined) {
      const names = alpn.split(",").map((n) => n.trim());
      if (names.some((n) => n === "")) {
        throw new UsageError(`Flag "-alpn" cannot be "${alpn}": list names separated by commas, e.g. h2,http/1.1`);
      }
      tls.alpn = names;
    }
    const clientAuth = text("client-auth");
    const clientCa = text("client-ca");
    if (clientAuth !== undefined) {
      if (!["none", "optional", "require"].includes(clientAuth)) {
        throw new UsageError(`Flag "-client-auth" cannot be "${clientAuth}": use one of none, optional, require`);
      }
      tls.clientAuth = clientAuth as "none" | "optional" | "require";
    }
    if ((clientAuth ?? "none") !== "none" && !clientCa) {
      throw new UsageError(`Flag "-client-auth ${clientAuth}" needs -client-ca FILE (the CA of client certificates)`);
    }
    if (clientCa && (clientAuth ?? "none") === "none") {
      throw new UsageError('Flag "-client-ca" needs -client-auth require (or optional) to verify client certificates');
    }
    if (clientCa) tls.clientCaFile = clientCa;
    if (Object.keys(tls).length > 0) out.tls = tls;
    if (autoTls) out.autoTls = true;
  }
  const targetFlags = ["target-ca", "target-server-name", "target-insecure"];
  const targetUsed = targetFlags.filter((f) => values[f] !== undefined);
  if (values["target-tls"] === true || targetUsed.length > 0) {
    if (values["target-tls"] !== true) {
      throw new UsageError(`Flag "-${targetUsed[0]}" applies to a TLS target: add -target-tls`);
    }
    out.targetTls = {
      ...(text("target-server-name") ? { serverName: text("target-server-name") } : {}),
      ...(text("target-ca") ? { caFile: text("target-ca") } : {}),
      ...(values["target-insecure"] === true ? { insecure: true } : {}),
    };
  }
  return out;
}

/** The socket-option flags (go-tunnel's `TCPQuickAck`, `TCPFastOpen`, `SendBufferSize`, `RecvBufferSize`, …); they need FFI. */
export const SOCKET_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "tcp-quick-ack": { type: "boolean", help: "TCP_QUICKACK on client and upstream sockets (Linux, needs FFI)" },
  "tcp-fast-open": { type: "boolean", help: "TCP Fast Open on the listener, queue 256 (Linux, needs FFI)" },
  "send-buffer-size": { type: "string", value: "SIZE", help: "SO_SNDBUF of every socket, e.g. 256KiB (needs FFI)" },
  "recv-buffer-size": { type: "string", value: "SIZE", help: "SO_RCVBUF of every socket, e.g. 256KiB (needs FFI)" },
  "keep-alive-idle": { type: "string", value: "DUR", help: "idle time before the first keepalive probe, e.g. 30s" },
  "keep-alive-interval": { type: "string", value: "DUR", help: "time between keepalive probes, e.g. 10s" },
  "keep-alive-count": { type: "string", value: "N", help: "unanswered keepalive probes before the connection drops" },
  "not-sent-lowat": { type: "string", value: "SIZE", help: "TCP_NOTSENT_LOWAT of every socket, e.g. 16KiB" },
};

/** The socket-option parts of a tunnel config, as {@linkcode socketFromFlags} returns them. */
export interface SocketFlagConfig {
  tcpQuickAck?: boolean;
  tcpFastOpen?: boolean;
  sendBufferSize?: number;
  recvBufferSize?: number;
  keepAliveIdleSeconds?: number;
  keepAliveIntervalSeconds?: number;
  keepAliveCount?: number;
  notSentLowat?: number;
}

const SOCKET_FLAG_FIELDS: Record<string, keyof SocketFlagConfig> = {
  "tcp-quick-ack": "tcpQuickAck",
  "tcp-fast-open": "tcpFastOpen",
  "send-buffer-size": "sendBufferSize",
  "recv-buffer-size": "recvBufferSize",
  "keep-alive-idle": "keepAliveIdleSeconds",
  "keep-alive-interval": "keepAliveIntervalSeconds",
  "keep-alive-count": "keepAliveCount",
  "not-sent-lowat": "notSentLowat",
};

/**
 * Maps the {@linkcode SOCKET_FLAGS} to the tunnel config's socket-option keys, checking each value.
 *
 * @param values Parsed flag values.
 * @param protocol The listener protocol (`-protocol`).
 * @param parsers How sizes and durations are read (the config file's own parsers).
 * @param check Validates the keys as `TunnelConfig` does (its messages are turned into flag messages).
 * @returns The keys to merge into the tunnel config (empty when no socket flag is set).
 * @throws {UsageError} Naming the flag, its value and the fix.
 */
export function socketFromFlags(
  values: Record<string, string | boolean | undefined>,
  protocol: string,
  parsers: { size(text: string): number; durationMs(text: string): number },
  check: (config: SocketFlagConfig & { protocol: string }) => void,
): SocketFlagConfig {
  const out: Record<string, number | boolean> = {};
  for (const [flag, field] of Object.entries(SOCKET_FLAG_FIELDS)) {
    const value = values[flag];
    if (value === undefined) continue;
    if (typeof value === "boolean") {
      out[field] = value;
      continue;
    }
    const fail = (fix: string): never => {
      throw new UsageError(`Flag "-${flag}" cannot be "${value}": ${fix}`);
    };
    if (flag === "keep-alive-idle" || flag === "keep-alive-interval") {
      let ms = NaN;
      try {
        ms = parsers.durationMs(value);
      } catch { /* reported below */ }
      if (!(ms >= 1000 && ms % 1000 === 0)) fail("use whole seconds with a unit, for example 30s or 1m");
      out[field] = ms / 1000;
    } else if (flag === "keep-alive-count") {
      if (!/^\d+$/.test(value)) fail("use a whole number of probes, for example 9");
      out[field] = Number(value);
    } else {
      try {
        out[field] = parsers.size(value);
      } catch {
        fail("use bytes or a unit, for example 262144 or 256KiB");
      }
    }
  }
  if (Object.keys(out).length === 0) return {};
  if (protocol !== "tcp" && protocol !== "tls") {
    const first = Object.keys(SOCKET_FLAG_FIELDS).find((f) => values[f] !== undefined);
    throw new UsageError(`Flag "-${first}" applies to -protocol tcp or tls (TCP sockets), not ${protocol}`);
  }
  try {
    check({ protocol, ...out });
  } catch (error) {
    const match = /^Cannot use TunnelConfig\.(\w+) = [^:]*: (.*)$/.exec((error as Error).message);
    const flag = match && Object.keys(SOCKET_FLAG_FIELDS).find((f) => SOCKET_FLAG_FIELDS[f] === match[1]);
    if (!match || !flag) throw new UsageError((error as Error).message);
    throw new UsageError(`Flag "-${flag}" cannot be "${values[flag]}": ${match[2]}`);
  }
  return out as SocketFlagConfig;
}
