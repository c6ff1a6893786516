/**
 * {@linkcode AutoManager}: automatic TLS certificates from an ACME CA (Let's Encrypt, ZeroSSL,
 * a private CA), on npm `acme-client` loaded lazily. It keeps certificates on disk, serves them
 * by SNI name ({@linkcode AutoManager.certificateFor}), issues in the background, renews at two
 * thirds of the lifetime with backoff, and shares its storage safely with other processes.
 * @module
 */
import { KeyedLock } from "../dns/_lock.ts";
import { type CertificateInfo, type CertificatePair, normalizeDomain } from "./certificate.ts";
import { DnsChallengeSolver } from "./dns01.ts";
import {
  type ExternalAccountBinding,
  LETS_ENCRYPT_PRODUCTION,
  LETS_ENCRYPT_STAGING,
  ZEROSSL_PRODUCTION,
} from "./directories.ts";
import { AcmeError, UnsupportedChallengeError } from "./errors.ts";
import { certificateHealthCheck } from "./health.ts";
import { HttpChallengeResponder } from "./http01.ts";
import { DEFAULT_LOCK_STALE_MS, DEFAULT_LOCK_TIMEOUT_MS } from "./lock.ts";
import type { AcmeObserver, CertificateChangeEvent, CertificateChangeReason } from "./observer.ts";
import {
  type AutoManagerOptions,
  type ChallengeServerMode,
  DEFAULT_HEALTH_CHECK_NAME,
  DEFAULT_STATUS_POLL_MS,
  type HttpChallengeMode,
} from "./options.ts";
import { type Clock, DEFAULT_RENEW_FRACTION, RenewalScheduler, renewalTime, systemClock } from "./renewal.ts";
import type { CertificateStatus } from "./status.ts";
import { CertificateStorage, defaultStorageDir, type StoredCertificate } from "./storage.ts";
import { Issuer } from "./_issuer.ts";
import { OnDemandServer } from "./_on_demand_server.ts";
import { TlsAlpnResponder, tlsAlpnSupported } from "./tlsalpn01.ts";
import { DomainTable } from "./_domains.ts";
import type { Managed } from "./_managed.ts";

/** Options for {@linkcode AutoManager.addDomains}. */
export interface AddDomainsOptions {
  /** Put every name of this call on one certificate (a wildcard and its apex, say) instead of one each. @default {false} */
  sameCertificate?: boolean;
}

/** A TLS listener's view of the manager: certificate lookup by SNI name and change notices. */
export interface AutoTlsConfig {
  /** The certificate for an SNI name (wildcards match one label), or `undefined`. */
  certificateFor(serverName: string): CertificatePair | undefined;
  /** The certificate for clients that send no SNI: the first managed one available. */
  defaultCertificate(): CertificatePair | undefined;
  /** Calls `listener` whenever a certificate changes; dispose the result to stop. */
  onCertificateChange(listener: (event: CertificateChangeEvent) => void): Disposable;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Obtains and renews TLS certificates from an ACME CA for the domains it manages.
 *
 * @example Serve HTTPS with certificates from Let's Encrypt
 * ```ts ignore
 * import { AutoManager } from "@ts-tunnel/tunnel/tls";
 * const manager = new AutoManager({ email: "ops@example.com", agreeTerms: true, storageDir: "/var/lib/ts-tunnel/acme" });
 * await manager.addDomains(["example.com", "www.example.com"]);
 * await manager.start(); // loads stored certificates; orders missing ones in the background
 * await manager.ready("example.com");
 * const pair = manager.certificateFor("www.example.com"); // { cert, key } for the TLS listener
 * ```
 */
export class AutoManager implements AsyncDisposable {
  readonly #options: AutoManagerOptions;
  #directoryUrl: string;
  #caBundle: string | readonly string[] | undefined;
  #eab: ExternalAccountBinding | undefined;
  #storage: CertificateStorage | undefined;
  readonly #clock: Clock;
  readonly #scheduler: RenewalScheduler;
  readonly #responder = new HttpChallengeResponder();
  readonly #httpMode: HttpChallengeMode;
  readonly #dns: DnsChallengeSolver | undefined;
  readonly #table = new DomainTable();
  readonly #listeners = new Set<(event: CertificateChangeEvent) => void>();
  readonly #inProcess = new KeyedLock();
  readonly #http: OnDemandServer | undefined;
  readonly #alpnResponder = new TlsAlpnResponder();
  readonly #alpnMode: ChallengeServerMode;
  readonly #alpn: OnDemandServer | undefined;
  #issuerInstance: Issuer | undefined;
  #state: "new" | "started" | "closed" = "new";
  readonly #closing = new AbortController();

