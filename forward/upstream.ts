/**
 * Dialing the target with a per-target circuit breaker, retries (exponential backoff with
 * jitter) and, optionally, a pool of warm pre-dialed connections. Only connection attempts are retried, never anything after a byte was forwarded, and
 * only dial failures count towards the breaker (never client behaviour).
 * @module
 */
import { CircuitBreaker, CircuitOpenError } from "../ha/circuit_breaker.ts";
import { ConnPool } from "../ha/conn_pool.ts";
import { retry, RetryError } from "../ha/retry.ts";
import { formatAddr, netAddr } from "../protocols/address.ts";
import { NetError } from "../protocols/errors.ts";
import type { Conn, DialAddr, Protocol } from "../protocols/types.ts";
import type { ResolvedTunnelConfig } from "./config.ts";

/** Settings for {@linkcode Upstream}. */
export type UpstreamSettings = Pick<
  ResolvedTunnelConfig,
  | "dialTimeoutMs"
  | "tcpNoDelay"
  | "tcpKeepAlive"
  | "dialAttempts"
  | "dialRetryInitialDelayMs"
  | "dialRetryMaxDelayMs"
  | "breakerFailureThreshold"
  | "breakerSuccessThreshold"
  | "breakerCooldownMs"
  | "upstreamPoolSize"
  | "upstreamPoolMaxAgeMs"
>;

/** Thrown by {@linkcode Upstream.dial} while the target's circuit is open: the client fails fast. */
export class UpstreamUnavailableError extends NetError {
  /** Milliseconds until the breaker lets a probe through. */
  readonly remainingCooldownMs: number;
  /**
   * Creates the error.
   *
   * @param target The target address.
   * @param remainingCooldownMs Time left in the open state.
   * @param cause The breaker's error.
   */
  constructor(target: DialAddr, remainingCooldownMs: number, cause: unknown) {
    super(
      "ECONNREFUSED",
      `Cannot dial "${formatAddr(target)}" over tcp: circuit open after repeated failures (retry in ${
        Math.ceil(remainingCooldownMs)
      } ms)`,
      { op: "dial", protocol: "tcp", remoteAddr: netAddr(target.hostname, target.port), cause },
    );
    this.name = "UpstreamUnavailableError";
    this.remainingCooldownMs = remainingCooldownMs;
  }
}

/** Dial failures worth another attempt: network errors, but not an open circuit. */
function retryable(error: unknown): boolean {
  return !(error instanceof CircuitOpenError) && error instanceof NetError;
}

/** One target: dials through its breaker, retrying failed attempts. */
export class Upstream {
  /** The target. */
  readonly target: DialAddr;
  /** The target's breaker, or `undefined` when disabled. */
  readonly breaker: CircuitBreaker | undefined;
  /** Warm connections, or `undefined` when `upstreamPoolSize` is 0. */
  readonly pool: ConnPool | undefined;
  readonly #protocol: Protocol;
  readonly #settings: UpstreamSettings;

  /**
   * Creates the dialer for one target.
   *
   * @param target Where to dial.
   * @param protocol How to dial.
   * @param settings Timeouts, retries and breaker thresholds.
   * @param breaker A breaker to share (for example from a registry); by default one is created
   *   from the settings, or none when `breakerFailureThreshold` is 0.
   */
  constructor(target: DialAddr, protocol: Protocol, settings: UpstreamSettings, breaker?: CircuitBreaker) {
    this.target = target;
    this.#protocol = protocol;
    this.#settings = settings;
    this.breaker = breaker ?? (settings.breakerFailureThreshold > 0
      ? new CircuitBreaker({
        failureThreshold: settings.breakerFailureThreshold,
        successThreshold: settings.breakerSuccessThreshold,
        cooldownMs: settings.breakerCooldownMs,
      })
      : undefined);
    this.pool = settings.upstreamPoolSize > 0
      ? new ConnPool({
        dial: (signal) => this.#attempt(signal),
        minIdle: settings.upstreamPoolSize,
        maxAgeMs: settings.upstreamPoolMaxAgeMs,
      })
      : undefined;
  }

  /** One dial attempt, through the breaker. */
  #attempt(signal?: AbortSignal): Promise<Conn> {
    const s = this.#settings;
    const dial = () =>
      this.#protocol.dial(this.target, {
        timeoutMs: s.dialTimeoutMs,
        noDelay: s.tcpNoDelay,
        keepAlive: s.tcpKeepAlive,
        signal,
      });
    return this.breaker ? this.breaker.execute(dial, { signal }) : dial();
  }

  /** Closes the warm connections. */
  close(): void {
    this.pool?.close();
  }

  /**
   * Connects to the target.
   *
   * @param signal Cancels the attempts and the waits between them.
   * @returns The connection.
   * @throws {UpstreamUnavailableError} While the circuit is open.
   * @throws {NetError} The last attempt's error when every attempt failed.
   */
  async dial(signal?: AbortSignal): Promise<Conn> {
    const warm = this.pool?.tryTake();
    if (warm) return warm;
    const s = this.#settings;
    try {
      // The common case (the first attempt works) costs no retry machinery at all.
      return await this.#attempt(signal);
    } catch (first) {
      if (s.dialAttempts <= 1 || !retryable(first)) throw this.#unwrap(first);
      try {
        return await retry(
          // Attempt 1 already happened above: report its error so retry() waits before attempt 2.
          ({ attempt }) => attempt === 1 ? Promise.reject(first) : this.#attempt(signal),
          {
            maxAttempts: s.dialAttempts,
            initialDelayMs: s.dialRetryInitialDelayMs,
            maxDelayMs: s.dialRetryMaxDelayMs,
            retryIf: retryable,
            signal,
          },
        );
      } catch (error) {
        throw this.#unwrap(error instanceof RetryError ? error.cause : error);
      }
    }
  }

  #unwrap(error: unknown): unknown {
    return error instanceof CircuitOpenError
      ? new UpstreamUnavailableError(this.target, error.remainingCooldownMs, error)
      : error;
  }
}
