/**
 * Runs the reverse tunnel's server or client as a service: the transport protocol (TLS with ALPN
 * `ts-tunnel/1`, or plain TCP), logging, the admin server (health, status, metrics) and signals.
 * The CLI's `server` and `client` commands end up here.
 * @module
 */
import { readFile } from "node:fs/promises";
import { HealthRegistry } from "../../ha/health.ts";
import type { Logger } from "../../ha/logger.ts";
import { TunnelMetrics } from "../../ha/metrics.ts";
import { runService } from "../../ha/service_runner.ts";
import { formatAddr, parseDialAddr } from "../address.ts";
import type { Runtime } from "../runtime.ts";
import { type TlsClientOptions, TlsProtocol, type TlsServerOptions } from "../tls.ts";
import type { QuicTransportOptions } from "../quic_types.ts";
import type { Protocol } from "../types.ts";
import { UnsupportedProtocolError } from "../errors.ts";
import type { QuicConnect, QuicListen } from "./quic_transport.ts";
import { TUNNEL_PROTOCOL_ID } from "./auth.ts";
import { TunnelClient } from "./client.ts";
import {
  DEFAULT_TUNNEL_CLIENT_CONFIG,
  DEFAULT_TUNNEL_SERVER_CONFIG,
  resolveTunnelClientConfig,
  resolveTunnelServerConfig,
  type TunnelClientConfig,
  type TunnelServerConfig,
} from "./config.ts";
import { TunnelServer } from "./server.ts";

/** What the serve functions need from the CLI. */
export interface TunnelServeContext {
  /** The runtime adapter. */
  readonly runtime: Runtime;
  /** The logger. */
  readonly logger: Logger;
  /** Aborting it acts like the first SIGTERM. */
  readonly signal?: AbortSignal;
  /** The admin server, if any. */
  readonly admin?: { readonly listen: string; readonly metrics?: boolean; readonly metricsNamespace?: string };
  /** The version, for `/status`. */
  readonly version: string;
}

/** How long a stopping server gives clients and public connections to finish. */
const DRAIN_TIMEOUT_MS = 5_000;

/**
 * The protocol a server listens with: TLS (ALPN `ts-tunnel/1`) needs a certificate and key.
 *
 * @throws {TypeError} When TLS is asked for without a certificate.
 */
export function serverProtocol(
  transport: string | undefined,
  tls: TlsServerOptions | undefined,
  runtime: Runtime,
): Protocol | undefined {
  if (transport === "tcp") return undefined;
  if (!tls || (!tls.certFile && !tls.cert) || (!tls.keyFile && !tls.key)) {
    throw new TypeError(
      "Cannot serve the tunnel over TLS without a certificate: give -cert FILE -key FILE (tls.cert_file and " +
        "tls.key_file in YAML), or -transport tcp on a trusted network",
    );
  }
  return new TlsProtocol({ runtime, server: { ...tls, alpnProtocols: [TUNNEL_PROTOCOL_ID] } });
}

/** Reads a PEM from a file or takes it inline. */
async function pem(file: string | undefined, inline: string | undefined, what: string): Promise<string> {
  if (inline) return inline;
  if (!file) throw new TypeError(`Cannot use QUIC without ${what}: give its file`);
  return await readFile(file, "utf8");
}

/** The QUIC transport settings a tunnel config asks for (checked by the config, defaults applied). */
function quicSettings(
  config: Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl">,
  defaults: Required<Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl">>,
): Pick<QuicTransportOptions, "maxConcurrentBidiStreams" | "congestionControl"> {
  return {
    // The streams the peer may open: on the client, the forwarded connections of its session.
    maxConcurrentBidiStreams: config.maxStreamsPerSession ?? defaults.maxStreamsPerSession,
    // Our own sender's algorithm; the peer sets its own.
    congestionControl: config.quicCongestionControl ?? defaults.quicCongestionControl,
  };
}

/**
 * How a server binds QUIC (transport `quic`): the runtime's QUIC listener with the TLS
 * certificate and ALPN `ts-tunnel/1`, advertising `maxStreamsPerSession` and sending with
 * `quicCongestionControl` (default `"low-latency"`).
 *
 * @param tls The certificate and key.
 * @param runtime The runtime adapter.
 * @param config The server config's QUIC settings. @default {the config's defaults}
 * @returns The listen function for {@linkcode TunnelServer}'s `quic` option.
 * @throws {UnsupportedProtocolError} When the runtime has no QUIC.
 */