  /**
   * Creates a manager; nothing is read, written or contacted until {@linkcode AutoManager.start}.
   *
   * @param options CA, storage, challenges, renewal and observers.
   * @throws {RangeError} If `renewFraction` is not in (0, 1] or a timing option is not positive.
   * @throws {TypeError} If `directoryUrl` is not an https or http URL.
   * @throws {UnsupportedChallengeError} If `tlsAlpnChallenge` is set on a runtime without TLS-ALPN-01 support (Deno).
   */
  constructor(options: AutoManagerOptions = {}) {
    const { renewFraction = DEFAULT_RENEW_FRACTION, dnsProvider, clock = systemClock } = options;
    const alpn = options.tlsAlpnChallenge ?? false;
    if (alpn !== false && !tlsAlpnSupported()) throw new UnsupportedChallengeError("tls-alpn-01");
    if (!(renewFraction > 0 && renewFraction <= 1)) {
      throw new RangeError(
        `Cannot create AutoManager as 'renewFraction' must be in (0, 1]: current value is ${renewFraction}`,
      );
    }
    this.#options = options;
    this.#directoryUrl = LETS_ENCRYPT_PRODUCTION;
    this.useDirectory(options.directoryUrl ?? LETS_ENCRYPT_PRODUCTION, options);
    this.#clock = clock;
    this.#dns = dnsProvider ? new DnsChallengeSolver(dnsProvider, options.dnsChallenge) : undefined;
    this.#httpMode = options.httpChallenge ?? (dnsProvider ? false : {});
    const http = this.#httpMode;
    this.#http = typeof http === "object" ? new OnDemandServer(() => this.#responder.listen(http)) : undefined;
    this.#alpnMode = alpn;
    this.#alpn = typeof alpn === "object" ? new OnDemandServer(() => this.#alpnResponder.listen(alpn)) : undefined;
    this.#scheduler = new RenewalScheduler({
      ...options.retry,
      clock,
      onRetry: (name, error, attempt, delayMs) => {
        const managed = this.#table.get(name);
        if (managed) {
          this.#notify((o) => o.onFailure?.({ domains: [...managed.domains], error, attempt, retryInMs: delayMs }));
        }
      },
    });
  }

  /** The ACME directory URL in use. */
  get directoryUrl(): string {
    return this.#directoryUrl;
  }

  /** Every managed name, in the order added. */
  get domains(): string[] {
    return this.#table.names();
  }

  /**
   * Uses another ACME directory (a private CA, say); only before {@linkcode AutoManager.start}.
   *
   * @param directoryUrl The directory URL.
   * @param options The CA bundle its HTTPS chains to, and EAB credentials.
   * @throws {TypeError} If `directoryUrl` is not an http(s) URL.
   * @throws {Error} If the manager has started.
   */
  useDirectory(
    directoryUrl: string,
    options: { caBundle?: string | readonly string[]; externalAccountBinding?: ExternalAccountBinding } = {},
  ): void {
    if (this.#state !== "new") throw new Error("Cannot change the ACME directory after start()");
    let url: URL;
    try {
      url = new URL(directoryUrl);
    } catch (error) {
      throw new TypeError(`Cannot use ACME directory "${directoryUrl}": not a URL`, { cause: error });
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new TypeError(`Cannot use ACME directory "${directoryUrl}": expected an https URL`);
    }
    this.#directoryUrl = directoryUrl;
    this.#caBundle = options.caBundle;
    this.#eab = options.externalAccountBinding;
    this.#storage = undefined;
    this.#issuerInstance = undefined;
  }

  /** Uses Let's Encrypt's staging CA (untrusted certificates, high rate limits); only before `start()`. */
  useStaging(): void {
    this.useDirectory(LETS_ENCRYPT_STAGING);
  }

  /** Uses Let's Encrypt's production CA; only before `start()`. */
  useProduction(): void {
    this.useDirectory(LETS_ENCRYPT_PRODUCTION);
  }

  /**
   * Uses ZeroSSL, which needs External Account Binding credentials from its dashboard; only before `start()`.
   *
   * @param externalAccountBinding The EAB key id and HMAC key.
   */
  useZeroSSL(externalAccountBinding: ExternalAccountBinding): void {
    this.useDirectory(ZEROSSL_PRODUCTION, { externalAccountBinding });
  }

  get #store(): CertificateStorage {
    return this.#storage ??= new CertificateStorage(
      this.#options.storageDir ?? defaultStorageDir(),
      this.#directoryUrl,
    );
  }

  get #issuer(): Issuer {
    const { agreeTerms = false, email, statusPollMs = DEFAULT_STATUS_POLL_MS, keyType = "ecdsa" } = this.#options;
    const renewFraction = this.#options.renewFraction;
    return this.#issuerInstance ??= new Issuer({
      storage: this.#store,
      account: {
        directoryUrl: this.#directoryUrl,
        caBundle: this.#caBundle,
        externalAccountBinding: this.#eab,
        agreeTerms,
        email,
        statusPollMs,
      },
      solvers: {
        dns: this.#dns,
        http: this.#httpMode === false ? undefined : {
          responder: this.#responder,
          ready: () => this.#http?.acquire() ?? Promise.resolve(async () => {}),
        },
        tlsAlpn: this.#alpnMode === false ? undefined : {
          responder: this.#alpnResponder,
          ready: () => this.#alpn?.acquire() ?? Promise.resolve(async () => {}),
        },
      },
      keyType,
      preferredChain: this.#options.preferredChain,
      lock: {
        staleMs: this.#options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS,
        timeoutMs: this.#options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      },
      isFresh: (stored, domains) =>
        domains.every((d) => stored.info.domains.includes(d)) &&
        renewalTime(stored.info.notBefore, stored.info.notAfter, renewFraction) > this.#clock.now(),
      now: () => this.#clock.now(),
    });
  }

  /**
   * Starts managing names: by default each name gets its own certificate. After
   * {@linkcode AutoManager.start}, the stored certificates of the new names are loaded before this
   * resolves and missing ones are ordered in the background. Names already managed are skipped.
   *
   * @param domains DNS names; a wildcard (`*.example.com`) needs a DNS provider.
   * @param options Whether the names share one certificate.
   * @throws {TypeError} If a name is not a valid DNS name.
   * @throws {UnsupportedChallengeError} If a wildcard is given without a DNS provider, or no challenge is enabled.
   */
  async addDomains(domains: Iterable<string>, options: AddDomainsOptions = {}): Promise<void> {
    if (this.#state === "closed") throw new Error("Cannot add domains: the manager is closed");
    const names = [...new Set([...domains].map(normalizeDomain))].filter((d) => !this.#table.has(d));
    for (const name of names) {
      if (name.startsWith("*.") && !this.#dns) throw new UnsupportedChallengeError("dns-01", name);
      if (!this.#dns && this.#httpMode === false && this.#alpnMode === false) {
        throw new UnsupportedChallengeError("http-01", name, "HTTP-01 is disabled and no DNS provider is configured");
      }
    }
    const groups = options.sameCertificate ? (names.length ? [names] : []) : names.map((n) => [n]);
    const added = this.#table.add(groups, this.#clock.now());
    if (this.#state === "started") await Promise.all(added.map((m) => this.#load(m)));
  }

  /**
   * Stops managing names: they are no longer served or renewed. A certificate that still serves
   * other managed names keeps serving them, and is renewed for those only. Stored files stay.
   *
   * @param domains The names.
   */
  removeDomains(domains: Iterable<string>): void {
    for (const domain of domains) {
      const removed = this.#table.remove(domain);
      if (!removed) continue;
      const { managed, empty } = removed;
      if (managed.current) this.#emit("removed", [normalizeDomain(domain)], undefined);
      if (!empty) continue;
      this.#scheduler.cancel(managed.name);
      managed.fail(new Error(`Cannot wait for "${managed.name}": it is no longer managed`));
      managed.current = undefined;
    }
  }

  /**
   * Loads the stored certificates (without contacting the CA), registers the health check, and
   * schedules issuance of missing certificates and renewals. Resolves once the stored ones are
   * loaded; issuance runs in the background (see {@linkcode AutoManager.ready}).
   *
   * @throws {Error} If the manager is closed.
   */
  async start(): Promise<void> {
    if (this.#state === "closed") throw new Error("Cannot start: the manager is closed");
    if (this.#state === "started") return;
    this.#state = "started";
    const { health, healthCheck = {} } = this.#options;
    const { name = DEFAULT_HEALTH_CHECK_NAME, readiness = false, ...thresholds } = healthCheck;
    health?.register(name, certificateHealthCheck(this, { now: () => this.#clock.now(), ...thresholds }), {
      readiness,
    });
    await Promise.all(this.#table.all().map((m) => this.#load(m)));
  }

  /**
   * Reads the stored certificates of the managed names without contacting the CA or scheduling
   * anything, for status tools (`ts-tunnel cert status`); {@linkcode AutoManager.start} does this too.
   */
  async load(): Promise<void> {
    if (this.#state === "closed") throw new Error("Cannot load: the manager is closed");
    await Promise.all(this.#table.all().map((m) => this.#load(m)));
  }

  /**
   * Resolves once `domain` has a certificate (at once if it has one).
   *
   * @param domain A managed name, or a name a managed wildcard covers.
   * @param options Cancellation.
   * @returns What the certificate says.
   * @throws {TypeError} If no managed certificate covers `domain`.
   * @throws {AcmeError} If an attempt to obtain it fails (the manager keeps retrying; call again to wait for that).
   */
  ready(domain: string, options: { signal?: AbortSignal } = {}): Promise<CertificateInfo> {
    const managed = this.#table.lookup(domain);
    if (!managed) return Promise.reject(new TypeError(`Cannot wait for "${domain}": it is not managed`));
    return managed.wait(options.signal);
  }

  /**
   * The certificate to serve for a TLS server name: an exact managed name first, then a managed
   * wildcard one label up.
   *
   * @param serverName The SNI name.
   * @returns The chain and key, or `undefined` if no certificate covers it (yet).
   */
  certificateFor(serverName: string): CertificatePair | undefined {
    const current = this.#table.lookup(serverName)?.current;
    return current && { cert: current.cert, key: current.key };
  }

  /**
   * A view for TLS listeners: lookup by SNI name, a default certificate, and change notices.
   *
   * @returns The listener's view of this manager.
   */
  tlsConfig(): AutoTlsConfig {
    return {
      certificateFor: (serverName) => this.certificateFor(serverName),
      defaultCertificate: () => {
        for (const m of this.#table.all()) if (m.current) return { cert: m.current.cert, key: m.current.key };
        return undefined;
      },
      onCertificateChange: (listener) => this.onCertificateChange(listener),
    };
  }

  /**
   * Calls `listener` whenever a certificate is loaded, issued, renewed, revoked or removed, so a
   * TLS listener can swap it in.
   *
   * @param listener The callback; one that throws is ignored.
   * @returns Dispose to unsubscribe.
   */
  onCertificateChange(listener: (event: CertificateChangeEvent) => void): Disposable {
    this.#listeners.add(listener);
    return { [Symbol.dispose]: () => void this.#listeners.delete(listener) };
  }

  /**
   * Answers an HTTP-01 challenge request from an existing HTTP listener.
   *
   * @param path The request path (`/.well-known/acme-challenge/<token>`).
   * @returns The body to answer with, or `undefined` if `path` is not a pending challenge.
   */
  handleHttpChallenge(path: string): string | undefined {
    return this.#responder.handle(path);
  }

  /**
   * The TLS-ALPN-01 challenge certificate to present on a connection that offers ALPN
   * `acme-tls/1`, for an existing TLS listener (`tlsAlpnChallenge: "external"`, Bun only).
   *
   * @param serverName The SNI name.
   * @returns The challenge certificate and key, or `undefined` if no challenge is pending for it.
   */
  handleTlsAlpnChallenge(serverName: string): CertificatePair | undefined {
    return this.#alpnResponder.certificateFor(serverName);
  }

  /**
   * Per managed name: issuer, validity, last renewal, next renewal and last error.
   *
   * @returns The status of each name.
   */
  cacheStatus(): Record<string, CertificateStatus> {
    const now = this.#clock.now();
    const result: Record<string, CertificateStatus> = {};
    for (const [domain, m] of this.#table.entries()) result[domain] = m.status(now, this.#scheduler.nextRun(m.name));
    return result;
  }

  /**
   * Renews every managed certificate now (or only those due), one order each.
   *
   * @param options `onlyDue` skips certificates not yet at their renewal time; cancellation.
   * @throws {AggregateError} Of {@linkcode AcmeError}s, if any renewal failed (the others are kept).
   */
  async renewAll(options: { onlyDue?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const { onlyDue = false } = options;
    const signal = this.#signal(options.signal);
    const all = this.#table.all();
    const results = await Promise.allSettled(all.map(async (m) => {
      try {
        await this.#obtain(m, { force: !onlyDue, signal });
      } catch (error) {
        this.#notify((o) =>
          o.onFailure?.({ domains: [...m.domains], error, attempt: m.failures, retryInMs: undefined })
        );
        throw error;
      }
      this.#scheduleNext(m);
    }));
    const errors = results.flatMap((r) => r.status === "rejected" ? [r.reason] : []);
    if (errors.length > 0) {
      throw new AggregateError(errors, `Cannot renew ${errors.length} of ${all.length} certificates`);
    }
  }

  /**
   * Revokes the certificate serving `domain` at the CA, deletes it from storage and stops
   * serving it. If the manager has started, a new certificate is ordered unless `reissue` is false.
   *
   * @param domain A managed name.
   * @param options RFC 5280 reason code (0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation), reissue, cancellation.
   * @throws {TypeError} If no managed certificate covers `domain`.
   * @throws {AcmeError} If there is no stored certificate or the CA refuses.
   */
  async revoke(
    domain: string,
    options: { reason?: number; reissue?: boolean; signal?: AbortSignal } = {},
  ): Promise<void> {
    const { reason = 0, reissue = true } = options;
    const signal = this.#signal(options.signal);
    const managed = this.#table.lookup(domain);
    if (!managed) throw new TypeError(`Cannot revoke "${domain}": it is not managed`);
    await this.#inProcess.run(managed.name, async () => {
      const stored = managed.current ?? await this.#store.loadCertificate(managed.name);
      if (!stored) throw new AcmeError("no certificate is stored", { operation: "revoke", domains: managed.domains });
      await this.#issuer.revoke(stored.cert, managed.domains, reason, signal);
      await this.#store.deleteCertificate(managed.name);
      managed.current = undefined;
      this.#emit("revoked", managed.domains, undefined);
    });
    if (reissue && this.#state === "started" && this.#table.holds(managed)) {
      this.#scheduler.schedule(managed.name, this.#clock.now(), (s) => this.#maintain(managed, s));
    }
  }

  /** Stops renewals, aborts orders in flight (and waits for them), stops the HTTP-01 server; idempotent. */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#closing.abort(new Error("The ACME manager is closed"));
    const { health, healthCheck = {} } = this.#options;
    health?.unregister(healthCheck.name ?? DEFAULT_HEALTH_CHECK_NAME);
    await this.#scheduler.close();
    const closed = new Error("Cannot wait for a certificate: the manager is closed");
    for (const m of this.#table.all()) m.fail(closed);
    await Promise.all([this.#http?.close(), this.#alpn?.close()]);
  }

  /** Same as {@linkcode AutoManager.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #load(m: Managed): Promise<void> {
    let stored: StoredCertificate | undefined;
    try {
      stored = await this.#store.loadCertificate(m.name);
    } catch (error) {
      m.lastError = { message: `Cannot read stored certificate: ${message(error)}`, at: this.#clock.now() };
    }
    if (stored && m.coveredBy(stored.info)) this.#install(m, stored, "loaded"); // schedules the renewal
    else if (this.#state === "started" && this.#table.holds(m)) {
      this.#scheduler.schedule(m.name, this.#clock.now(), (signal) => this.#maintain(m, signal));
    }
    // A failure recorded by this or another process since the certificate was obtained.
    const last = await this.#store.loadLastError(m.name).catch(() => undefined);
    if (last && !m.lastError && (!m.current || last.at > m.current.obtainedAt)) m.lastError = last;
  }

  #renewAt(stored: StoredCertificate): number {
    return renewalTime(stored.info.notBefore, stored.info.notAfter, this.#options.renewFraction);
  }

  #scheduleNext(m: Managed): void {
    if (this.#state !== "started" || !this.#table.holds(m) || !m.current) return;
    this.#scheduler.schedule(m.name, this.#renewAt(m.current), (signal) => this.#maintain(m, signal));
  }

  async #maintain(m: Managed, signal: AbortSignal): Promise<void> {
    await this.#obtain(m, { force: false, signal });
    this.#scheduleNext(m);
  }

  /** One obtain at a time per certificate in this process; the issuer adds the storage lock. */
  async #obtain(m: Managed, options: { force: boolean; signal: AbortSignal }): Promise<void> {
    const { force, signal } = options;
    await this.#inProcess.run(m.name, async () => {
      const started = this.#clock.now();
      const renewal = m.current !== undefined;
      try {
        const { stored, ordered } = await this.#issuer.obtain(m.name, m.domains, { force, renewal, signal });
        if (!ordered && stored.info.serialNumber === m.current?.info.serialNumber) return m.install(stored);
        this.#install(m, stored, ordered ? (renewal ? "renewed" : "issued") : "loaded");
        if (!ordered) return;
        const durationMs = this.#clock.now() - started;
        this.#notify((o) => o.onIssued?.({ domains: [...m.domains], renewal, durationMs, info: stored.info }));
      } catch (error) {
        if (signal.aborted) throw error; // cancelled (close, removal): not a failure
        m.lastError = { message: error instanceof Error ? error.message : String(error), at: this.#clock.now() };
        m.failures++;
        await this.#store.saveLastError(m.name, m.lastError).catch(() => {}); // for status tools
        if (!m.current) m.fail(error);
        throw error;
      }
    });
  }

  /** `signal` combined with the manager's own, which aborts on close. */
  #signal(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#closing.signal]) : this.#closing.signal;
  }

  /** Serves `stored` for `m`, schedules its renewal, then wakes `ready()` callers and tells listeners. */
  #install(m: Managed, stored: StoredCertificate, reason: CertificateChangeReason): void {
    m.current = stored;
    this.#scheduleNext(m);
    m.install(stored);
    this.#emit(reason, m.domains, stored);
  }

  #emit(reason: CertificateChangeReason, domains: readonly string[], stored: StoredCertificate | undefined): void {
    const event: CertificateChangeEvent = {
      reason,
      domains: [...domains],
      certificate: stored && { cert: stored.cert, key: stored.key, info: stored.info },
    };
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch { /* a listener's failure is not ours */ }
    }
    this.#notify((o) => o.onCertificateChange?.(event));
  }

  #notify(call: (observer: AcmeObserver) => void): void {
    const observer = this.#options.observer;
    if (!observer) return;
    try {
      call(observer);
    } catch { /* an observer's failure is not ours */ }
  }
}
