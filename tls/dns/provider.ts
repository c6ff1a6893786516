/**
 * {@linkcode DnsProvider}: the contract every DNS-01 provider fulfils, and
 * {@linkcode DnsProviderError}, the one error they report vendor failures with.
 * @module
 */

/** Default time one vendor HTTP request may take, in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** The `fetch` a provider sends its requests with; the global `fetch` fits. */
export type FetchFn = (input: Request | URL | string, init?: RequestInit) => Promise<Response>;

/** Options every HTTP-based provider takes. */
export interface DnsHttpProviderOptions {
  /** The vendor API's base URL, replaceable for tests and private endpoints. @default {the vendor's public API} */
  baseUrl?: string;
  /** Sends the requests. @default {globalThis.fetch} */
  fetch?: FetchFn;
  /** Time one request may take before it fails with a {@linkcode DnsProviderError}. @default {30_000} */
  requestTimeoutMs?: number;
}

/** Options for each {@linkcode DnsProvider} operation. */
export interface DnsOperationOptions {
  /** Aborting cancels the vendor requests in flight and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Creates and removes the TXT records of ACME DNS-01 challenges at a DNS vendor.
 *
 * `fqdn` is the full record name without a trailing dot, such as
 * `"_acme-challenge.example.com"`, and `value` is the record's text. Several values may live
 * under one name at once (a wildcard and its apex share `_acme-challenge.example.com`):
 * creating adds a value, removing takes away only the given one.
 *
 * @example Publish a challenge, then clean it up
 * ```ts ignore
 * import { CloudflareProvider } from "@ts-tunnel/tunnel/tls/dns";
 * const dns = new CloudflareProvider({ apiToken: "…" });
 * await dns.createTxtRecord("_acme-challenge.example.com", keyAuthDigest);
 * // … let the CA validate …
 * await dns.removeTxtRecord("_acme-challenge.example.com", keyAuthDigest);
 * ```
 */
export interface DnsProvider {
  /** The provider's name, as `dnsProviderFromEnv()` knows it (`"cloudflare"`, `"route53"`, …). */
  readonly name: string;
  /**
   * Adds the TXT value `value` under `fqdn`, keeping any other values there.
   *
   * @throws {DnsProviderError} If the vendor refuses or cannot be reached.
   */
  createTxtRecord(fqdn: string, value: string, options?: DnsOperationOptions): Promise<void>;
  /**
   * Removes the TXT value `value` from `fqdn`; a value that is not there is not an error.
   *
   * @throws {DnsProviderError} If the vendor refuses or cannot be reached.
   */
  removeTxtRecord(fqdn: string, value: string, options?: DnsOperationOptions): Promise<void>;
}

/** A {@linkcode DnsProvider} operation. */
export type DnsOperation = "createTxtRecord" | "removeTxtRecord";

/** What went wrong, for {@linkcode DnsProviderError}. */
export interface DnsProviderErrorOptions extends ErrorOptions {
  /** The provider's name. */
  provider: string;
  /** The operation that failed. */
  operation: DnsOperation;
  /** The record name the operation was for. */
  fqdn: string;
  /** The vendor's HTTP status; absent when no response came (network error, no zone, timeout). */
  status?: number;
  /** The vendor's error code, when it sends one (`"InvalidAccessKeyId.NotFound"`, `"10000"`). */
  vendorCode?: string;
  /** The vendor's own error message, or ours when the vendor sent none. */
  vendorMessage: string;
}

/**
 * A DNS vendor refused an operation, could not be reached, or has no zone for the name.
 *
 * @example Read what the vendor said
 * ```ts
 * import assert from "node:assert/strict";
 * import { DnsProviderError } from "./provider.ts";
 * const error = new DnsProviderError({
 *   provider: "cloudflare",
 *   operation: "createTxtRecord",
 *   fqdn: "_acme-challenge.example.com",
 *   status: 403,
 *   vendorCode: "10000",
 *   vendorMessage: "Authentication error",
 * });
 * assert.equal(
 *   error.message,
 *   'Cannot create TXT record "_acme-challenge.example.com" with cloudflare: HTTP 403: Authentication error',
 * );
 * ```
 */
export class DnsProviderError extends Error {
  /** The provider's name. */
  readonly provider: string;
  /** The operation that failed. */
  readonly operation: DnsOperation;
  /** The record name the operation was for. */
  readonly fqdn: string;
  /** The vendor's HTTP status, or `undefined` when no response came. */
  readonly status: number | undefined;
  /** The vendor's error code, when it sent one. */
  readonly vendorCode: string | undefined;
  /** The vendor's own error message. */
  readonly vendorMessage: string;

  /**
   * Creates the error; the message is built from the options.
   *
   * @param options The provider, the operation and what the vendor said.
   */
  constructor(options: DnsProviderErrorOptions) {
    const { provider, operation, fqdn, status, vendorCode, vendorMessage, ...errorOptions } = options;
    const verb = operation === "createTxtRecord" ? "create" : "remove";
    const http = status === undefined ? "" : `HTTP ${status}: `;
    super(`Cannot ${verb} TXT record "${fqdn}" with ${provider}: ${http}${vendorMessage}`, errorOptions);
    this.name = "DnsProviderError";
    this.provider = provider;
    this.operation = operation;
    this.fqdn = fqdn;
    this.status = status;
    this.vendorCode = vendorCode;
    this.vendorMessage = vendorMessage;
  }
}
