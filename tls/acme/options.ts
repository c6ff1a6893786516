/**
 * {@linkcode AutoManagerOptions}, the settings of the ACME manager, and their defaults as
 * `DEFAULT_*` constants (the CLI prints them in its help).
 * @module
 */
import type { DnsProvider } from "../dns/provider.ts";
import type { DnsChallengeOptions } from "./dns01.ts";
import type { ExternalAccountBinding } from "./directories.ts";
import type { HttpChallengeListenOptions } from "./http01.ts";
import type { CertificateHealthOptions, HealthCheckRegistry } from "./health.ts";
import type { AcmeObserver } from "./observer.ts";
import type { BackoffOptions, Clock } from "./renewal.ts";

/** Default first delay between two polls of a challenge or order status, in milliseconds. */
export const DEFAULT_STATUS_POLL_MS = 1_000;
/** Default name of the manager's health check. */
export const DEFAULT_HEALTH_CHECK_NAME = "acme";

/**
 * Where challenges that need a server are answered: an address for the manager's own server
 * (started only while challenges are pending), `"external"` when an existing listener answers
 * through the manager's hook (`handleHttpChallenge()`, `handleTlsAlpnChallenge()`), or `false`
 * to never use that challenge.
 */
export type ChallengeServerMode = HttpChallengeListenOptions | "external" | false;

/** Where HTTP-01 challenges are answered; see {@linkcode ChallengeServerMode}. */
export type HttpChallengeMode = ChallengeServerMode;

/** Options for `AutoManager`. */
export interface AutoManagerOptions {
  /** Contact address registered with the CA (expiry warnings, policy notices). */
  email?: string;
  /** Agrees to the CA's terms of service; no account can be registered without it. @default {false} */
  agreeTerms?: boolean;
  /** The ACME directory URL. @default {LETS_ENCRYPT_PRODUCTION} */
  directoryUrl?: string;
  /**
   * PEM CA certificates that the ACME server's HTTPS certificate chains to (a private CA or
   * pebble); only requests to the directory's origin use them.
   * @default {the runtime's default roots}
   */
  caBundle?: string | readonly string[];
  /** External Account Binding credentials (ZeroSSL, Google Trust Services). */
  externalAccountBinding?: ExternalAccountBinding;
  /** Folder for the account key and certificates. @default {defaultStorageDir()} */
  storageDir?: string;
  /** Key type of the certificates. @default {"ecdsa"} (P-256) */
  keyType?: "ecdsa" | "rsa";
  /** Issuer common name of the chain to prefer when the CA offers several. */
  preferredChain?: string;
  /**
   * Where HTTP-01 challenges are answered.
   * @default {`{ hostname: "0.0.0.0", port: 80 }` without a DNS provider, `false` with one}
   */
  httpChallenge?: HttpChallengeMode;
  /**
   * Where TLS-ALPN-01 challenges are answered (Bun only; on Deno the constructor throws an
   * `UnsupportedChallengeError`): an address for the manager's own `node:tls` server (started
   * only while challenges are pending; CAs connect to port 443), `"external"` when an existing
   * TLS listener calls `AutoManager.handleTlsAlpnChallenge()`, or `false`. Used after HTTP-01.
   * @default {false}
   */
  tlsAlpnChallenge?: ChallengeServerMode;
  /** Answers DNS-01 challenges (needed for wildcards); when set, DNS-01 is used for every name. */
  dnsProvider?: DnsProvider;
  /** Propagation wait of DNS-01 records: timeout, nameservers to ask, interval. */
  dnsChallenge?: DnsChallengeOptions;
  /** Share of a certificate's lifetime after which it is renewed, in (0, 1]. @default {2 / 3} */
  renewFraction?: number;
  /** Backoff of retries after a failed issuance or renewal. @default {`{ initialDelayMs: 60_000, maxDelayMs: 3_600_000, multiplier: 2 }`} */
  retry?: BackoffOptions;
  /** Age after which another process's storage lock is taken over, in milliseconds. @default {60_000} */
  lockStaleMs?: number;
  /** How long to wait for another process's storage lock, in milliseconds. @default {300_000} */
  lockTimeoutMs?: number;
  /** First delay between two polls of a challenge or order status, in milliseconds. @default {1_000} */
  statusPollMs?: number;
  /** Time source and timers of the renewal schedule, injectable for tests. @default {systemClock} */
  clock?: Clock;
  /** Callbacks for metrics and logs. */
  observer?: AcmeObserver;
  /** A registry (ha's `HealthRegistry`) to add the certificate health check to, on `start()`; removed on `close()`. */
  health?: HealthCheckRegistry;
  /** Thresholds and name of the health check. */
  healthCheck?: CertificateHealthOptions & { name?: string; readiness?: boolean };
}
