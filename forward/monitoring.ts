/**
 * Glue between tunnels and the HA parts: observers combined, health checks per tunnel, and the
 * JSON behind the admin server's `/status` and `/circuit`.
 * @module
 */
import type { HealthRegistry } from "../ha/health.ts";
import { formatAddr } from "../protocols/address.ts";
import type { ConnectionInfo, Tunnel, TunnelObserver } from "./tunnel.ts";

/** Calls every observer's callback in turn (each is isolated by the tunnel). */
export function combineObservers(...observers: readonly (Partial<TunnelObserver> | undefined)[]): TunnelObserver {
  const present = observers.filter((o) => o !== undefined);
  const names = [
    "onListen",
    "onAccept",
    "onReject",
    "onUpstream",
    "onConnectionEnd",
    "onAcceptError",
    "onWorkerExit",
    "onStop",
  ] as const;
  const combined: Record<string, (...args: never[]) => void> = {};
  for (const name of names) {
    const handlers = present.map((o) => o[name]).filter((h) => h !== undefined) as ((...args: unknown[]) => void)[];
    if (handlers.length > 0) {
      combined[name] = (...args: unknown[]) => {
        for (const handler of handlers) {
          try {
            handler(...args);
          } catch { /* one observer's failure must not hide the event from the others */ }
        }
      };
    }
  }
  return combined as TunnelObserver;
}

/** The listen address of a tunnel, for labels and names. */
export function listenerName(tunnel: Tunnel): string {
  return tunnel.addr ? formatAddr(tunnel.addr) : tunnel.config.listenAddr;
}

/**
 * Registers a tunnel's health checks: its listener (readiness: bound and accepting) and its
 * target's breaker (an open circuit is `warn`: the process is fine, the target is not).
 */
export function registerTunnelHealth(health: HealthRegistry, tunnel: Tunnel): void {
  health.register(`listener:${tunnel.config.listenAddr}`, () => {
    const state = tunnel.state;
    return state === "listening"
      ? { status: "pass", detail: `accepting on ${listenerName(tunnel)}` }
      : { status: "fail", detail: `listener is ${state}` };
  });
  health.register(`upstream:${tunnel.config.targetAddr}`, () => {
    const breaker = tunnel.breaker;
    if (!breaker) return { status: "pass", detail: "no circuit breaker" };
    return breaker.state === "closed"
      ? { status: "pass", detail: "circuit closed" }
      : { status: "warn", detail: `circuit ${breaker.state}` };
  }, { readiness: false });
}

/** The connection rows `/status` shows per tunnel, at most this many (newest last). */
const STATUS_CONNECTIONS_MAX = 100;

function connectionRow(c: ConnectionInfo): Record<string, unknown> {
  return {
    id: c.id,
    from: formatAddr(c.remoteAddr),
    startedAt: new Date(c.startedAt).toISOString(),
    lastActiveAt: new Date(c.lastActiveAt).toISOString(),
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
  };
}

/** Why `/status` lists no connection of an owned-path tunnel. */
const OWNED_NO_ROWS =
  'forwardPath "owned" has no per-connection rows: the connections live in the owned-socket forwarders\' Workers (counts are in stats)';

/** The JSON behind `/status`. */
export function tunnelStatus(tunnels: readonly Tunnel[]): Record<string, unknown> {
  return {
    tunnels: tunnels.map((t) => {
      const { reset: _reset, ...stats } = t.stats();
      const connections = t.connections();
      const c = t.config;
      return {
        listener: listenerName(t),
        protocol: c.protocol,
        target: c.targetAddr,
        state: t.state,
        stats: { ...stats, uptimeMs: Math.round(stats.uptimeMs) },
        rejected: t.rejections,
        limits: {
          maxConnections: c.maxConnections,
          maxConnectionsPerIp: c.maxConnectionsPerIp,
          acceptRatePerSecond: c.acceptRatePerSecond,
          idleTimeoutMs: c.connectionTimeoutMs,
          maxBufferedBytes: t.memory ? t.memory.used + t.memory.available : 0,
        },
        memory: t.memory ? { usedBytes: t.memory.used, refused: t.memory.rejected } : null,
        breaker: t.breaker ? { state: t.breaker.state } : null,
        connections: connections.slice(-STATUS_CONNECTIONS_MAX).map(connectionRow),
        connectionsListed: Math.min(connections.length, STATUS_CONNECTIONS_MAX),
        ...(t.forwardPath === "owned" ? { connectionsNote: OWNED_NO_ROWS } : {}),
      };
    }),
  };
}

/** The JSON behind `/circuit`. */
export function circuitStatus(tunnels: readonly Tunnel[]): Record<string, unknown> {
  return {
    breakers: tunnels.filter((t) => t.breaker).map((t) => {
      const stats = t.breaker!.stats();
      return { target: t.config.targetAddr, listener: listenerName(t), ...stats };
    }),
  };
}
