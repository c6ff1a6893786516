/**
 * Internal: everything that talks to the CA for the manager. {@linkcode Issuer.obtain} takes the
 * certificate's storage lock, adopts a certificate another process stored meanwhile if it is
 * still fresh, and otherwise orders one and stores it; {@linkcode Issuer.revoke} revokes one.
 * Failures come out as {@linkcode AcmeError}s; cancellation as the signal's reason.
 * @module
 */
import type { CertificatePair } from "./certificate.ts";
import { AcmeError, type AcmeOperation } from "./errors.ts";
import type { FileLockOptions } from "./lock.ts";
import type { CertificateStorage, StoredCertificate } from "./storage.ts";
import { type AcmeClientInstance, type KeyType, loadAcme, withSignal } from "./_acme.ts";
import { type AccountSettings, openAccount } from "./_account.ts";
import { orderCertificate, type Solvers } from "./_order.ts";

/** What the issuer needs. */
export interface IssuerSettings {
  readonly storage: CertificateStorage;
  readonly account: Omit<AccountSettings, "lock">;
  readonly solvers: Solvers;
  readonly keyType: KeyType;
  readonly preferredChain: string | undefined;
  readonly lock: FileLockOptions;
  /** Whether a stored certificate still serves `domains` and is not yet due for renewal. */
  readonly isFresh: (stored: StoredCertificate, domains: readonly string[]) => boolean;
  readonly now: () => number;
}

function wrap(error: unknown, operation: AcmeOperation, domains: readonly string[], signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (error instanceof AcmeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AcmeError(message, { operation, domains: [...domains], cause: error });
}

/** Obtains and revokes certificates of one CA directory. */
export class Issuer {
  readonly #settings: IssuerSettings;
  #client: Promise<AcmeClientInstance> | undefined;

  constructor(settings: IssuerSettings) {
    this.#settings = settings;
  }

  /**
   * Under the storage lock of `name`: returns the stored certificate if another process renewed
   * it (and `force` is off), else orders a new one and stores it.
   *
   * @returns The certificate, and whether it was ordered now.
   * @throws {AcmeError} If ordering fails; the signal's reason if it aborts.
   */
  async obtain(
    name: string,
    domains: readonly string[],
    options: { force: boolean; renewal: boolean; signal: AbortSignal },
  ): Promise<{ stored: StoredCertificate; ordered: boolean }> {
    const { force, renewal, signal } = options;
    const { storage } = this.#settings;
    try {
      const lock = await storage.lock(name, { ...this.#settings.lock, signal });
      try {
        const stored = await storage.loadCertificate(name);
        if (stored && !force && this.#settings.isFresh(stored, domains)) return { stored, ordered: false };
        const pair = await this.#order(domains, signal);
        return { stored: await storage.saveCertificate(name, pair, this.#settings.now()), ordered: true };
      } finally {
        await lock.release();
      }
    } catch (error) {
      throw wrap(error, renewal ? "renew" : "issue", domains, signal);
    }
  }

  /**
   * Revokes `cert` at the CA with an RFC 5280 reason code.
   *
   * @throws {AcmeError} If the CA refuses; the signal's reason if it aborts.
   */
  async revoke(cert: string, domains: readonly string[], reason: number, signal: AbortSignal): Promise<void> {
    try {
      await withSignal(signal, async () => {
        const client = await this.#account(domains);
        signal.throwIfAborted();
        await client.revokeCertificate(cert, { reason });
      });
    } catch (error) {
      throw wrap(error, "revoke", domains, signal);
    }
  }

  #order(domains: readonly string[], signal: AbortSignal): Promise<CertificatePair> {
    return withSignal(signal, async () => {
      const acme = await loadAcme();
      const client = await this.#account(domains);
      signal.throwIfAborted();
      return await orderCertificate(acme, client, domains, this.#settings.solvers, {
        keyType: this.#settings.keyType,
        preferredChain: this.#settings.preferredChain,
        signal,
      });
    });
  }

  /** The account's client, opened (or registered) once; a failure is tried again next time. */
  #account(domains: readonly string[]): Promise<AcmeClientInstance> {
    const { storage, account, lock } = this.#settings;
    this.#client ??= openAccount(
      storage,
      { ...account, lock: { staleMs: lock.staleMs, timeoutMs: lock.timeoutMs } },
      domains,
    );
    this.#client.catch(() => (this.#client = undefined));
    return this.#client;
  }
}
