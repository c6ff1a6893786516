/**
 * DNS-01 challenge providers: create and remove the `_acme-challenge` TXT records that prove
 * control of a domain (and of its wildcard) to an ACME CA, at Cloudflare, Alibaba Cloud DNS,
 * Amazon Route 53, DigitalOcean or GoDaddy, or in pebble-challtestsrv for tests. Each
 * provider is a small client of the vendor's documented HTTP API on `fetch`, with an
 * injectable `fetch` and `baseUrl`; {@linkcode dnsProviderFromEnv} builds one from go-tunnel's
 * environment variables, and {@linkcode waitForTxtRecord} waits until the authoritative
 * nameservers serve the value. Nothing here depends on a runtime.
 *
 * @example Publish a challenge, wait for it, then clean up
 * ```ts ignore
 * import { dnsProviderFromEnv, waitForTxtRecord } from "@ts-tunnel/tunnel/tls/dns";
 *
 * const dns = dnsProviderFromEnv("cloudflare", process.env); // CLOUDFLARE_API_TOKEN
 * const fqdn = "_acme-challenge.example.com";
 * await dns.createTxtRecord(fqdn, digest, { signal });
 * try {
 *   await waitForTxtRecord(fqdn, digest, { timeoutMs: 120_000, signal });
 *   // … complete the ACME challenge …
 * } finally {
 *   await dns.removeTxtRecord(fqdn, digest);
 * }
 * ```
 * @module
 */
export * from "./provider.ts";
export * from "./from_env.ts";
export * from "./cloudflare.ts";
export * from "./alidns.ts";
export * from "./route53.ts";
export * from "./digitalocean.ts";
export * from "./godaddy.ts";
export * from "./challtestsrv.ts";
export * from "./propagation.ts";
