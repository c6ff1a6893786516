/**
 * Internal: the TLS parts of the YAML config: the listener's `tls` section (top level and per
 * entry, for `tls` and `http2` entries), `target_tls`, and automatic TLS: go-tunnel's `options`
 * keys (`auto_tls`, `email`, `domains`, `staging`, `dns_provider`) plus the `acme` section
 * (`directory`, `ca_file`, `http`, `cert_dir`).
 * @module
 */
import { parseListenAddr } from "../protocols/address.ts";
import { normalizeDomain } from "../tls/acme/certificate.ts";
import type { AutoTlsSettings } from "../tls/auto_tls.ts";
import type { TunnelConfig, TunnelTargetTlsConfig, TunnelTlsConfig } from "./config.ts";
import { checkKeys, ConfigError, isMapping, type Mapping, show } from "./_config_yaml.ts";
import { parseDuration } from "./duration.ts";

/** go-tunnel's global `options` keys. */
export const OPTIONS_KEYS = ["auto_tls", "email", "domains", "staging", "dns_provider"];
/** Keys of the `acme` section. */
export const ACME_KEYS = ["directory", "ca_file", "http", "cert_dir"];

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

/** Keys of the top-level `tls` section an `http2` entry takes (client certificates and ALPN are `tls`-only). */
const HTTP2_TLS_KEYS = ["cert_file", "key_file", "min_version", "reload_interval"];

/**
 * The listener's TLS settings: go-tunnel's top-level `tls` section, overridden key by key by the
 * entry's own `tls`. `ca_file` names the CA of client certificates, so it needs `client_auth`.
 * With `auto`, the certificate comes from ACME: no file is needed (the result may be undefined).
 */
