/**
 * Automatic TLS certificates from an ACME CA (Let's Encrypt, ZeroSSL, any RFC 8555 server) on
 * npm `acme-client`, loaded only when a certificate is ordered. {@linkcode AutoManager} keeps
 * the account and certificates on disk (0700/0600), serves them by SNI name, orders missing ones
 * in the background with HTTP-01 or DNS-01 (wildcards), renews at two thirds of the lifetime
 * with backoff, coordinates processes sharing a folder through lock files, and reports through
 * an observer ({@linkcode AcmeMetrics} for Prometheus) and a health check. TLS-ALPN-01 works on
 * Bun only; on Deno, asking for it throws {@linkcode UnsupportedChallengeError}, which says why.
 *
 * @example Certificates for two names over HTTP-01
 * ```ts ignore
 * import { AutoManager } from "@ts-tunnel/tunnel/tls";
 * await using manager = new AutoManager({ email: "ops@example.com", agreeTerms: true });
 * await manager.addDomains(["example.com", "www.example.com"]);
 * await manager.start();
 * await manager.ready("example.com");
 * const { cert, key } = manager.certificateFor("example.com")!;
 * ```
 * @module
 */
export * from "./auto_manager.ts";
export * from "./options.ts";
export * from "./quick_setup.ts";
export * from "./directories.ts";
export * from "./certificate.ts";
export * from "./status.ts";
export * from "./observer.ts";
export * from "./errors.ts";
export * from "./storage.ts";
export * from "./lock.ts";
export * from "./http01.ts";
export * from "./dns01.ts";
export * from "./renewal.ts";
export * from "./health.ts";
export * from "./metrics.ts";
export * from "./tlsalpn01.ts";
