/**
 * Internal: the TLS parts of the YAML config: the listener's `tls` section (top level and per
 * entry, for `tls`, `http2`, `http3` and `quic` entries) and `target_tls`. Automatic TLS
 * (`options`, `acme`) is in `_config_file_acme.ts`.
 * @module
 */
import type { TunnelConfig, TunnelTargetTlsConfig, TunnelTlsConfig } from "./config.ts";
import { checkKeys, ConfigError, isMapping, type Mapping, show } from "./_config_yaml.ts";
import { parseDuration } from "./duration.ts";

function durationValue(value: unknown, path: string): number {
  if (typeof value !== "string") {
    throw new ConfigError(path, `${show(value)} is not a duration; write it with a unit, for example "30s" or "5m"`);
  }
  try {
    return parseDuration(value);
  } catch (error) {
    throw new ConfigError(path, (error as Error).message);
  }
}

/** Keys of the `tls` section (top level, or in a `protocols` entry) and of an entry's `target_tls`. */
export const TLS_SECTION_KEYS = [
  "cert_file",
  "key_file",
  "ca_file",
  "client_auth",
  "min_version",
  "alpn",
  "reload_interval",
];
const TARGET_TLS_KEYS = ["server_name", "ca_file", "insecure", "alpn", "cert_file", "key_file"];

function tlsString(map: Mapping, key: string, path: string): string | undefined {
  const value = map[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(
      `${path}.${key}`,
      `${show(value)} is not a file or name; write a string, for example ./cert.pem`,
    );
  }
  return value;
}

function tlsAlpn(map: Mapping, path: string): string[] | undefined {
  const value = map.alpn;
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((p) => typeof p === "string" && p !== "")) {
    throw new ConfigError(
      `${path}.alpn`,
      `${show(value)} is not a list of protocol names; write for example [h2, http/1.1]`,
    );
  }
  return value as string[];
}

/** A listener that takes a `tls` section. */
type TlsListenerKind = "tls" | "http2" | "http3" | "quic";

/**
 * Keys of the `tls` section each listener takes: client certificates and ALPN are `tls`-only
 * (ALPN also `quic`); QUIC listeners (`http3`, `quic`) are always TLS 1.3 and never reloaded.
 */
const LISTENER_TLS_KEYS: Record<Exclude<TlsListenerKind, "tls">, readonly string[]> = {
  http2: ["cert_file", "key_file", "min_version", "reload_interval"],
  http3: ["cert_file", "key_file"],
  quic: ["cert_file", "key_file", "alpn"],
};

/** Keys of the top-level `tls` section a non-`tls` entry inherits. */
const INHERITED_TLS_KEYS: Record<Exclude<TlsListenerKind, "tls">, readonly string[]> = {
  http2: LISTENER_TLS_KEYS.http2,
  http3: ["cert_file", "key_file"],
  quic: ["cert_file", "key_file"],
};

/** Why a QUIC listener takes no automatic TLS and no `reload_interval`. */
const QUIC_NO_RELOAD =
  "a QUIC listener cannot take a new certificate while it runs (neither Deno's QUIC endpoint nor Bun's HTTP/3 server allows it, and rebinding would drop every connection)";

/** Why `key` does not apply to a `kind` listener's `tls` section, with the fix. */
function refusedTlsKey(kind: Exclude<TlsListenerKind, "tls">, key: string): string {
  if (kind === "http2") {
    return key === "alpn"
      ? "an http2 listener offers h2 and http/1.1 itself; remove alpn"
      : "an http2 listener does not verify client certificates; use name: tls for mutual TLS, or remove it";
  }
  if (key === "alpn") return "an http3 listener offers h3 itself; remove alpn";
  if (key === "min_version") return "QUIC always uses TLS 1.3; remove min_version";
  if (key === "reload_interval") {
    return `${QUIC_NO_RELOAD}; remove reload_interval (restart the tunnel to change the certificate)`;
  }
  return `a ${kind} listener does not verify client certificates; use name: tls for mutual TLS, or remove it`;
}

