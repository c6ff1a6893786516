/**
 * Internal: the ACME account of one CA directory. The key and account URL live in storage; a new
 * key is registered once, under the storage lock, so processes sharing the folder share one account.
 * @module
 */
import type { ExternalAccountBinding } from "./directories.ts";
import { AcmeError } from "./errors.ts";
import type { FileLockOptions } from "./lock.ts";
import type { CertificateStorage } from "./storage.ts";
import { type AcmeClientInstance, createKey, loadAcme, trustCa } from "./_acme.ts";

/** What opening the account needs. */
export interface AccountSettings {
  readonly directoryUrl: string;
  readonly caBundle: string | readonly string[] | undefined;
  readonly externalAccountBinding: ExternalAccountBinding | undefined;
  readonly agreeTerms: boolean;
  readonly email: string | undefined;
  /** acme-client's first delay between two status polls. */
  readonly statusPollMs: number;
  readonly lock: FileLockOptions;
}

/**
 * Returns a client for the stored account, registering a new one first if there is none.
 *
 * @param storage The CA directory's storage.
 * @param settings Directory, trust, EAB, terms and contact.
 * @param domains The names the account is needed for (for error messages).
 * @throws {AcmeError} If the terms are not agreed to and no account exists yet.
 */
export async function openAccount(
  storage: CertificateStorage,
  settings: AccountSettings,
  domains: readonly string[],
): Promise<AcmeClientInstance> {
  const acme = await loadAcme();
  await trustCa(acme, settings.directoryUrl, settings.caBundle);
  const lock = await storage.lock("account", settings.lock);
  try {
    let account = await storage.loadAccount();
    if (!account) {
      account = { key: await createKey(acme, "ecdsa") };
      await storage.saveAccount(account);
    }
    const client = new acme.Client({
      directoryUrl: settings.directoryUrl,
      accountKey: account.key,
      accountUrl: account.url,
      externalAccountBinding: settings.externalAccountBinding,
      backoffMin: settings.statusPollMs,
      backoffMax: Math.max(settings.statusPollMs, 30_000),
    });
    if (account.url) return client;
    if (!settings.agreeTerms) {
      throw new AcmeError("the CA's terms of service must be agreed to (set 'agreeTerms: true')", {
        operation: "account",
        domains,
      });
    }
    const contact = settings.email ? [`mailto:${settings.email}`] : undefined;
    try {
      await client.createAccount({ termsOfServiceAgreed: true, contact });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AcmeError(reason, { operation: "account", domains, cause: error });
    }
    await storage.saveAccount({ key: account.key, url: client.getAccountUrl() });
    return client;
  } finally {
    await lock.release();
  }
}