function parseTlsSection(
  top: Mapping | undefined,
  own: Mapping | undefined,
  path: string,
  options: { http2: boolean; auto: boolean },
): TunnelTlsConfig | undefined {
  if (own) {
    checkKeys(own, `${path}.tls`, TLS_SECTION_KEYS);
    if (options.http2) {
      const other = Object.keys(own).find((key) => !HTTP2_TLS_KEYS.includes(key));
      if (other) {
        throw new ConfigError(
          `${path}.tls.${other}`,
          other === "alpn"
            ? "an http2 listener offers h2 and http/1.1 itself; remove alpn"
            : "an http2 listener does not verify client certificates; use name: tls for mutual TLS, or remove it",
        );
      }
    }
  }
  const inherited = options.http2 && top
    ? Object.fromEntries(Object.entries(top).filter(([key]) => HTTP2_TLS_KEYS.includes(key)))
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
      `missing; ${
        options.http2 ? "an http2" : "a tls"
      } listener needs cert_file and key_file (in the entry or the top-level tls section), or options.auto_tls: "true"`,
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
 * The listener keys of a `tls` or `http2` entry: its TLS section, or automatic TLS when
 * `options.auto_tls` is on and the entry names no certificate file of its own.
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
  if (name !== "tls" && name !== "http2") {
    if (own !== undefined) {
      throw new ConfigError(
        `${path}.tls`,
        "only a tls or http2 listener takes a tls section; set name: tls, or remove it",
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
  const auto = autoTls && own?.cert_file === undefined && own?.key_file === undefined;
  const tls = parseTlsSection(top, own, path, { http2: name === "http2", auto });
  if (!tls && !auto) {
    throw new ConfigError(
      `${path}.tls`,
      `missing; ${
        name === "http2" ? "an http2" : "a tls"
      } listener needs tls.cert_file and tls.key_file (here or at the top level), or options.auto_tls: "true"`,
    );
  }
  return { ...(tls ? { tls } : {}), ...(auto ? { autoTls: true } : {}) };
}

function optionString(options: Mapping, key: string): string | undefined {
  const value = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw new ConfigError(`options.${key}`, `${show(value)} is not a string; write for example "ops@example.com"`);
  }
  return value.trim();
}

function optionBool(options: Mapping, key: string): boolean {
  const value = options[key];
  if (value === undefined) return false;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new ConfigError(`options.${key}`, `${show(value)} is not a boolean; use "true" or "false"`);
}

function parseDomains(value: unknown, dnsProvider: string | undefined): string[] {
  const list = typeof value === "string" ? value.split(",").map((d) => d.trim()) : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((d) => typeof d === "string" && d !== "")) {
    throw new ConfigError(
      "options.domains",
      `${show(value)} is not a list of names; write "example.com,www.example.com" or [example.com, www.example.com]`,
    );
  }
  return list.map((domain: string) => {
    let name: string;
    try {
      name = normalizeDomain(domain);
    } catch (error) {
      throw new ConfigError("options.domains", (error as Error).message);
    }
    if (name.startsWith("*.") && dnsProvider === undefined) {
      throw new ConfigError(
        "options.domains",
        `"${domain}" is a wildcard, which needs DNS-01: set options.dns_provider (cloudflare, alidns, route53, digitalocean, godaddy)`,
      );
    }
    return name;
  });
}

/**
 * Reads go-tunnel's `options` (`auto_tls`, `email`, `domains`, `staging`, `dns_provider`) and the
 * `acme` section into {@linkcode AutoTlsSettings}; `undefined` unless `auto_tls` is `"true"`.
 *
 * @throws {ConfigError} Naming the key path, the value and the fix.
 */
export function parseAutoTls(options: unknown, acme: unknown, top: Mapping | undefined): AutoTlsSettings | undefined {
  if (options !== undefined && !isMapping(options)) throw new ConfigError("options", "must be a mapping");
  if (acme !== undefined && !isMapping(acme)) {
    throw new ConfigError("acme", 'must be a mapping, for example {directory: "https://ca.internal/acme/directory"}');
  }
  const opts: Mapping = options ?? {};
  checkKeys(opts, "options", OPTIONS_KEYS);
  if (acme) checkKeys(acme, "acme", ACME_KEYS);
  if (!optionBool(opts, "auto_tls")) {
    const used = OPTIONS_KEYS.find((key) => key !== "auto_tls" && opts[key] !== undefined);
    if (used) throw new ConfigError(`options.${used}`, 'applies to automatic TLS; set options.auto_tls: "true"');
    if (acme) throw new ConfigError("acme", 'applies to automatic TLS; set options.auto_tls: "true"');
    return undefined;
  }
  for (const key of ["cert_file", "key_file"]) {
    if (top?.[key] !== undefined) {
      throw new ConfigError(
        `tls.${key}`,
        "cannot be combined with options.auto_tls (the certificate comes from ACME); remove it, or set it per entry to keep files there",
      );
    }
  }
  const email = optionString(opts, "email");
  if (email === undefined) {
    throw new ConfigError("options.email", "missing; automatic TLS needs the ACME account's contact address");
  }
  const dnsProvider = optionString(opts, "dns_provider");
  if (opts.domains === undefined) {
    throw new ConfigError("options.domains", 'missing; list the names the certificate covers, e.g. "example.com"');
  }
  const settings: AutoTlsSettings = { email, domains: parseDomains(opts.domains, dnsProvider) };
  if (dnsProvider !== undefined) settings.dnsProvider = dnsProvider;
  const staging = optionBool(opts, "staging");
  const section: Mapping = acme ?? {};
  const text = (key: string): string | undefined => {
    const value = section[key];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.trim() === "") {
      throw new ConfigError(`acme.${key}`, `${show(value)} is not a string`);
    }
    return value.trim();
  };
  const directory = text("directory");
  if (staging && directory !== undefined) {
    throw new ConfigError(
      "acme.directory",
      "cannot be combined with options.staging: use Let's Encrypt's staging CA or your own directory",
    );
  }
  if (staging) settings.staging = true;
  if (directory !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(directory);
    } catch { /* reported below */ }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
      throw new ConfigError(
        "acme.directory",
        `${show(directory)} is not a URL; use the directory's https URL, e.g. https://ca.internal/acme/directory`,
      );
    }
    settings.directoryUrl = directory;
  }
  const caFile = text("ca_file");
  if (caFile !== undefined) {
    if (directory === undefined) {
      throw new ConfigError(
        "acme.ca_file",
        "applies to acme.directory (a private CA's ACME server); set it, or remove ca_file",
      );
    }
    settings.caFile = caFile;
  }
  const http = text("http");
  if (http !== undefined) {
    if (dnsProvider !== undefined && http !== "off") {
      throw new ConfigError(
        "acme.http",
        "has no effect with options.dns_provider (DNS-01 answers every challenge); remove one",
      );
    }
    if (http === "off" && dnsProvider === undefined) {
      throw new ConfigError(
        "acme.http",
        "off needs options.dns_provider: without HTTP-01, only DNS-01 can prove the names",
      );
    }
    if (http !== "off" && http !== "external") {
      try {
        parseListenAddr(http);
      } catch (error) {
        throw new ConfigError("acme.http", `${(error as Error).message}; or use external or off`);
      }
    }
    settings.http = http;
  }
  const certDir = text("cert_dir");
  if (certDir !== undefined) settings.certDir = certDir;
  return settings;
}
