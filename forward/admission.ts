/**
 * Admission control at accept: a global connection limit, a limit per source IP, and an accept
 * rate (token bucket). An admitted connection holds a permit that is released exactly once.
 * @module
 */
import type { Permit } from "../ha/limiter.ts";
import { ConnectionLimiter } from "../ha/limiter.ts";
import { TokenBucket } from "../ha/token_bucket.ts";
import type { ResolvedTunnelConfig } from "./config.ts";

/** Why a connection was refused. */
export type RejectReason = "max_connections" | "max_connections_per_ip" | "accept_rate";

/** The result of {@linkcode Admission.admit}. */
export type AdmitResult =
  | { readonly permit: Permit; readonly reason?: undefined }
  | { readonly permit?: undefined; readonly reason: RejectReason; readonly detail: string };

/** Limits for {@linkcode Admission}; 0 means no limit. */
export type AdmissionLimits = Pick<
  ResolvedTunnelConfig,
  "maxConnections" | "maxConnectionsPerIp" | "acceptRatePerSecond" | "acceptBurst"
>;

const NO_LIMIT_PERMIT: Permit = {
  released: false,
  release() {},
  [Symbol.dispose]() {},
};

/**
 * Counts open connections in all and per source IP: a {@linkcode ConnectionLimiter}, or the
 * counters a tunnel's worker threads share.
 */
export interface ConnectionCounter {
  /** Connections open now. */
  readonly active: number;
  /** Connections open now from `key`. */
  perKey(key: string): number;
  /** Takes a slot, or `undefined` at a limit. */
  tryAcquire(key: string): Permit | undefined;
}

/** Decides, per accepted connection, whether it may proceed. */
export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #connections?: ConnectionCounter;
  readonly #rate?: TokenBucket;
  #rejected: Record<RejectReason, number> = { max_connections: 0, max_connections_per_ip: 0, accept_rate: 0 };

  /**
   * Creates the admission control for one listener.
   *
   * @param limits The limits; 0 disables each.
   * @param now Clock for the accept rate, in milliseconds. @default {performance.now}
   * @param shared Connection counters shared with other accept loops (worker threads). @default {one of its own}
   */
  constructor(limits: AdmissionLimits, now?: () => number, shared?: ConnectionCounter) {
    this.#limits = limits;
    const { maxConnections, maxConnectionsPerIp, acceptRatePerSecond, acceptBurst } = limits;
    if (maxConnections > 0 || maxConnectionsPerIp > 0) {
      this.#connections = shared ?? new ConnectionLimiter({
        maxConnections: maxConnections || Infinity,
        maxPerKey: maxConnectionsPerIp || Infinity,
      });
    }
    if (acceptRatePerSecond > 0) {
      this.#rate = new TokenBucket({
        ratePerSecond: acceptRatePerSecond,
        burst: acceptBurst || Math.ceil(acceptRatePerSecond),
        now,
      });
    }
  }

  /**
   * Admits or refuses a connection from `sourceIp`.
   *
   * @param sourceIp The client's IP address.
   * @returns A permit to release when the connection ends, or the reason for refusing it.
   */
  admit(sourceIp: string): AdmitResult {
    const connections = this.#connections;
    if (connections) {
      const { maxConnections, maxConnectionsPerIp } = this.#limits;
      if (maxConnections > 0 && connections.active >= maxConnections) {
        return this.#reject("max_connections", `maxConnections (${maxConnections}) reached`);
      }
      if (maxConnectionsPerIp > 0 && connections.perKey(sourceIp) >= maxConnectionsPerIp) {
        return this.#reject(
          "max_connections_per_ip",
          `maxConnectionsPerIp (${maxConnectionsPerIp}) reached for ${sourceIp}`,
        );
      }
    }
    if (this.#rate && !this.#rate.tryTake()) {
      return this.#reject("accept_rate", `acceptRatePerSecond (${this.#limits.acceptRatePerSecond}) exceeded`);
    }
    if (!connections) return { permit: NO_LIMIT_PERMIT };
    const permit = connections.tryAcquire(sourceIp);
    // Only shared counters can refuse here: another worker took the last slot since the check.
    if (!permit) return this.#reject("max_connections", `maxConnections (${this.#limits.maxConnections}) reached`);
    return { permit };
  }

  #reject(reason: RejectReason, detail: string): AdmitResult {
    this.#rejected[reason]++;
    return { reason, detail };
  }

  /** Refusals since creation, by reason. */
  get rejected(): Readonly<Record<RejectReason, number>> {
    return { ...this.#rejected };
  }
}