export function serverQuic(
  tls: TlsServerOptions | undefined,
  runtime: Runtime,
  config: Pick<TunnelServerConfig, "maxStreamsPerSession" | "quicCongestionControl"> = {},
): QuicListen {
  const listenQuic = runtime.listenQuic?.bind(runtime);
  if (!listenQuic) throw new UnsupportedProtocolError("quic", `the ${runtime.name} runtime offers no QUIC`);
  const settings = quicSettings(config, DEFAULT_TUNNEL_SERVER_CONFIG);
  return async (addr) =>
    await listenQuic({
      hostname: addr.hostname || "0.0.0.0",
      port: addr.port,
      cert: await pem(tls?.certFile, tls?.cert, "a certificate (-cert)"),
      key: await pem(tls?.keyFile, tls?.key, "a key (-key)"),
      alpnProtocols: [TUNNEL_PROTOCOL_ID],
      keepAliveIntervalMs: 10_000,
      ...settings,
    });
}

/**
 * How a client opens QUIC (transport `quic` or `auto`): verifies the server against `caFile`
 * (or the system roots) under `serverName`, advertises the config's `maxStreamsPerSession` as the
 * streams the server may open (Bun advertises 50 to 100) and sends with its
 * `quicCongestionControl` (default `"low-latency"`).
 */
export function clientQuic(
  config: TunnelClientConfig,
  tls: TlsClientOptions | undefined,
  runtime: Runtime,
): QuicConnect {
  const connectQuic = runtime.connectQuic?.bind(runtime);
  if (!connectQuic) throw new UnsupportedProtocolError("quic", `the ${runtime.name} runtime offers no QUIC`);
  const serverName = tls?.serverName ?? parseDialAddr(config.serverAddr).hostname;
  const settings = quicSettings(config, DEFAULT_TUNNEL_CLIENT_CONFIG);
  return async (addr, { signal, timeoutMs }) => {
    const ca = tls?.ca ?? (tls?.caFile ? await readFile(tls.caFile, "utf8") : undefined);
    return await connectQuic({
      hostname: addr.hostname,
      port: addr.port,
      serverName,
      caCerts: ca ? [ca] : undefined,
      insecure: tls?.insecure,
      alpnProtocols: [TUNNEL_PROTOCOL_ID],
      keepAliveIntervalMs: 10_000,
      ...settings,
      signal,
      timeoutMs,
    });
  };
}

/** The protocol a client dials with: TLS verifies the server against `caFile` or the system roots. */
export function clientProtocol(
  config: TunnelClientConfig,
  tls: TlsClientOptions | undefined,
  runtime: Runtime,
): Protocol | undefined {
  if (config.transport === "tcp" || config.transport === "quic") return undefined;
  const serverName = tls?.serverName ?? parseDialAddr(config.serverAddr).hostname;
  return new TlsProtocol({ runtime, client: { ...tls, serverName, alpnProtocols: [TUNNEL_PROTOCOL_ID] } });
}

/**
 * Runs a tunnel server until a signal: logs clients and refusals, serves `/health` (listener
 * bound), `/status` (clients, services, ports, counters) and `/metrics`.
 *
 * @returns The exit code: 0 after a clean stop, 1 when the listener cannot be bound.
 */
