/**
 * The automatic-TLS flags, go-tunnel's first (`-auto-tls -email -domains -staging -dns-provider`),
 * then the ACME server (`-acme-directory`, `-acme-ca`), the HTTP-01 address (`-acme-http`) and the
 * storage folder (`-cert-dir`). `cli.ts` and the `cert` command map them with
 * {@linkcode autoTlsFromFlags}.
 * @module
 */
import { parseListenAddr } from "../protocols/address.ts";
import { normalizeDomain } from "../tls/acme/certificate.ts";
import { isDirectoryUrl } from "../tls/acme/directories.ts";
import { type AutoTlsSettings, DEFAULT_ACME_HTTP } from "../tls/auto_tls.ts";
import { type FlagSpec, UsageError } from "./cli_flags.ts";

/** The automatic-TLS flags. */
export const AUTO_TLS_FLAGS: Readonly<Record<string, FlagSpec>> = {
  "auto-tls": { type: "boolean", help: "obtain and renew the certificate from an ACME CA (Let's Encrypt by default)" },
  email: { type: "string", value: "ADDR", help: "ACME account contact, for expiry notices (needed with -auto-tls)" },
  domains: { type: "string", value: "LIST", help: "names on the certificate, e.g. example.com,www.example.com" },
  staging: { type: "boolean", help: "use Let's Encrypt's staging CA (untrusted certificates, for trials)" },
  "dns-provider": {
    type: "string",
    value: "NAME",
    help:
      "answer DNS-01 through cloudflare, alidns, route53, digitalocean or godaddy (credentials from the environment); needed for wildcards",
  },
  "acme-directory": { type: "string", value: "URL", help: "ACME directory of another CA (default: Let's Encrypt)" },
  "acme-ca": { type: "string", value: "FILE", help: "CA (PEM) that the -acme-directory server's HTTPS chains to" },
  "acme-http": {
    type: "string",
    value: "ADDR",
    help: "where the HTTP-01 responder listens while a challenge is pending: host:port, external or off",
    default: `${DEFAULT_ACME_HTTP} (off with -dns-provider)`,
  },
  "cert-dir": {
    type: "string",
    value: "DIR",
    help: "ACME account and certificates",
    default: "$XDG_DATA_HOME/ts-tunnel/acme or ~/.local/share/ts-tunnel/acme",
  },
};

type Values = Record<string, string | boolean | undefined>;

/**
 * Parses `-domains`: names separated by commas, each a DNS name (a wildcard needs `-dns-provider`).
 *
 * @throws {UsageError} Naming the flag, the value and the fix.
 */
export function parseDomainsFlag(text: string, dnsProvider: string | undefined): string[] {
  const names = text.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw new UsageError(
      `Flag "-domains" cannot be "${text}": list names separated by commas, e.g. example.com,www.example.com`,
    );
  }
  return names.map((name) => {
    let normal: string;
    try {
      normal = normalizeDomain(name);
    } catch (error) {
      throw new UsageError(`Flag "-domains": ${(error as Error).message}`);
    }
    if (normal.startsWith("*.") && dnsProvider === undefined) {
      throw new UsageError(`Flag "-domains": "${name}" is a wildcard, which needs DNS-01: add -dns-provider NAME`);
    }
    return normal;
  });
}

/** How {@linkcode autoTlsFromFlags} reads the flags. */
export interface AutoTlsFlagsOptions {
  /**
   * `forward`: the flags apply only with `-auto-tls`, which needs `-email` and `-domains`.
   * `cert`: the `cert` command; `-domains` is optional (default: every stored certificate).
   */
  readonly command: "forward" | "cert";
}

/**
 * Maps the {@linkcode AUTO_TLS_FLAGS} to {@linkcode AutoTlsSettings}.
 *
 * @param values Parsed flag values.
 * @param options Which command reads them.
 * @returns The settings, or `undefined` for `forward` without `-auto-tls`.
 * @throws {UsageError} Naming the flag, its value and the fix.
 */
export function autoTlsFromFlags(values: Values, options: AutoTlsFlagsOptions): AutoTlsSettings | undefined {
  const text = (flag: string) => values[flag] as string | undefined;
  if (options.command === "forward") {
    if (values["auto-tls"] !== true) {
      const used = Object.keys(AUTO_TLS_FLAGS).find((f) => values[f] !== undefined);
      if (used) throw new UsageError(`Flag "-${used}" applies to automatic TLS: add -auto-tls`);
      return undefined;
    }
    if (!text("email")) {
      throw new UsageError('Flag "-auto-tls" needs -email ADDRESS (the ACME account\'s contact, for expiry notices)');
    }
    if (!text("domains")) {
      throw new UsageError('Flag "-auto-tls" needs -domains NAME[,NAME...] (the names the certificate covers)');
    }
  }
  const dnsProvider = text("dns-provider");
  const settings: AutoTlsSettings = {
    domains: text("domains") === undefined ? [] : parseDomainsFlag(text("domains")!, dnsProvider),
  };
  if (text("email")) settings.email = text("email");
  if (dnsProvider !== undefined) settings.dnsProvider = dnsProvider;
  const directory = text("acme-directory");
  if (values.staging === true && directory !== undefined) {
    throw new UsageError(
      "Flag \"-staging\" cannot be combined with -acme-directory: use Let's Encrypt's staging CA or your own directory",
    );
  }
  if (values.staging === true) settings.staging = true;
  if (directory !== undefined) {
    if (!isDirectoryUrl(directory)) {
      throw new UsageError(
        `Flag "-acme-directory" cannot be "${directory}": use the directory's https URL, e.g. https://ca.internal/acme/directory`,
      );
    }
    settings.directoryUrl = directory;
  }
  if (text("acme-ca") !== undefined) {
    if (directory === undefined) {
      throw new UsageError(
        'Flag "-acme-ca" applies to -acme-directory (a private CA\'s ACME server): add it, or remove -acme-ca',
      );
    }
    settings.caFile = text("acme-ca");
  }
  const http = text("acme-http");
  if (http !== undefined) {
    if (dnsProvider !== undefined && http !== "off") {
      throw new UsageError(
        'Flag "-acme-http" has no effect with -dns-provider (DNS-01 answers every challenge): remove one of them',
      );
    }
    if (http === "off" && dnsProvider === undefined) {
      throw new UsageError(
        'Flag "-acme-http off" needs -dns-provider NAME: without HTTP-01, only DNS-01 can prove the names',
      );
    }
    if (http !== "off" && http !== "external") {
      try {
        parseListenAddr(http);
      } catch (error) {
        throw new UsageError(
          `Flag "-acme-http": ${(error as Error).message}; or use external or off`,
        );
      }
    }
    settings.http = http;
  }
  if (text("cert-dir") !== undefined) settings.certDir = text("cert-dir");
  return settings;
}
