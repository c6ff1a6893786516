/**
 * TLS certificates: {@linkcode AutoManager} obtains and renews them from an ACME CA over
 * HTTP-01 or DNS-01, and the DNS-01 providers ({@linkcode CloudflareProvider},
 * {@linkcode Route53Provider}, {@linkcode AlidnsProvider}, {@linkcode DigitalOceanProvider},
 * {@linkcode GoDaddyProvider}, {@linkcode ChalltestsrvProvider}, or
 * {@linkcode dnsProviderFromEnv}) publish the challenge records; {@linkcode createAutoTlsManager}
 * builds a manager from the CLI's and YAML's automatic-TLS settings. npm `acme-client` and
 * `prom-client` load only when a certificate is ordered or metrics are created.
 *
 * @example Wildcard certificate through Cloudflare DNS
 * ```ts ignore
 * import { AutoManager, dnsProviderFromEnv } from "@ts-tunnel/tunnel/tls";
 * const manager = new AutoManager({
 *   email: "ops@example.com",
 *   agreeTerms: true,
 *   dnsProvider: dnsProviderFromEnv("cloudflare", process.env),
 * });
 * await manager.addDomains(["*.example.com", "example.com"], { sameCertificate: true });
 * await manager.start();
 * manager.onCertificateChange(({ domains, certificate }) => listener.setCertificate(domains, certificate));
 * ```
 * @module
 */
export * from "./acme/mod.ts";
export * from "./dns/mod.ts";
export * from "./auto_tls.ts";
