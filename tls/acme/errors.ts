/**
 * The errors of the ACME manager: {@linkcode AcmeError} when obtaining, renewing or revoking a
 * certificate fails, {@linkcode UnsupportedChallengeError} for a challenge this runtime or
 * configuration cannot answer, and {@linkcode LockTimeoutError} when another process holds a
 * storage lock for too long.
 * @module
 */

/** What the ACME manager was doing when an {@linkcode AcmeError} happened. */
export type AcmeOperation = "account" | "issue" | "renew" | "revoke";

const VERB: Record<AcmeOperation, string> = {
  account: "register an ACME account for",
  issue: "obtain a certificate for",
  renew: "renew the certificate for",
  revoke: "revoke the certificate for",
};

/** Where an {@linkcode AcmeError} happened. */
export interface AcmeErrorOptions extends ErrorOptions {
  /** The operation that failed. */
  operation: AcmeOperation;
  /** The names on the certificate (for `account`, the names it was needed for). */
  domains: readonly string[];
}

/**
 * Obtaining, renewing or revoking a certificate failed. `cause` holds the underlying error (the
 * CA's problem document, a DNS provider failure, a timeout).
 *
 * @example Read which names failed
 * ```ts
 * import assert from "node:assert/strict";
 * import { AcmeError } from "./errors.ts";
 * const error = new AcmeError("urn:ietf:params:acme:error:rateLimited", {
 *   operation: "issue",
 *   domains: ["example.com", "www.example.com"],
 * });
 * assert.equal(
 *   error.message,
 *   'Cannot obtain a certificate for "example.com", "www.example.com": urn:ietf:params:acme:error:rateLimited',
 * );
 * ```
 */
export class AcmeError extends Error {
  /** The operation that failed. */
  readonly operation: AcmeOperation;
  /** The names on the certificate. */
  readonly domains: readonly string[];

  /**
   * Creates the error; the message names the operation and the domains.
   *
   * @param reason What went wrong.
   * @param options The operation, the domains and the cause.
   */
  constructor(reason: string, options: AcmeErrorOptions) {
    const { operation, domains, ...errorOptions } = options;
    super(`Cannot ${VERB[operation]} ${domains.map((d) => `"${d}"`).join(", ")}: ${reason}`, errorOptions);
    this.name = "AcmeError";
    this.operation = operation;
    this.domains = domains;
  }
}

/** An ACME challenge type. */
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";

/**
 * A challenge cannot be answered: TLS-ALPN-01 on Deno (its TLS stacks reject the challenge
 * certificate's critical `acmeIdentifier` extension; Bun answers it), a wildcard name without a
 * DNS provider, or a name when every enabled challenge is missing from the CA's offer.
 *
 * @example Ask for TLS-ALPN-01
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnsupportedChallengeError } from "./errors.ts";
 * const error = new UnsupportedChallengeError("tls-alpn-01");
 * assert.equal(
 *   error.message,
 *   "Cannot answer tls-alpn-01 challenges: Deno's TLS rejects the challenge " +
 *     "certificate (critical acmeIdentifier extension); use http-01 or dns-01 (tls-alpn-01 works on Bun)",
 * );
 * ```
 */
export class UnsupportedChallengeError extends Error {
  /** The challenge type asked for. */
  readonly challenge: ChallengeType;
  /** The name the challenge was for, if known. */
  readonly domain: string | undefined;

  /**
   * Creates the error.
   *
   * @param challenge The challenge type.
   * @param domain The name it was for, if known.
   * @param reason Why it cannot be answered. @default {the reason for the challenge type}
   */
  constructor(challenge: ChallengeType, domain?: string, reason: string = defaultReason(challenge)) {
    super(
      domain === undefined
        ? `Cannot answer ${challenge} challenges: ${reason}`
        : `Cannot answer a ${challenge} challenge for "${domain}": ${reason}`,
    );
    this.name = "UnsupportedChallengeError";
    this.challenge = challenge;
    this.domain = domain;
  }
}

function defaultReason(challenge: ChallengeType): string {
  switch (challenge) {
    case "tls-alpn-01":
      return "Deno's TLS rejects the challenge certificate (critical acmeIdentifier extension); " +
        "use http-01 or dns-01 (tls-alpn-01 works on Bun)";
    case "dns-01":
      return "no DNS provider is configured (set 'dnsProvider')";
    case "http-01":
      return "the CA did not offer it";
  }
}

/**
 * A storage lock stayed held by someone else (and fresh) for longer than the wait allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LockTimeoutError } from "./errors.ts";
 * const error = new LockTimeoutError("/var/lib/certs/locks/example.com.lock", 30_000);
 * assert.equal(
 *   error.message,
 *   'Cannot acquire lock "/var/lib/certs/locks/example.com.lock": still held by another process after 30000 ms',
 * );
 * ```
 */
export class LockTimeoutError extends Error {
  /** The lock file. */
  readonly path: string;
  /** How long it waited, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Creates the error.
   *
   * @param path The lock file.
   * @param timeoutMs How long it waited.
   */
  constructor(path: string, timeoutMs: number) {
    super(`Cannot acquire lock "${path}": still held by another process after ${timeoutMs} ms`);
    this.name = "LockTimeoutError";
    this.path = path;
    this.timeoutMs = timeoutMs;
  }
}
