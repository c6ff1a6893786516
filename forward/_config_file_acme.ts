/**
 * Internal: automatic TLS in the YAML config: go-tunnel's `options` keys (`auto_tls`, `email`,
 * `domains`, `staging`, `dns_provider`) plus the `acme` section (`directory`, `ca_file`, `http`,
 * `cert_dir`).
 * @module
 */
import { parseListenAddr } from "../protocols/address.ts";
import { normalizeDomain } from "../tls/acme/certificate.ts";
import { isDirectoryUrl } from "../tls/acme/directories.ts";
import type { AutoTlsSettings } from "../tls/auto_tls.ts";
import { checkKeys, ConfigError, isMapping, type Mapping, show } from "./_config_yaml.ts";

/** go-tunnel's global `options` keys. */
export const OPTIONS_KEYS = ["auto_tls", "email", "domains", "staging", "dns_provider"];
/** Keys of the `acme` section. */
export const ACME_KEYS = ["directory", "ca_file", "http", "cert_dir"];

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
    if (!isDirectoryUrl(directory)) {
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
