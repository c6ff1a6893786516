/**
 * The CLI's `cert` command: `status` reads the certificate store without contacting the CA and
 * prints, per domain, the issuer, expiry, last renewal and last error; `renew` renews now
 * (`AutoManager.renewAll()`); `revoke DOMAIN` revokes at the CA and deletes the stored copy. The
 * store is the one the forwarder's `-auto-tls` uses: the same `-cert-dir`, `-acme-directory` (or
 * `-staging`) and, for `renew`, the same challenge settings; or `-config FILE` to read them from
 * the YAML file's `options` and `acme` sections.
 *
 * @example Check and renew
 * ```sh
 * ts-tunnel cert status -cert-dir /var/lib/ts-tunnel/acme
 * ts-tunnel cert renew -config tunnels.yaml
 * ts-tunnel cert revoke www.example.com -cert-dir /var/lib/ts-tunnel/acme
 * ```
 * @module
 */
import { readFile } from "node:fs/promises";
import { AUTO_TLS_FLAGS, autoTlsFromFlags } from "../forward/cli_auto_tls.ts";
import { type FlagSpec, formatFlags, parseFlags, UsageError } from "../forward/cli_flags.ts";
import { ConfigError, parseConfigFile } from "../forward/config_file.ts";
import type { AutoManager } from "./acme/auto_manager.ts";
import { matchesServerName } from "./acme/certificate.ts";
import { UnsupportedChallengeError } from "./acme/errors.ts";
import type { AcmeObserver } from "./acme/observer.ts";
import { CertificateStorage, defaultStorageDir, type StoredCertificate, type StoredError } from "./acme/storage.ts";
import { autoTlsDirectory, type AutoTlsSettings, createAutoTlsManager } from "./auto_tls.ts";
import { DnsProviderConfigError } from "./dns/from_env.ts";

/** Where the command writes, and what it reads. */
export interface CertCommandOptions {
  /** Output. */
  readonly io: { stdout(text: string): void; stderr(text: string): void };
  /** Environment variables (DNS provider credentials, `XDG_DATA_HOME`). */
  readonly env: Record<string, string | undefined>;
  /** The version, for the help text. */
  readonly version: string;
}

