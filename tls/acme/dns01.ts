/**
 * DNS-01 challenges: {@linkcode DnsChallengeSolver} publishes the `_acme-challenge` TXT record
 * through a {@linkcode DnsProvider}, waits until the zone's authoritative nameservers (or the
 * ones configured) serve it, and removes it afterwards. Wildcard names need DNS-01.
 * @module
 */
import type { DnsProvider } from "../dns/provider.ts";
import { waitForTxtRecord } from "../dns/propagation.ts";

/** Default time to wait for a challenge record to propagate, in milliseconds. */
export const DEFAULT_DNS_PROPAGATION_TIMEOUT_MS = 120_000;
/** Default time between two propagation checks, in milliseconds. */
export const DEFAULT_DNS_PROPAGATION_INTERVAL_MS = 2_000;

/** Options for {@linkcode DnsChallengeSolver}. */
export interface DnsChallengeOptions {
  /** How long to wait for the record to be served. @default {120_000} */
  propagationTimeoutMs?: number;
  /** Time between two checks. @default {2_000} */
  propagationIntervalMs?: number;
  /**
   * Nameservers that must serve the record, as `"host:port"` or `"host"`.
   * @default {the zone's authoritative nameservers}
   */
  nameservers?: string[];
  /** Skip the propagation wait (for providers whose API answers only once the record is live). @default {false} */
  skipPropagationCheck?: boolean;
}

/**
 * The TXT record name of a DNS-01 challenge for `domain`: `_acme-challenge.` before the name,
 * with a wildcard's `*.` dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dnsChallengeName } from "./dns01.ts";
 * assert.equal(dnsChallengeName("*.example.com"), "_acme-challenge.example.com");
 * ```
 * @param domain The name being validated.
 * @returns The record name.
 */
export function dnsChallengeName(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, "")}`;
}

/**
 * Publishes, waits for and withdraws DNS-01 challenge records.
 *
 * @example
 * ```ts ignore
 * import { ChalltestsrvProvider, DnsChallengeSolver } from "@ts-tunnel/tunnel/tls";
 * const solver = new DnsChallengeSolver(new ChalltestsrvProvider(), { nameservers: ["127.0.0.1:8053"] });
 * await solver.present("example.com", digest, { signal });
 * try {
 *   // … tell the CA to validate …
 * } finally {
 *   await solver.cleanup("example.com", digest);
 * }
 * ```
 */
export class DnsChallengeSolver {
  /** The provider records are written with. */
  readonly provider: DnsProvider;
  readonly #options: Required<Omit<DnsChallengeOptions, "nameservers">> & { nameservers?: string[] };

  /**
   * Creates the solver.
   *
   * @param provider Writes the TXT records.
   * @param options Propagation wait.
   * @throws {RangeError} If a timing option is not positive.
   */
  constructor(provider: DnsProvider, options: DnsChallengeOptions = {}) {
    const {
      propagationTimeoutMs = DEFAULT_DNS_PROPAGATION_TIMEOUT_MS,
      propagationIntervalMs = DEFAULT_DNS_PROPAGATION_INTERVAL_MS,
      nameservers,
      skipPropagationCheck = false,
    } = options;
    for (
      const [name, value] of [["propagationTimeoutMs", propagationTimeoutMs], [
        "propagationIntervalMs",
        propagationIntervalMs,
      ]] as const
    ) {
      if (!(value > 0)) {
        throw new RangeError(`Cannot create DNS-01 solver as '${name}' must be positive: current value is ${value}`);
      }
    }
    this.provider = provider;
    this.#options = { propagationTimeoutMs, propagationIntervalMs, nameservers, skipPropagationCheck };
  }

  /**
   * Creates the TXT record and waits until it is served.
   *
   * @param domain The name being validated (a wildcard's `*.` is dropped).
   * @param value The record value (acme-client's key authorization digest).
   * @param options Cancellation.
   * @throws {DnsProviderError} If the provider fails.
   * @throws {PropagationTimeoutError} If the record is not served in time.
   */
  async present(domain: string, value: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const fqdn = dnsChallengeName(domain);
    await this.provider.createTxtRecord(fqdn, value, options);
    if (this.#options.skipPropagationCheck) return;
    await waitForTxtRecord(fqdn, value, {
      nameservers: this.#options.nameservers,
      timeoutMs: this.#options.propagationTimeoutMs,
      intervalMs: this.#options.propagationIntervalMs,
      signal: options.signal,
    });
  }

  /**
   * Removes the TXT record.
   *
   * @param domain The name that was validated.
   * @param value The record value.
   * @throws {DnsProviderError} If the provider fails.
   */
  async cleanup(domain: string, value: string): Promise<void> {
    await this.provider.removeTxtRecord(dnsChallengeName(domain), value);
  }
}
