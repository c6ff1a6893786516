/**
 * {@linkcode AutoTlsSettings}: automatic TLS as the command line and the YAML file describe it
 * (go-tunnel's `-auto-tls -email -domains -staging -dns-provider`, plus the ACME server, its CA,
 * the HTTP-01 address and the storage folder), and {@linkcode createAutoTlsManager}, which turns
 * them into an {@linkcode AutoManager}. Every listed name goes on one certificate, because the
 * runtimes' TLS listeners serve one certificate each (see `TlsServerOptions.certificates`).
 * @module
 */
import { readFile } from "node:fs/promises";
import process from "node:process";
import { parseListenAddr } from "../protocols/address.ts";
import type { AutoManager } from "./acme/auto_manager.ts";
import { LETS_ENCRYPT_PRODUCTION, LETS_ENCRYPT_STAGING } from "./acme/directories.ts";
import type { HealthCheckRegistry } from "./acme/health.ts";
import type { AcmeObserver } from "./acme/observer.ts";
import type { HttpChallengeMode } from "./acme/options.ts";
import { defaultStorageDir } from "./acme/storage.ts";

/** Default address of the HTTP-01 responder (CAs validate on port 80), without a DNS provider. */
export const DEFAULT_ACME_HTTP = ":80";

/** Automatic TLS for the forwarder's `tls` and `http2` listeners. */
export interface AutoTlsSettings {
  /** The ACME account's contact address (go-tunnel's `-email`). */
  email?: string;
  /** The names the certificate covers (go-tunnel's `-domains`); all go on one certificate. Empty: add them yourself. */
  domains: string[];
  /** Use Let's Encrypt's staging CA (go-tunnel's `-staging`). @default {false} */
  staging?: boolean;
  /** Answer DNS-01 challenges through this provider, configured from the environment (go-tunnel's `-dns-provider`). @default {undefined} */
  dnsProvider?: string;
  /** The ACME directory URL of another CA. @default {Let's Encrypt (staging with `staging`)} */
  directoryUrl?: string;
  /** CA bundle file (PEM) the ACME server's HTTPS certificate chains to. @default {the runtime's roots} */
  caFile?: string;
  /**
   * Where the HTTP-01 responder listens while a challenge is pending (`host:port` or `:port`),
   * `"external"` (another component answers through `AutoManager.handleHttpChallenge()`), or
   * `"off"`. @default {":80" without `dnsProvider`, "off" with it}
   */
  http?: string;
  /** Folder of the ACME account and certificates. @default {defaultStorageDir()} */
  certDir?: string;
}

/** The directory URL the settings point at. */
export function autoTlsDirectory(settings: Pick<AutoTlsSettings, "directoryUrl" | "staging">): string {
  return settings.directoryUrl ?? (settings.staging ? LETS_ENCRYPT_STAGING : LETS_ENCRYPT_PRODUCTION);
}

/**
 * Maps {@linkcode AutoTlsSettings.http} to the manager's HTTP-01 mode.
 *
 * @throws {TypeError} For an address that does not parse.
 */
export function httpChallengeMode(settings: Pick<AutoTlsSettings, "http" | "dnsProvider">): HttpChallengeMode {
  const http = settings.http ?? (settings.dnsProvider ? "off" : DEFAULT_ACME_HTTP);
  if (http === "off") return false;
  if (http === "external") return "external";
  const addr = parseListenAddr(http);
  return addr.hostname ? { hostname: addr.hostname, port: addr.port } : { port: addr.port };
}

/** Options for {@linkcode createAutoTlsManager}. */
export interface CreateAutoTlsManagerOptions {
  /** Where the DNS provider's credentials are read from. @default {process.env} */
  env?: Record<string, string | undefined>;
  /** Callbacks for logs and metrics. */
  observer?: AcmeObserver;
  /** Registry for the certificate health check (added on `start()`). */
  health?: HealthCheckRegistry;
}

/**
 * Creates the manager for `settings` and adds the domains (one certificate for all). It agrees to
 * the CA's terms of service, as go-tunnel's `-auto-tls` does. Nothing is contacted until the
 * manager's `start()` (which issues in the background) or `renewAll()`.
 *
 * @param settings What to obtain, from which CA, and how challenges are answered.
 * @param options Environment, observer, health registry.
 * @returns The manager, not started.
 * @throws {TypeError} If the CA file cannot be read or the HTTP-01 address does not parse.
 * @throws {DnsProviderConfigError} If the DNS provider is unknown or its variables are missing.
 */
export async function createAutoTlsManager(
  settings: AutoTlsSettings,
  options: CreateAutoTlsManagerOptions = {},
): Promise<AutoManager> {
  const { env = process.env, observer, health } = options;
  let caBundle: string | undefined;
  if (settings.caFile !== undefined) {
    try {
      caBundle = await readFile(settings.caFile, "utf8");
    } catch (error) {
      throw new TypeError(`Cannot read the ACME CA file "${settings.caFile}": ${(error as Error).message}`);
    }
  }
  const dnsProvider = settings.dnsProvider === undefined
    ? undefined
    : (await import("./dns/from_env.ts")).dnsProviderFromEnv(settings.dnsProvider, env);
  const { AutoManager } = await import("./acme/auto_manager.ts");
  const manager = new AutoManager({
    email: settings.email,
    agreeTerms: true,
    directoryUrl: autoTlsDirectory(settings),
    caBundle,
    storageDir: settings.certDir ?? defaultStorageDir(env),
    httpChallenge: httpChallengeMode(settings),
    dnsProvider,
    observer,
    health,
  });
  try {
    if (settings.domains.length > 0) await manager.addDomains(settings.domains, { sameCertificate: true });
  } catch (error) {
    await manager.close();
    throw error;
  }
  return manager;
}
