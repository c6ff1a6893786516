/**
 * A registry of health checks with timeouts, reporting in the shape Kubernetes probes and
 * operators expect: `pass`, `warn` (degraded but serving) or `fail`.
 * @module
 */

/** A check's verdict. */
export type HealthStatus = "pass" | "warn" | "fail";

/** What a check returns. */
export interface CheckResult {
  /** The verdict. */
  readonly status: HealthStatus;
  /** A short explanation for operators. */
  readonly detail?: string;
}

/** One check's entry in a {@linkcode HealthReport}. */
export interface CheckReport extends CheckResult {
  /** The check's name. */
  readonly name: string;
  /** Whether it gates readiness. */
  readonly readiness: boolean;
  /** How long it took, in milliseconds. */
  readonly durationMs: number;
}

/** The result of running every check. */
export interface HealthReport {
  /** `fail` if any check failed, else `warn` if any warned, else `pass`. */
  readonly status: HealthStatus;
  /** Each check. */
  readonly checks: readonly CheckReport[];
}

/** A health check; it may be async and receives a signal that aborts at its timeout. */
export type HealthCheck = (signal: AbortSignal) => CheckResult | Promise<CheckResult>;

/** Options for {@linkcode HealthRegistry.register}. */
export interface RegisterOptions {
  /** Fails the check if it has not answered in time. @default {5_000} */
  timeoutMs?: number;
  /** Counts for `/readyz` (not only `/health`). @default {true} */
  readiness?: boolean;
}

/** Default time a check may take. */
export const DEFAULT_CHECK_TIMEOUT_MS = 5_000;

const RANK: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

/**
 * Named health checks. A check that throws or times out fails, with the reason as its detail.
 *
 * @example
 * ```ts
 * import { HealthRegistry } from "./health.ts";
 * const health = new HealthRegistry();
 * health.register("listener", () => ({ status: "pass", detail: "bound on :8080" }));
 * const report = await health.run();
 * console.assert(report.status === "pass");
 * ```
 */
export class HealthRegistry {
  #checks = new Map<string, { check: HealthCheck; timeoutMs: number; readiness: boolean }>();

  /**
   * Adds or replaces a check.
   *
   * @param name A unique name, such as `listener:0.0.0.0:8080`.
   * @param check The check.
   * @param options Timeout and readiness.
   */
  register(name: string, check: HealthCheck, options: RegisterOptions = {}): void {
    const { timeoutMs = DEFAULT_CHECK_TIMEOUT_MS, readiness = true } = options;
    this.#checks.set(name, { check, timeoutMs, readiness });
  }

  /** Removes a check; returns whether it existed. */
  unregister(name: string): boolean {
    return this.#checks.delete(name);
  }

  /**
   * Runs the checks concurrently.
   *
   * @param options `readinessOnly` runs only the checks that gate readiness.
   * @returns The overall status and each check's result.
   */
  async run(options: { readinessOnly?: boolean } = {}): Promise<HealthReport> {
    const entries = [...this.#checks].filter(([, c]) => !options.readinessOnly || c.readiness);
    const checks = await Promise.all(entries.map(([name, c]) => runOne(name, c.check, c.timeoutMs, c.readiness)));
    const worst = checks.reduce<HealthStatus>((w, c) => RANK[c.status] > RANK[w] ? c.status : w, "pass");
    return { status: worst, checks };
  }
}

async function runOne(name: string, check: HealthCheck, timeoutMs: number, readiness: boolean): Promise<CheckReport> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve({ status: "fail", detail: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => check(controller.signal)), timedOut]);
    return { name, readiness, status: result.status, detail: result.detail, durationMs: performance.now() - started };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { name, readiness, status: "fail", detail, durationMs: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}
