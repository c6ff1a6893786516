/**
 * What the ACME manager reports as it works: {@linkcode CertificateChangeEvent} when the
 * certificate served for some names changes, and {@linkcode AcmeObserver}, the callbacks a
 * metrics exporter or a logger subscribes with. Nothing here loads prom-client.
 * @module
 */
import type { CertificateInfo, CertificatePair } from "./certificate.ts";

/** Why the certificate of some names changed. */
export type CertificateChangeReason = "loaded" | "issued" | "renewed" | "revoked" | "removed";

/** The certificate served for some names changed. */
export interface CertificateChangeEvent {
  /** Why: read from storage (at start, or written by another process), obtained, renewed, revoked or no longer managed. */
  readonly reason: CertificateChangeReason;
  /** The managed names the certificate serves. */
  readonly domains: readonly string[];
  /** The new certificate, or `undefined` after `revoked` and `removed`. */
  readonly certificate: (CertificatePair & { readonly info: CertificateInfo }) | undefined;
}

/** A certificate was obtained from the CA. */
export interface IssuedEvent {
  /** The names on it. */
  readonly domains: readonly string[];
  /** `true` when it replaced an earlier certificate. */
  readonly renewal: boolean;
  /** How long the order took, lock wait included, in milliseconds. */
  readonly durationMs: number;
  /** What the new certificate says. */
  readonly info: CertificateInfo;
}

/** Obtaining or renewing a certificate failed. */
export interface FailureEvent {
  /** The names on the certificate. */
  readonly domains: readonly string[];
  /** The {@linkcode AcmeError}. */
  readonly error: unknown;
  /** Consecutive failures, this one included. */
  readonly attempt: number;
  /** When the next try runs, in milliseconds from now; `undefined` if none is scheduled. */
  readonly retryInMs: number | undefined;
}

/**
 * Callbacks for metrics and logs. Each is optional, and one that throws is ignored.
 *
 * @example Log failures
 * ```ts ignore
 * const manager = new AutoManager({
 *   observer: { onFailure: (e) => logger.warn("acme failed", { domains: e.domains.join(","), error: e.error }) },
 * });
 * ```
 */
export interface AcmeObserver {
  /** The certificate of some names changed. */
  onCertificateChange?(event: CertificateChangeEvent): void;
  /** A certificate was obtained or renewed. */
  onIssued?(event: IssuedEvent): void;
  /** Obtaining or renewing failed. */
  onFailure?(event: FailureEvent): void;
}
