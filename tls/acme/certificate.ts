/**
 * What a PEM certificate says about itself ({@linkcode readCertificateInfo}, on `node:crypto`'s
 * `X509Certificate`, so no npm package is loaded), domain name checks
 * ({@linkcode normalizeDomain}) and the SNI rule for wildcards ({@linkcode matchesServerName}).
 * @module
 */
import { X509Certificate } from "node:crypto";

/** A certificate and its private key, as PEM text. */
export interface CertificatePair {
  /** The leaf certificate followed by its intermediates (PEM). */
  readonly cert: string;
  /** The leaf's private key (PKCS#8 PEM). */
  readonly key: string;
}

/** Facts read from a certificate. */
export interface CertificateInfo {
  /** The DNS names in its subjectAltName, in order. */
  readonly domains: readonly string[];
  /** The issuer's distinguished name, such as `"CN=R11, O=Let's Encrypt, C=US"`. */
  readonly issuer: string;
  /** Start of validity, in epoch milliseconds. */
  readonly notBefore: number;
  /** End of validity, in epoch milliseconds. */
  readonly notAfter: number;
  /** The serial number in lowercase hex, without leading zeros beyond the first byte. */
  readonly serialNumber: string;
}

/**
 * Reads the SAN names, issuer, validity and serial of the first certificate in `pem`.
 *
 * @example
 * ```ts ignore
 * import { readCertificateInfo } from "@ts-tunnel/tunnel/tls";
 * const { domains, notAfter } = readCertificateInfo(pem);
 * ```
 * @param pem A PEM certificate or chain; the first certificate is read.
 * @returns Its names, issuer, validity and serial.
 * @throws {TypeError} If `pem` holds no parsable certificate.
 */
export function readCertificateInfo(pem: string): CertificateInfo {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem);
  } catch (error) {
    throw new TypeError("Cannot read certificate: not a PEM X.509 certificate", { cause: error });
  }
  const domains = (x509.subjectAltName ?? "").split(",").map((entry) => entry.trim())
    .filter((entry) => entry.startsWith("DNS:")).map((entry) => entry.slice(4).toLowerCase());
  return {
    domains,
    issuer: x509.issuer.split("\n").reverse().join(", "),
    notBefore: Date.parse(x509.validFrom),
    notAfter: Date.parse(x509.validTo),
    serialNumber: x509.serialNumber.toLowerCase(),
  };
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Lowercases a domain name, drops a trailing dot, and checks it is a dotted DNS name, optionally
 * with one leading `*.` label (a wildcard).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeDomain } from "./certificate.ts";
 * assert.equal(normalizeDomain("*.Example.COM."), "*.example.com");
 * assert.throws(() => normalizeDomain("a.*.example.com"), TypeError);
 * ```
 * @param domain The name.
 * @returns The normalized name.
 * @throws {TypeError} If it is not a valid DNS name (IP addresses are not accepted).
 */
export function normalizeDomain(domain: string): string {
  const name = domain.trim().toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  const rest = labels[0] === "*" ? labels.slice(1) : labels;
  const valid = name.length <= 253 && rest.length >= 2 && rest.every((label) => LABEL.test(label)) &&
    !/^[0-9.]+$/.test(name);
  if (!valid) {
    throw new TypeError(
      `Cannot manage "${domain}": expected a DNS name such as "example.com" or "*.example.com"`,
    );
  }
  return name;
}

/**
 * Whether a certificate name covers a TLS server name: equal, or a wildcard `*.example.com`
 * that matches exactly one label in its place (`a.example.com`, not `example.com` nor
 * `a.b.example.com`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchesServerName } from "./certificate.ts";
 * assert.ok(matchesServerName("*.example.com", "www.example.com"));
 * assert.ok(!matchesServerName("*.example.com", "a.b.example.com"));
 * assert.ok(!matchesServerName("*.example.com", "example.com"));
 * ```
 * @param certName A name on the certificate (normalized).
 * @param serverName The SNI name (any case, an optional trailing dot).
 * @returns Whether it matches.
 */
export function matchesServerName(certName: string, serverName: string): boolean {
  const name = serverName.toLowerCase().replace(/\.$/, "");
  if (certName === name) return true;
  if (!certName.startsWith("*.")) return false;
  const dot = name.indexOf(".");
  return dot > 0 && name.slice(dot + 1) === certName.slice(2);
}