const SUBCOMMANDS = ["status", "renew", "revoke"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const { "auto-tls": _autoTls, ...ACME_FLAGS } = AUTO_TLS_FLAGS;

const FLAGS: Record<string, FlagSpec> = {
  ...ACME_FLAGS,
  config: {
    type: "string",
    value: "FILE",
    help: "read the ACME settings from a YAML file's options and acme sections",
  },
  json: { type: "boolean", help: "status: print JSON instead of text" },
  reason: {
    type: "string",
    value: "N",
    help: "revoke: RFC 5280 reason code (0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation)",
    default: "0",
  },
  help: { type: "boolean", short: "h", help: "print this help and exit" },
};

function usage(version: string): string {
  return `ts-tunnel ${version}: the certificates automatic TLS (-auto-tls) keeps

Usage:
  ts-tunnel cert status [flags]          per domain: issuer, expiry, last renewal, last error (no CA contact)
  ts-tunnel cert renew [flags]           renew now (all stored certificates, or -domains)
  ts-tunnel cert revoke DOMAIN [flags]   revoke the certificate serving DOMAIN and delete it

Use the -cert-dir and -acme-directory (or -staging) the forwarder uses. Without -domains, every
certificate stored for that CA is listed (status) or renewed (renew). A running forwarder picks up
a certificate renewed here at its next renewal check, or when it restarts.

Flags:
${formatFlags(FLAGS)}
`;
}

interface Row {
  readonly domain: string;
  readonly stored: StoredCertificate | undefined;
  readonly lastError: StoredError | undefined;
}

/** Every stored certificate of the CA, with its last recorded failure. */
async function readStore(storage: CertificateStorage): Promise<{ name: string; row: Omit<Row, "domain"> }[]> {
  const names = await storage.listCertificates();
  return await Promise.all(names.map(async (name) => ({
    name,
    row: {
      stored: await storage.loadCertificate(name).catch(() => undefined),
      lastError: await storage.loadLastError(name).catch(() => undefined),
    },
  })));
}

function rowsFor(domains: readonly string[], store: Awaited<ReturnType<typeof readStore>>): Row[] {
  if (domains.length === 0) {
    return store.flatMap(({ name, row }) =>
      row.stored ? row.stored.info.domains.map((domain) => ({ domain, ...row })) : [{ domain: name, ...row }]
    );
  }
  return domains.map((domain) => {
    const holder = store.find(({ row }) => row.stored?.info.domains.some((d) => matchesServerName(d, domain))) ??
      store.find(({ name }) => name === domain);
    return { domain, stored: holder?.row.stored, lastError: holder?.row.lastError };
  });
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function statusLine(row: Row, now: number): string {
  const { stored, lastError } = row;
  const failure = lastError && (!stored || lastError.at > stored.obtainedAt)
    ? `${lastError.message} (at ${iso(lastError.at)})`
    : "none";
  if (!stored) return `${row.domain}: no certificate, last error: ${failure}\n`;
  const left = stored.info.notAfter - now;
  const state = left <= 0 ? "expired" : "valid";
  const days = left > 0 ? ` (${Math.floor(left / 86_400_000)} days left)` : "";
  return `${row.domain}: ${state}, issuer "${stored.info.issuer}", not after ${
    iso(stored.info.notAfter)
  }${days}, last renewal ${iso(stored.obtainedAt)}, last error: ${failure}\n`;
}

function statusJson(row: Row, now: number): Record<string, unknown> {
  const { stored, lastError } = row;
  const failing = lastError && (!stored || lastError.at > stored.obtainedAt);
  return {
    domain: row.domain,
    state: !stored ? "missing" : stored.info.notAfter <= now ? "expired" : "valid",
    domains: stored?.info.domains,
    issuer: stored?.info.issuer,
    serialNumber: stored?.info.serialNumber,
    notBefore: iso(stored?.info.notBefore),
    notAfter: iso(stored?.info.notAfter),
    lastRenewal: iso(stored?.obtainedAt),
    lastError: failing ? lastError.message : undefined,
    lastErrorAt: failing ? iso(lastError.at) : undefined,
  };
}

async function settingsFrom(values: Record<string, string | boolean | undefined>): Promise<AutoTlsSettings> {
  if (values.config === undefined) return autoTlsFromFlags(values, { command: "cert" })!;
  const used = Object.keys(ACME_FLAGS).find((f) => values[f] !== undefined);
  if (used) throw new UsageError(`Flag "-${used}" cannot be combined with -config: put it in the config file instead`);
  let text: string;
  try {
    text = await readFile(values.config as string, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read config file "${values.config}": ${(error as Error).message}`);
  }
  const file = parseConfigFile(text);
  if (!file.autoTls) {
    throw new UsageError(`Config file "${values.config}" does not turn on automatic TLS: set options.auto_tls: "true"`);
  }
  return file.autoTls;
}

function stderrObserver(io: CertCommandOptions["io"]): AcmeObserver {
  return {
    onIssued: (event) =>
      io.stderr(
        `${event.renewal ? "renewed" : "issued"} ${event.domains.join(",")}: not after ${iso(event.info.notAfter)} (${
          Math.round(event.durationMs)
        } ms)\n`,
      ),
    onFailure: (event) =>
      io.stderr(
        `cannot obtain ${event.domains.join(",")}: ${
          event.error instanceof Error ? event.error.message : String(event.error)
        }\n`,
      ),
  };
}

/** The manager for `settings`, managing the requested domains, or else every stored certificate's. */
async function managerFor(
  settings: AutoTlsSettings,
  store: Awaited<ReturnType<typeof readStore>>,
  options: CertCommandOptions,
): Promise<AutoManager> {
  const manager = await createAutoTlsManager(settings, { env: options.env, observer: stderrObserver(options.io) });
  try {
    if (settings.domains.length === 0) {
      for (const { row } of store) {
        if (row.stored) await manager.addDomains(row.stored.info.domains, { sameCertificate: true });
      }
    }
    await manager.load();
  } catch (error) {
    await manager.close();
    throw error;
  }
  return manager;
}

/**
 * Runs `ts-tunnel cert …` and resolves to the exit code: 0 done, 1 the CA or the store failed,
 * 2 bad command line.
 *
 * @param args The arguments after `cert`.
 * @param options Output, environment and version.
 * @returns The exit code.
 */
export async function runCertCommand(args: readonly string[], options: CertCommandOptions): Promise<number> {
  const { io } = options;
  let subcommand: Subcommand;
  let settings: AutoTlsSettings;
  let positionals: string[];
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseFlags(args, FLAGS);
    values = parsed.values;
    positionals = parsed.positionals;
    if (values.help) {
      io.stdout(usage(options.version));
      return 0;
    }
    const name = positionals.shift();
    if (name === undefined || !SUBCOMMANDS.includes(name as Subcommand)) {
      throw new UsageError(
        name === undefined
          ? `Missing the cert command: use one of ${SUBCOMMANDS.join(", ")}, e.g. ts-tunnel cert status -cert-dir DIR`
          : `Unknown cert command "${name}": use one of ${SUBCOMMANDS.join(", ")}`,
      );
    }
    subcommand = name as Subcommand;
    if (subcommand === "revoke" && positionals.length !== 1) {
      throw new UsageError("Missing the domain: use ts-tunnel cert revoke DOMAIN [flags]");
    }
    if (subcommand !== "revoke" && positionals.length > 0) {
      throw new UsageError(`Unexpected argument "${positionals[0]}": flags start with "-", e.g. -domains example.com`);
    }
    if (values.json && subcommand !== "status") throw new UsageError('Flag "-json" applies to cert status');
    if (values.reason !== undefined && subcommand !== "revoke") {
      throw new UsageError('Flag "-reason" applies to cert revoke');
    }
    if (values.reason !== undefined && !["0", "1", "4", "5"].includes(values.reason as string)) {
      throw new UsageError(
        `Flag "-reason" cannot be "${values.reason}": use 0 (unspecified), 1 (keyCompromise), 4 (superseded) or 5 (cessationOfOperation)`,
      );
    }
    settings = await settingsFrom(values);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const directoryUrl = autoTlsDirectory(settings);
  const storage = new CertificateStorage(settings.certDir ?? defaultStorageDir(options.env), directoryUrl);
  try {
    const store = await readStore(storage);
    if (subcommand === "status") {
      const now = Date.now();
      const rows = rowsFor(settings.domains, store);
      if (values.json) {
        io.stdout(
          `${
            JSON.stringify(
              {
                directory: directoryUrl,
                store: storage.root,
                domains: rows.map((r) => statusJson(r, now)),
              },
              null,
              2,
            )
          }\n`,
        );
      } else {
        io.stdout(`Certificates of ${directoryUrl} in ${storage.root}:\n`);
        if (rows.length === 0) io.stdout("  none stored\n");
        for (const row of rows) io.stdout(statusLine(row, now));
      }
      return 0;
    }
    if (subcommand === "revoke") {
      const domain = positionals[0];
      const holder = rowsFor([domain], store)[0];
      if (!holder.stored) {
        io.stderr(`Cannot revoke "${domain}": no certificate for it is stored in ${storage.root}\n`);
        return 1;
      }
      const scoped = settings.domains.length > 0 ? settings : { ...settings, domains: [...holder.stored.info.domains] };
      await using manager = await managerFor(scoped, store, options);
      await manager.revoke(domain, { reason: Number(values.reason ?? 0), reissue: false });
      io.stdout(
        `revoked the certificate of ${
          holder.stored.info.domains.join(",")
        } (serial ${holder.stored.info.serialNumber})\n`,
      );
      return 0;
    }
    if (settings.domains.length === 0 && store.every(({ row }) => !row.stored)) {
      io.stderr(`Cannot renew: no certificate is stored in ${storage.root}; give -domains to obtain one\n`);
      return 1;
    }
    await using manager = await managerFor(settings, store, options);
    await manager.renewAll();
    const now = Date.now();
    for (const row of rowsFor(settings.domains, await readStore(storage))) io.stdout(statusLine(row, now));
    return 0;
  } catch (error) {
    if (
      error instanceof TypeError || error instanceof DnsProviderConfigError ||
      error instanceof UnsupportedChallengeError
    ) {
      io.stderr(`${error.message}\n`);
      return 2;
    }
    const detail = error instanceof AggregateError
      ? error.errors.map((e) => e instanceof Error ? e.message : String(e)).join("; ")
      : error instanceof Error
      ? error.message
      : String(error);
    io.stderr(`Cannot ${subcommand}: ${detail}\n`);
    return 1;
  }
}