export async function serveTunnelServer(
  config: TunnelServerConfig,
  tls: TlsServerOptions | undefined,
  ctx: TunnelServeContext,
): Promise<number> {
  const { logger, runtime } = ctx;
  resolveTunnelServerConfig(config); // config errors first, before the certificate
  const metrics = ctx.admin && ctx.admin.metrics !== false
    ? await TunnelMetrics.create({ namespace: ctx.admin.metricsNamespace })
    : undefined;
  const server = new TunnelServer(config, {
    runtime,
    protocol: serverProtocol(config.transport, tls, runtime),
    quic: config.transport === "quic" ? serverQuic(tls, runtime, config) : undefined,
    metrics,
    observer: {
      onClientConnected: (id, addr, info) =>
        logger.info("client connected", { client: id, from: formatAddr(addr), ...info }),
      onClientDisconnected: (id, reason) => logger.info("client disconnected", { client: id, reason }),
      // Failed authentication and rate limiting are what an operator watches; a connection that
      // closed before saying hello (a port check, a scanner) is noise.
      onRejected: (addr, code, message) =>
        (code === "auth_failed" || code === "rate_limited" || code === "too_many_connections"
          ? logger.warn
          : logger.debug).call(logger, "session refused", { from: formatAddr(addr), code, message }),
      onServiceRegistered: (id, name, result) =>
        "port" in result
          ? logger.info("service exposed", { client: id, service: name, port: result.port })
          : logger.warn("service refused", { client: id, service: name, reason: result.error }),
      onPublicRefused: (id, name, reason) =>
        logger.debug("public connection refused", { client: id, service: name, reason }),
    },
  });
  try {
    await server.start();
  } catch (error) {
    logger.error("cannot start the tunnel server", { listen: config.listenAddr, error });
    return 1;
  }
  logger.info("tunnel server listening", {
    addr: formatAddr(server.addr!),
    ...(server.quicAddr ? { quic: formatAddr(server.quicAddr) } : {}),
    transport: server.config.transport,
    ports: `${server.config.portMin}-${server.config.portMax}`,
  });
  const health = new HealthRegistry();
  health.register(
    "listener",
    () =>
      server.addr
        ? { status: "pass", detail: `accepting clients on ${formatAddr(server.addr)}` }
        : { status: "fail", detail: "not listening" },
  );
  health.register("clients", () => {
    const clients = server.clients();
    const connected = clients.filter((c) => c.connected).length;
    return { status: "pass", detail: `${connected} connected, ${clients.length - connected} within resume grace` };
  }, { readiness: false });
  return await runService({
    runtime,
    logger,
    signal: ctx.signal,
    version: ctx.version,
    admin: ctx.admin && {
      listen: ctx.admin.listen,
      health,
      metrics: metrics && { contentType: metrics.contentType, text: () => metrics.text() },
      status: () => ({ server: { addr: server.addr && formatAddr(server.addr) }, clients: server.clients() }),
    },
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    drain: () => server.stop(),
    close: () => void server.stop(),
  });
}

/**
 * Runs a tunnel client until a signal: logs the session, the public ports it got and local
 * failures; `/readyz` passes while a session is up.
 *
 * @returns The exit code: 0 after a clean stop, 1 when the server refused the credentials.
 */
export async function serveTunnelClient(
  config: TunnelClientConfig,
  tls: TlsClientOptions | undefined,
  ctx: TunnelServeContext,
): Promise<number> {
  const { logger, runtime } = ctx;
  resolveTunnelClientConfig(config); // config errors first, before the TLS setup
  const client: TunnelClient = new TunnelClient(config, {
    runtime,
    protocol: clientProtocol(config, tls, runtime),
    quic: config.transport === "quic" || config.transport === "auto" ? clientQuic(config, tls, runtime) : undefined,
    observer: {
      onConnected: (info) =>
        logger.info("connected to the tunnel server", {
          server: config.serverAddr,
          transport: info.transport,
          heartbeats: info.heartbeats,
          resumed: info.resumed,
        }),
      onDisconnected: (reason, retryInMs) => logger.warn("disconnected", { reason, retryInMs }),
      onRegistered: (services) => {
        for (const s of services) {
          if (s.error) {
            logger.error("service refused", { service: s.name, code: s.error.code, reason: s.error.message });
          } else logger.info("service exposed", { service: s.name, port: s.remotePort });
        }
      },
      onLocalError: (service, error) => logger.info("local service unreachable", { service, error }),
      onFallback: (from, to, reason) => logger.warn(`${from} did not answer; falling back to ${to}`, { reason }),
    },
  });
  const started = client.start();
  const fatal = await Promise.race([started.then(() => undefined, (error) => error), waitAbort(ctx.signal)]);
  if (fatal !== undefined) {
    logger.error("cannot start the tunnel client", { error: fatal });
    await client.stop();
    return 1;
  }
  const health = new HealthRegistry();
  health.register(
    "session",
    () =>
      client.transport
        ? { status: "pass", detail: `connected over ${client.transport}` }
        : { status: "fail", detail: "not connected; reconnecting" },
  );
  return await runService({
    runtime,
    logger,
    signal: ctx.signal,
    version: ctx.version,
    admin: ctx.admin && {
      listen: ctx.admin.listen,
      health,
      status: () => ({
        client: {
          server: config.serverAddr,
          transport: client.transport,
          services: client.services(),
          heartbeats: client.heartbeats,
          pacing: client.pacing,
        },
      }),
    },
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    drain: () => client.stop(),
    close: () => void client.stop(),
  });
}

/** Never resolves unless `signal` aborts (then resolves to `undefined`). */
function waitAbort(signal: AbortSignal | undefined): Promise<undefined> {
  return new Promise((resolve) => signal?.addEventListener("abort", () => resolve(undefined), { once: true }));
}
