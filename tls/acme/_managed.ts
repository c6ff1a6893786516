/**
 * Internal: the bookkeeping of one managed certificate (its names, the certificate served, the
 * last failure, the callers waiting in `ready()`), and its {@linkcode CertificateStatus}.
 * @module
 */
import type { CertificateInfo } from "./certificate.ts";
import type { CertificateStatus } from "./status.ts";
import type { StoredCertificate } from "./storage.ts";

/** A caller of `ready()`. */
interface Waiter {
  resolve(info: CertificateInfo): void;
  reject(error: unknown): void;
}

/** One certificate the manager keeps: its storage name (its first domain) and the names it serves. */
export class Managed {
  /** The storage name: the first domain it was created with. */
  readonly name: string;
  /** The managed names it serves. */
  domains: string[];
  /** The certificate served, once there is one. */
  current: StoredCertificate | undefined = undefined;
  /** When management began, in epoch milliseconds. */
  readonly managedSince: number;
  /** The last failure, cleared by a success. */
  lastError: { message: string; at: number } | undefined = undefined;
  /** Consecutive failures. */
  failures = 0;
  readonly #waiters = new Set<Waiter>();

  constructor(domains: string[], now: number) {
    this.name = domains[0];
    this.domains = domains;
    this.managedSince = now;
  }

  /** Whether a certificate names every managed name. */
  coveredBy(info: CertificateInfo): boolean {
    return this.domains.every((d) => info.domains.includes(d));
  }

  /** Resolves with the next certificate, or rejects with what {@linkcode Managed.fail} is given. */
  wait(signal: AbortSignal | undefined): Promise<CertificateInfo> {
    if (this.current) return Promise.resolve(this.current.info);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<CertificateInfo>((resolve, reject) => {
      const onAbort = () => settle(() => reject(signal!.reason));
      const waiter: Waiter = {
        resolve: (info) => settle(() => resolve(info)),
        reject: (error) => settle(() => reject(error)),
      };
      const settle = (fn: () => void) => {
        this.#waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
        fn();
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Serves `stored` from now on and wakes the waiters. */
  install(stored: StoredCertificate): void {
    this.current = stored;
    this.lastError = undefined;
    this.failures = 0;
    for (const waiter of [...this.#waiters]) waiter.resolve(stored.info);
  }

  /** Rejects the waiters with `error`. */
  fail(error: unknown): void {
    for (const waiter of [...this.#waiters]) waiter.reject(error);
  }

  /** The status of this certificate, for `cacheStatus()`. */
  status(now: number, nextRun: number | undefined): CertificateStatus {
    const info = this.current?.info;
    return {
      state: !info ? "pending" : info.notAfter <= now ? "expired" : "valid",
      domains: [...this.domains],
      issuer: info?.issuer,
      serialNumber: info?.serialNumber,
      notBefore: info && new Date(info.notBefore),
      notAfter: info && new Date(info.notAfter),
      lastRenewal: this.current && new Date(this.current.obtainedAt),
      nextRenewal: nextRun === undefined ? undefined : new Date(nextRun),
      lastError: this.lastError?.message,
      lastErrorAt: this.lastError && new Date(this.lastError.at),
      failures: this.failures,
      managedSince: new Date(this.managedSince),
    };
  }
}
