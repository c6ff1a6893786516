/**
 * Internal: the checks of `forwardPath: "owned"` (the owned-socket splice forwarder,
 * `listenOwnedSplice`). It forwards plain TCP from one listener to one target inside a Worker that
 * owns the sockets, so every setting that needs per-connection code in this thread is refused here,
 * by name, with the fix. Nothing here loads FFI.
 * @module
 */
import type { ResolvedTunnelConfig, TunnelConfig } from "./config.ts";

/** Why a refused setting cannot work on the owned path (the forwarder runs no per-connection code here). */
const NO_CONN = "the owned-socket forwarder accepts, connects and splices in its Worker";

/**
 * Throws for every setting the owned path cannot honour. Only keys the user set are refused:
 * defaults that need a connection object (`dialAttempts: 3`, the breaker's threshold 5) just do not apply.
 *
 * @param resolved The config with defaults applied.
 * @param given The user's config.
 * @throws {TypeError} Naming the key, its value and the fix (usually `forwardPath "splice"`).
 */
export function checkOwnedPath(resolved: ResolvedTunnelConfig, given: TunnelConfig): void {
  if (resolved.forwardPath !== "owned") return;
  const refuse = (key: string, value: unknown, why: string, fix = `use forwardPath "splice"`): never => {
    throw new TypeError(
      `Cannot use TunnelConfig.${key} = ${JSON.stringify(value)} with forwardPath "owned": ${why}; ${fix}`,
    );
  };
  if (resolved.protocol !== "tcp") {
    refuse(
      "protocol",
      resolved.protocol,
      "the owned-socket forwarder forwards plain TCP only",
      `use forwardPath "auto" (it picks the path ${resolved.protocol} needs)`,
    );
  }
  if (resolved.targetTls !== undefined) {
    refuse("targetTls", resolved.targetTls, `${NO_CONN} and cannot speak TLS to the target`, `use forwardPath "auto"`);
  }
  if (given.dialAttempts !== undefined && given.dialAttempts > 1) {
    refuse("dialAttempts", given.dialAttempts, "the owned-socket forwarder connects to the target once per client");
  }
  if (given.breakerFailureThreshold !== undefined && given.breakerFailureThreshold > 0) {
    refuse("breakerFailureThreshold", given.breakerFailureThreshold, `${NO_CONN}: it has no circuit breaker`);
  }
  if (resolved.upstreamPoolSize > 0) {
    refuse("upstreamPoolSize", resolved.upstreamPoolSize, `${NO_CONN}: it keeps no warm upstream connections`);
  }
  if (resolved.maxConnectionsPerIp > 0) {
    refuse("maxConnectionsPerIp", resolved.maxConnectionsPerIp, `${NO_CONN}: it counts connections, not sources`);
  }
  for (const key of ["acceptRatePerSecond", "acceptBurst"] as const) {
    if (resolved[key] > 0) refuse(key, resolved[key], `${NO_CONN}: it has no accept-rate limit`);
  }
  if (resolved.maxBufferedBytes > 0) {
    refuse(
      "maxBufferedBytes",
      resolved.maxBufferedBytes,
      "bytes move through kernel pipes, which the budget does not cover",
      `use forwardPath "pump"`,
    );
  }
}
