/**
 * High-availability building blocks: a per-target {@linkcode CircuitBreaker} (and a
 * {@linkcode CircuitBreakerRegistry} of them), {@linkcode retry} with exponential backoff and
 * jitter, and limiters that hand out disposable {@linkcode Permit}s ({@linkcode ConnectionLimiter},
 * {@linkcode ConcurrencyLimiter}, {@linkcode MemoryLimiter}, {@linkcode CompositeLimiter}) or
 * tokens ({@linkcode TokenBucket}). Every clock is injectable and every async operation takes
 * `{ signal }`; nothing here depends on a runtime.
 *
 * @example Admit a connection, then dial through a breaker with retries
 * ```ts ignore
 * import { CircuitBreakerRegistry, ConnectionLimiter, retry, TokenBucket } from "@ts-tunnel/tunnel/ha";
 *
 * const perIp = new ConnectionLimiter({ maxConnections: 10_000, maxPerKey: 64 });
 * const acceptRate = new TokenBucket({ ratePerSecond: 500, burst: 1_000 });
 * const breakers = new CircuitBreakerRegistry({ failureThreshold: 5, cooldownMs: 30_000 });
 *
 * async function handle(incoming: Incoming, target: DialAddr, signal: AbortSignal): Promise<void> {
 *   using permit = acceptRate.tryTake() ? perIp.tryAcquire(incoming.remoteAddr.hostname) : undefined;
 *   if (!permit) return incoming.reject();
 *   await using client = await incoming.handshake({ signal });
 *   await using upstream = await breakers.get(`${target.hostname}:${target.port}`).execute(
 *     ({ signal }) => retry(({ signal }) => tcp.dial(target, { signal }), { maxAttempts: 3, signal }),
 *     { signal },
 *   );
 *   await forward(client, upstream, { signal });
 * }
 * ```
 * @module
 */
export * from "./circuit_breaker.ts";
export * from "./circuit_registry.ts";
export * from "./retry.ts";
export * from "./limiter.ts";
export * from "./concurrency_limiter.ts";
export * from "./token_bucket.ts";
export * from "./logger.ts";
export * from "./status_line.ts";
export * from "./health.ts";
export * from "./metrics.ts";
export * from "./admin_server.ts";
export * from "./shutdown.ts";
export * from "./conn_pool.ts";
export * from "./resource_monitor.ts";