/**
 * The listener's TLS settings: go-tunnel's top-level `tls` section, overridden key by key by the
 * entry's own `tls`. `ca_file` names the CA of client certificates, so it needs `client_auth`.
 * With `auto`, the certificate comes from ACME: no file is needed (the result may be undefined).
 */
function parseTlsSection(
  top: Mapping | undefined,
  own: Mapping | undefined,
  path: string,
  options: { kind: TlsListenerKind; auto: boolean },
): TunnelTlsConfig | undefined {
  const { kind } = options;
  if (own) {
    checkKeys(own, `${path}.tls`, TLS_SECTION_KEYS);
    if (kind !== "tls") {
      const other = Object.keys(own).find((key) => !LISTENER_TLS_KEYS[kind].includes(key));
      if (other) throw new ConfigError(`${path}.tls.${other}`, refusedTlsKey(kind, other));
    }
  }
  const inherited = kind !== "tls" && top
    ? Object.fromEntries(Object.entries(top).filter(([key]) => INHERITED_TLS_KEYS[kind].includes(key)))
    : top;
  if (!inherited && !own) return undefined;
  const merged: Mapping = { ...inherited, ...own };
  if (options.auto) {
    delete merged.cert_file;
    delete merged.key_file;
  }
  const where = (key: string) => own?.[key] !== undefined ? `${path}.tls` : "tls";
  const certFile = tlsString(merged, "cert_file", where("cert_file"));
  const keyFile = tlsString(merged, "key_file", where("key_file"));
  if (!options.auto && (!certFile || !keyFile)) {
    const missing = certFile ? "key_file" : "cert_file";
    throw new ConfigError(
      `${path}.tls.${missing}`,
      `missing; ${article(kind)} listener needs cert_file and key_file (in the entry or the top-level tls section)${
        kind === "tls" || kind === "http2" ? ', or options.auto_tls: "true"' : ""
      }`,
    );
  }
  const tls: TunnelTlsConfig = options.auto ? {} : { certFile, keyFile };
  const clientCaFile = tlsString(merged, "ca_file", where("ca_file"));
  const clientAuth = merged.client_auth;
  if (clientAuth !== undefined && !["none", "optional", "require"].includes(clientAuth as string)) {
    throw new ConfigError(
      `${where("client_auth")}.client_auth`,
      `${show(clientAuth)} is not a policy; use none, optional or require`,
    );
  }
  if (clientCaFile !== undefined && clientAuth === undefined) {
    throw new ConfigError(
      `${where("ca_file")}.ca_file`,
      "names the CA of client certificates; add client_auth: require (or optional) to verify them, or remove ca_file",
    );
  }
  if (clientAuth !== undefined && clientAuth !== "none" && clientCaFile === undefined) {
    throw new ConfigError(
      `${where("client_auth")}.ca_file`,
      `missing; client_auth ${clientAuth} needs the CA that signs client certificates`,
    );
  }
  if (clientAuth !== undefined) tls.clientAuth = clientAuth as TunnelTlsConfig["clientAuth"];
  if (clientCaFile !== undefined) tls.clientCaFile = clientCaFile;
  const minVersion = merged.min_version;
  if (minVersion !== undefined) {
    const text = typeof minVersion === "number" ? minVersion.toFixed(1) : String(minVersion);
    if (text !== "1.2" && text !== "1.3") {
      throw new ConfigError(
        `${where("min_version")}.min_version`,
        `${show(minVersion)} is not a TLS version; use "1.2" or "1.3"`,
      );
    }
    tls.minVersion = text;
  }
  const alpn = tlsAlpn(merged, where("alpn"));
  if (alpn) tls.alpn = alpn;
  if (merged.reload_interval !== undefined) {
    tls.reloadIntervalMs = durationValue(merged.reload_interval, `${where("reload_interval")}.reload_interval`);
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/** Parses an entry's `target_tls` section. */
export function parseTargetTls(value: unknown, path: string): TunnelTargetTlsConfig | undefined {
  if (value === undefined) return undefined;
  if (!isMapping(value)) {
    throw new ConfigError(path, "must be a mapping, for example {server_name: backend.internal, ca_file: ./ca.pem}");
  }
  checkKeys(value, path, TARGET_TLS_KEYS);
  const tls: TunnelTargetTlsConfig = {};
  const serverName = tlsString(value, "server_name", path);
  const caFile = tlsString(value, "ca_file", path);
  const certFile = tlsString(value, "cert_file", path);
  const keyFile = tlsString(value, "key_file", path);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError(
      `${path}.${certFile ? "key_file" : "cert_file"}`,
      "missing; a client certificate needs cert_file and key_file",
    );
  }
  if (value.insecure !== undefined && typeof value.insecure !== "boolean") {
    throw new ConfigError(`${path}.insecure`, `${show(value.insecure)} is not a boolean; use true or false`);
  }
  if (serverName !== undefined) tls.serverName = serverName;
  if (caFile !== undefined) tls.caFile = caFile;
  if (certFile !== undefined) tls.certFile = certFile;
  if (keyFile !== undefined) tls.keyFile = keyFile;
  if (value.insecure === true) tls.insecure = true;
  const alpn = tlsAlpn(value, path);
  if (alpn) tls.alpn = alpn;
  return tls;
}

/**
 * The listener keys of a `tls`, `http2`, `http3` or `quic` entry: its TLS section, or automatic
 * TLS when `options.auto_tls` is on and the entry (`tls` or `http2` without `http3: true`) names
 * no certificate file of its own.
 *
 * @param entry The `protocols` entry.
 * @param path Its key path.
 * @param top The top-level `tls` section.
 * @param autoTls Whether `options.auto_tls` is on.
 * @returns The keys to merge into the tunnel config.
 */
export function parseListenerTls(
  entry: Mapping,
  path: string,
  top: Mapping | undefined,
  autoTls: boolean,
): Pick<TunnelConfig, "tls" | "autoTls"> {
  const name = entry.name ?? "tcp";
  const own = entry.tls;
  if (own !== undefined && !isMapping(own)) {
    throw new ConfigError(`${path}.tls`, "must be a mapping with cert_file and key_file");
  }
  const h2c = name === "http2" && entry.h2c === true;
  if (name !== "tls" && name !== "http2" && name !== "http3" && name !== "quic") {
    if (own !== undefined) {
      throw new ConfigError(
        `${path}.tls`,
        "only a tls, http2, http3 or quic listener takes a tls section; set name: tls, or remove it",
      );
    }
    return {};
  }
  if (h2c) {
    if (own !== undefined) {
      throw new ConfigError(`${path}.tls`, "an h2c listener is cleartext HTTP/2; remove tls, or h2c");
    }
    return {};
  }
  const kind = name as TlsListenerKind;
  const auto = autoTls && own?.cert_file === undefined && own?.key_file === undefined;
  const quic = kind === "http3" || kind === "quic" || entry.http3 === true;
  if (auto && quic) {
    throw new ConfigError(
      `${path}.tls`,
      `missing; ${
        kind === "http2" ? "an http2 listener with http3: true" : article(kind) + " listener"
      } cannot take its certificate from ACME (options.auto_tls): ${QUIC_NO_RELOAD}; set tls.cert_file and tls.key_file in this entry`,
    );
  }
  const tls = parseTlsSection(top, own, path, { kind, auto });
  if (!tls && !auto) {
    throw new ConfigError(
      `${path}.tls`,
      `missing; ${article(kind)} listener needs tls.cert_file and tls.key_file (here or at the top level)${
        kind === "tls" || kind === "http2" ? ', or options.auto_tls: "true"' : ""
      }`,
    );
  }
  return { ...(tls ? { tls } : {}), ...(auto ? { autoTls: true } : {}) };
}

/** "a tls", "an http2", … for messages. */
function article(kind: TlsListenerKind): string {
  return kind === "tls" || kind === "quic" ? `a ${kind}` : `an ${kind}`;
}
