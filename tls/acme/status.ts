/**
 * {@linkcode CertificateStatus}: what `AutoManager.cacheStatus()` reports for each managed name.
 * @module
 */

/** Where a managed certificate stands. */
export type CertificateState = "pending" | "valid" | "expired";

/** The state of the certificate that serves one managed name. */
export interface CertificateStatus {
  /** `pending` until a certificate is available, then `valid` or `expired`. */
  readonly state: CertificateState;
  /** The managed names the certificate serves (this one included). */
  readonly domains: readonly string[];
  /** The issuer's distinguished name. */
  readonly issuer?: string;
  /** The serial number (lowercase hex). */
  readonly serialNumber?: string;
  /** Start of validity. */
  readonly notBefore?: Date;
  /** End of validity. */
  readonly notAfter?: Date;
  /** When the current certificate was obtained from the CA. */
  readonly lastRenewal?: Date;
  /** When the next issuance or renewal (or retry) runs, if scheduled. */
  readonly nextRenewal?: Date;
  /** The message of the last failure, cleared by the next success. */
  readonly lastError?: string;
  /** When the last failure happened. */
  readonly lastErrorAt?: Date;
  /** Consecutive failures. */
  readonly failures: number;
  /** When the name started being managed. */
  readonly managedSince: Date;
}
