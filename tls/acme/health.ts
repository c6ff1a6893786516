/**
 * {@linkcode certificateHealthCheck}: a `HealthRegistry` check that fails before a certificate
 * expires (under 7 days left by default) or when a name still has none some minutes after it
 * started being managed, and warns while renewals fail or a first issuance is pending.
 * @module
 */
import type { CertificateStatus } from "./status.ts";

/** A check's verdict, as the ha `HealthRegistry` takes it. */
export interface CertificateCheckResult {
  /** `pass`, `warn` (degraded but serving) or `fail`. */
  readonly status: "pass" | "warn" | "fail";
  /** A short explanation for operators. */
  readonly detail?: string;
}

/** The check {@linkcode certificateHealthCheck} builds; ha's `HealthRegistry.register()` accepts it. */
export type CertificateHealthCheck = () => CertificateCheckResult;

/** The part of ha's `HealthRegistry` the manager uses (any registry of this shape works). */
export interface HealthCheckRegistry {
  /** Adds or replaces a check. */
  register(name: string, check: CertificateHealthCheck, options?: { readiness?: boolean }): void;
  /** Removes a check. */
  unregister(name: string): unknown;
}

/** Default validity left under which the check fails, in milliseconds (7 days). */
export const DEFAULT_MIN_VALIDITY_MS = 7 * 86_400_000;
/** Default time a name may go without a certificate before the check fails, in milliseconds (10 minutes). */
export const DEFAULT_ISSUE_DEADLINE_MS = 10 * 60_000;

/** Options for {@linkcode certificateHealthCheck}. */
export interface CertificateHealthOptions {
  /** Fail when a certificate has less validity left than this. @default {604_800_000} */
  minValidityMs?: number;
  /** Fail when a name has had no certificate for this long since it started being managed. @default {600_000} */
  issueDeadlineMs?: number;
  /** Time source. @default {Date.now} */
  now?: () => number;
}

function days(ms: number): string {
  return ms >= 86_400_000 ? `${(ms / 86_400_000).toFixed(1)} d` : `${Math.round(ms / 1000)} s`;
}

/**
 * Builds a health check over a manager's certificates: `fail` if one expires within
 * `minValidityMs` (or has expired), or a name has none after `issueDeadlineMs`; `warn` while a
 * first issuance is pending or the last renewal failed; else `pass`.
 *
 * @example Register it by hand
 * ```ts ignore
 * import { certificateHealthCheck } from "@ts-tunnel/tunnel/tls";
 * health.register("acme", certificateHealthCheck(manager, { minValidityMs: 14 * 86_400_000 }), { readiness: false });
 * ```
 * @param source Reads the per-name status (an `AutoManager`).
 * @param options Thresholds and time source.
 * @returns The check.
 */
export function certificateHealthCheck(
  source: { cacheStatus(): Record<string, CertificateStatus> },
  options: CertificateHealthOptions = {},
): CertificateHealthCheck {
  const { minValidityMs = DEFAULT_MIN_VALIDITY_MS, issueDeadlineMs = DEFAULT_ISSUE_DEADLINE_MS, now = Date.now } =
    options;
  return (): CertificateCheckResult => {
    const t = now();
    const failing: string[] = [];
    const warning: string[] = [];
    let soonest: [string, number] | undefined;
    for (const [domain, status] of Object.entries(source.cacheStatus())) {
      const error = status.lastError ? ` (last error: ${status.lastError})` : "";
      if (status.notAfter === undefined) {
        const waited = t - status.managedSince.getTime();
        if (waited > issueDeadlineMs) failing.push(`${domain}: no certificate after ${days(waited)}${error}`);
        else warning.push(`${domain}: certificate pending${error}`);
        continue;
      }
      const left = status.notAfter.getTime() - t;
      if (left <= 0) failing.push(`${domain}: certificate expired${error}`);
      else if (left < minValidityMs) failing.push(`${domain}: certificate expires in ${days(left)}${error}`);
      else if (status.lastError) warning.push(`${domain}: renewal failing${error}`);
      if (!soonest || left < soonest[1]) soonest = [domain, left];
    }
    if (failing.length > 0) return { status: "fail", detail: [...failing, ...warning].join("; ") };
    if (warning.length > 0) return { status: "warn", detail: warning.join("; ") };
    if (!soonest) return { status: "pass", detail: "no managed domains" };
    return { status: "pass", detail: `next expiry: ${soonest[0]} in ${days(soonest[1])}` };
  };
}
