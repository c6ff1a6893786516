/**
 * The reverse tunnel's server (frp's `frps`, go-tunnel's `MuxServer`): clients behind NAT connect,
 * authenticate, and expose their local services on public ports of this host.
 * @module
 */
import { randomBytes } from "node:crypto";
import type { TunnelMetrics } from "../../ha/metrics.ts";
import { TokenBucket } from "../../ha/token_bucket.ts";
import { formatAddr } from "../address.ts";
import { parseListenAddr } from "../address.ts";
import { NetError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import { TcpProtocol } from "../tcp.ts";
import type { Listener, NetAddr, Protocol } from "../types.ts";
import { authTranscript, clientMac, randomNonce, randomSessionId, serverMac, verifyMac } from "./auth.ts";
import {
  type ResolvedTunnelServerConfig,
  resolveTunnelServerConfig,
  SERVICE_NAME_PATTERN,
  type TunnelServerConfig,
} from "./config.ts";
import { ControlChannel } from "./control_channel.ts";
import type { HeartbeatPath, HeartbeatStats } from "./heartbeat.ts";
import { TunnelError, type TunnelErrorCode } from "./errors.ts";
import { DATAGRAM_HEARTBEAT_CAPABILITY, heartbeatPath, SessionHeartbeat } from "./_session_heartbeat.ts";
import { sessionCapabilities } from "./_session_capabilities.ts";
import { onPacingMessage, STREAM_PACING_CAPABILITY, type StreamPacingStats } from "./stream_pacing.ts";
import type {
  ControlMessage,
  HelloMessage,
  RegisterMessage,
  ServiceAccepted,
  ServiceErrorCode,
  ServiceRefused,
} from "./messages.ts";
import { PublicService, type PublicServiceStats } from "./public_service.ts";
import { listenQuicSessions, type QuicListen } from "./quic_transport.ts";
import { listenMuxSessions, type PendingSession, type SessionListener, type TransportSession } from "./transport.ts";

/**
 * Capabilities this server offers (negotiated as the intersection with the client's);
 * `datagram-heartbeat` only on a session with datagrams.
 */
export const SERVER_CAPABILITIES: readonly string[] = [
  "resume",
  "proxy-protocol",
  DATAGRAM_HEARTBEAT_CAPABILITY,
  STREAM_PACING_CAPABILITY,
];

/** Events a {@linkcode TunnelServer} reports (logging, metrics). Observers must not throw. */
export interface TunnelServerObserver {
  /** A client authenticated; `resumed` when it took over its earlier session's ports. */
  onClientConnected?(
    clientId: string,
    remoteAddr: NetAddr,
    info: { resumed: boolean; transport: string; heartbeats: HeartbeatPath },
  ): void;
  /** A client's session ended. */
  onClientDisconnected?(clientId: string, reason: string): void;
  /** A session was refused before or during authentication. */
  onRejected?(remoteAddr: NetAddr, code: TunnelErrorCode | "rate_limited", message: string): void;
  /** A service got (or was refused) a public port. */
  onServiceRegistered?(clientId: string, name: string, result: { port: number } | { error: string }): void;
  /** A public connection was refused. */
  onPublicRefused?(clientId: string, name: string, reason: string): void;
}

/** Options for {@linkcode TunnelServer}. */
export interface TunnelServerOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** The protocol clients connect over (a TLS protocol with the server certificate for `tls`). @default {TCP for `tcp`} */
  protocol?: Protocol;
  /** Event callbacks. */
  observer?: TunnelServerObserver;
  /**
   * Exports per-service series (labels: `listener` = the public port's address, `protocol` =
   * `tunnel`), `{ns}_tunnel_clients_connected` and `{ns}_tunnel_sessions_pacing`. @default {no metrics}
   */
  metrics?: TunnelMetrics;
  /**
   * Binds a QUIC listener (certificate and ALPN applied, and the config's `maxStreamsPerSession`
   * and `quicCongestionControl`, as `serverQuic()` in serve.ts does); needed for transport `quic`,
   * where the server listens on UDP for QUIC and on TCP (same port number) for the TLS fallback.
   */
  quic?: QuicListen;
}

/** One row of {@linkcode TunnelServer.clients}. */
export interface TunnelClientInfo {
  /** The client id. */
  readonly clientId: string;
  /** Connected now (else within its resume grace period). */
  readonly connected: boolean;
  /** Its address, while connected. */
  readonly remoteAddr: NetAddr | undefined;
  /** The transport of its session. */
  readonly transport: string | undefined;
  /** Services with their public ports and counters. */
  readonly services: ReadonlyArray<{ name: string; port: number } & PublicServiceStats>;
  /** The session's heartbeat path (`datagram` on QUIC when both sides negotiated it) and counters, while connected. */
  readonly heartbeats: HeartbeatStats | undefined;
  /** The session's bulk-stream pacing (docs/PROTOCOL.md section 7.2) while connected over QUIC. */
  readonly pacing: StreamPacingStats | undefined;
}

/** A client known to the server: its services outlive a session for the resume grace period. */
interface ClientRecord {
  readonly clientId: string;
  sessionId: string;
  readonly services: Map<string, PublicService>;
  session: TransportSession | undefined;
  control: ControlChannel | undefined;
  heartbeat?: SessionHeartbeat | undefined;
  graceTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Same-length stand-in so an unknown client id costs the same HMAC as a known one. */
const UNKNOWN_CLIENT_TOKEN = randomBytes(32).toString("hex");
/** Ports tried when `listenAddr` has port 0 and the TCP port the system picked is taken on UDP (transport `quic`). */
const PICKED_PORT_ATTEMPTS = 8;

function safely<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    fn?.(...args);
  } catch { /* observers must not break the server */ }
}

/**
 * The tunnel server.
 *
 * @example Serve clients on :7000 over TLS
 * ```ts ignore
 * import { TunnelServer } from "@ts-tunnel/tunnel/protocols";
 * const server = new TunnelServer(
 *   { listenAddr: ":7000", tokens: { laptop: "a-long-random-token-0123456789" }, portRange: "10000-20000" },
 *   { protocol: tlsProtocol },
 * );
 * await server.start();
 * ```
 */
export class TunnelServer implements AsyncDisposable {
  /** The resolved configuration. */
  readonly config: ResolvedTunnelServerConfig;
  readonly #protocol: Protocol;
  readonly #quic: QuicListen | undefined;
  readonly #public: TcpProtocol;
  readonly #observer: TunnelServerObserver;
  readonly #metrics: TunnelMetrics | undefined;
  readonly #records = new Map<string, ClientRecord>();
  readonly #authFailures = new Map<string, TokenBucket>();
  readonly #stopping = new AbortController();
  readonly #pending = new Set<Promise<void>>();
  #listeners: SessionListener[] = [];
  #acceptLoop: Promise<void> = Promise.resolve();
  #globalConnections = 0;
  readonly #unobserve = new Map<PublicService, Disposable>();

  /**
   * Validates the config; nothing is bound until {@linkcode TunnelServer.start}.
   *
   * @param config Listen address, tokens, port range and limits.
   * @param options Runtime, protocol and observer.
   * @throws {TypeError | RangeError} For a bad config, naming the key, the value and the fix.
   */
  constructor(config: TunnelServerConfig, options: TunnelServerOptions = {}) {
    this.config = resolveTunnelServerConfig(config);
    parseListenAddr(this.config.listenAddr);
    if (!options.protocol && this.config.transport !== "tcp") {
      throw new TypeError(
        `Cannot create TunnelServer for transport "${this.config.transport}": pass the protocol that carries it ` +
          `(options.protocol), or use transport "tcp" on a trusted network`,
      );
    }
    this.#protocol = options.protocol ?? new TcpProtocol({ runtime: options.runtime });
    if (this.config.transport === "quic" && !options.quic) {
      throw new TypeError(
        'Cannot create TunnelServer for transport "quic": pass options.quic (a QUIC listen function)',
      );
    }
    this.#quic = options.quic;
    this.#public = new TcpProtocol({ runtime: options.runtime });
    this.#observer = options.observer ?? {};
    this.#metrics = options.metrics;
    this.#metrics?.gauge(
      "tunnel_clients_connected",
      "Tunnel clients with a session now.",
      () => [...this.#records.values()].filter((r) => r.session).length,
    );
    this.#metrics?.gauge(
      "tunnel_sessions_pacing",
      "Client sessions whose server side paces bulk streams now (QUIC stream-pacing: interactive traffic beside bulk).",
      () =>
        [...this.#records.values()].filter((r) => (r.session?.pacing?.stats().rateBytesPerMs ?? null) !== null).length,
    );
  }

  /** Where clients connect (after start). */
  get addr(): NetAddr | undefined {
    return this.#listeners[0]?.addr;
  }

  /**
   * Binds the client listener and starts accepting.
   * @throws {NetError} If the address cannot be bound.
   */
  async start(): Promise<void> {
    if (this.#listeners.length > 0) throw new TypeError("Cannot start the TunnelServer: it has already started");
    const kind = this.config.transport === "tcp" ? "tcp" : "tls";
    const addr = parseListenAddr(this.config.listenAddr);
    for (let attempt = 1;; attempt++) {
      const listener = await listenMuxSessions(this.#protocol, addr, kind, {
        maxStreams: this.config.maxStreamsPerSession,
      });
      if (this.config.transport !== "quic") {
        this.#listeners.push(listener);
        break;
      }
      try {
        // QUIC on the same port number, over UDP: clients fall back to the TCP listener when UDP is blocked.
        const quic = await listenQuicSessions(this.#quic!, { ...addr, port: listener.addr.port });
        this.#listeners.push(listener, quic);
        break;
      } catch (error) {
        listener.close();
        // A port the system picked for TCP may be taken on UDP: pick another.
        const taken = error instanceof NetError && error.code === "EADDRINUSE";
        if (!(taken && addr.port === 0 && attempt < PICKED_PORT_ATTEMPTS)) throw error;
      }
    }
    this.#acceptLoop = Promise.all(this.#listeners.map((l) => this.#accept(l))).then(() => {});
  }

  /** Where QUIC clients connect (UDP), when the transport is `quic`. */
  get quicAddr(): NetAddr | undefined {
    return this.#listeners.find((l) => l.kind === "quic")?.addr;
  }

  async #accept(listener: SessionListener): Promise<void> {
    try {
      for await (const pending of listener) {
        const task = this.#session(pending).catch(() => {});
        this.#pending.add(task);
        task.finally(() => this.#pending.delete(task));
      }
    } catch {
      // The listener closed.
    }
  }

  #refuse(remoteAddr: NetAddr, code: TunnelErrorCode | "rate_limited", message: string): void {
    safely(this.#observer.onRejected, remoteAddr, code, message);
  }

  /** True while `ip` may still try to authenticate. */
  #authAllowed(ip: string): boolean {
    const bucket = this.#authFailures.get(ip);
    return !bucket || bucket.msUntil(1) === 0;
  }

  #authFailed(ip: string): void {
    let bucket = this.#authFailures.get(ip);
    if (!bucket) {
      if (this.#authFailures.size >= 100_000) this.#authFailures.clear(); // bound the table under a spray
      bucket = new TokenBucket({
        ratePerSecond: this.config.authFailuresPerMinute / 60,
        burst: this.config.authFailureBurst,
      });
      this.#authFailures.set(ip, bucket);
    }
    bucket.tryTake();
  }

  async #session(pending: PendingSession): Promise<void> {
    let remoteAddr = pending.remoteAddr;
    // QUIC learns the peer's address only in the handshake: then the check runs right after it.
    const knownEarly = remoteAddr.hostname !== "";
    if (knownEarly && !this.#authAllowed(remoteAddr.hostname)) {
      pending.reject();
      return this.#refuse(remoteAddr, "rate_limited", "too many failed authentications from this address");
    }
    const deadline = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(this.config.handshakeTimeoutMs)]);
    let session: TransportSession;
    try {
      session = await pending.establish({ signal: deadline, timeoutMs: this.config.handshakeTimeoutMs });
    } catch (error) {
      pending.reject();
      return this.#refuse(remoteAddr, "protocol", `handshake failed: ${(error as Error).message}`);
    }
    remoteAddr = session.remoteAddr;
    if (!knownEarly && !this.#authAllowed(remoteAddr.hostname)) {
      session.close(new TunnelError("auth_failed", "too many failed authentications from this address"));
      return this.#refuse(remoteAddr, "rate_limited", "too many failed authentications from this address");
    }
    const control = new ControlChannel(session.control);
    let record: ClientRecord;
    let resumed: boolean;
    let capabilities: string[];
    try {
      ({ record, resumed, capabilities } = await this.#authenticate(session, control, deadline));
    } catch (error) {
      const code = error instanceof TunnelError ? error.code : "protocol";
      const message = error instanceof TunnelError ? error.message : `handshake failed: ${(error as Error).message}`;
      await control.send({ type: "error", code, message }).catch(() => {});
      session.close(error);
      return this.#refuse(remoteAddr, code, message);
    }
    if (capabilities.includes(STREAM_PACING_CAPABILITY)) session.pacing?.enable((probe) => control.send(probe));
    await this.#serve(record, session, control, resumed, heartbeatPath(capabilities, session));
  }

  async #authenticate(
    session: TransportSession,
    control: ControlChannel,
    signal: AbortSignal,
  ): Promise<{ record: ClientRecord; resumed: boolean; capabilities: string[] }> {
    const hello = await control.receive({ signal });
    if (hello.type !== "hello") throw new TunnelError("protocol", `expected hello, got ${hello.type}`);
    if (hello.version !== 1) {
      throw new TunnelError("version", `protocol version ${hello.version} is not supported; use 1`);
    }
    const { clientId } = hello as HelloMessage;
    const capabilities = sessionCapabilities(SERVER_CAPABILITIES, session).filter((c) =>
      hello.capabilities.includes(c)
    );
    const existing = this.#records.get(clientId);
    const resumeId = (hello as HelloMessage).resume?.sessionId;
    const resuming = resumeId !== undefined && existing !== undefined && existing.sessionId === resumeId;
    const sessionId = resuming ? resumeId : randomSessionId();
    const serverNonce = randomNonce();
    await control.send({ type: "challenge", version: 1, capabilities, serverNonce, sessionId });
    let auth: ControlMessage;
    try {
      auth = await control.receive({ signal });
    } catch (error) {
      if (signal.aborted) throw new TunnelError("auth_failed", "authentication failed");
      throw error;
    }
    const token = this.config.tokens.get(clientId) ?? this.config.sharedToken;
    const transcript = authTranscript({
      clientId,
      sessionId,
      capabilities,
      clientNonce: hello.clientNonce,
      serverNonce,
    });
    const expected = clientMac(token ?? UNKNOWN_CLIENT_TOKEN, transcript);
    const valid = auth.type === "auth" && verifyMac(expected, auth.mac) && token !== undefined;
    if (!valid) {
      this.#authFailed(session.remoteAddr.hostname);
      throw new TunnelError("auth_failed", "authentication failed");
    }
    if (!existing && this.#records.size >= this.config.maxClients) {
      throw new TunnelError("too_many_connections", `the server's maxClients (${this.config.maxClients}) is reached`);
    }
    let record = existing;
    if (record && !resuming) {
      await this.#release(record, "the client logged in again without resuming");
      record = undefined;
    }
    if (!record) {
      record = {
        clientId,
        sessionId,
        services: new Map(),
        session: undefined,
        control: undefined,
        graceTimer: undefined,
      };
      this.#records.set(clientId, record);
    }
    if (record.session) record.session.close(new TunnelError("shutting_down", "replaced by a resumed session"));
    clearTimeout(record.graceTimer);
    record.graceTimer = undefined;
    record.sessionId = sessionId;
    await control.send({
      type: "welcome",
      serverMac: serverMac(token!, transcript),
      heartbeatMs: this.config.heartbeatMs,
      heartbeatMisses: this.config.heartbeatMisses,
      limits: {
        maxServices: this.config.maxServicesPerClient,
        maxConnectionsPerService: this.config.maxConnectionsPerService,
        portRange: { min: this.config.portMin, max: this.config.portMax },
      },
      resumed: resuming,
    });
    return { record, resumed: resuming, capabilities };
  }

  async #serve(
    record: ClientRecord,
    session: TransportSession,
    control: ControlChannel,
    resumed: boolean,
    path: HeartbeatPath,
  ) {
    let goaway = false;
    let reason = "the connection closed";
    const heartbeat = new SessionHeartbeat({
      path,
      datagrams: session.datagrams,
      intervalMs: this.config.heartbeatMs,
      misses: this.config.heartbeatMisses,
      sendControlPing: (seq, sentAt) => control.send({ type: "ping", seq, sentAt }),
      onDead: (missed) => {
        reason = `${missed} heartbeats went unanswered`;
        session.close(new TunnelError("protocol", reason));
      },
    });
    record.session = session;
    record.control = control;
    record.heartbeat = heartbeat;
    for (const service of record.services.values()) service.attach(session);
    safely(this.#observer.onClientConnected, record.clientId, session.remoteAddr, {
      resumed,
      transport: session.kind,
      heartbeats: path,
    });
    try {
      while (!this.#stopping.signal.aborted) {
        const message = await control.receive({ signal: this.#stopping.signal });
        switch (message.type) {
          case "register":
            await control.send({ type: "registered", services: await this.#register(record, message) });
            break;
          case "unregister":
            for (const name of message.names) await this.#closeService(record, name);
            break;
          case "ping":
            heartbeat.controlPing();
            await control.send({ type: "pong", seq: message.seq });
            break;
          case "pong":
            heartbeat.controlPong(message.seq);
            break;
          case "probe":
          case "probe_ack":
            await onPacingMessage(session, message, (answer) => control.send(answer));
            break;
          case "goaway":
            goaway = true;
            reason = `the client said goodbye: ${message.message}`;
            return;
          case "error":
            reason = `the client reported ${message.code}: ${message.message}`;
            return;
          default:
            throw new TunnelError("protocol", `unexpected ${message.type} after welcome`);
        }
      }
    } catch (error) {
      if (error instanceof TunnelError) {
        reason = error.message;
        await control.send({ type: "error", code: error.code, message: error.message }).catch(() => {});
      } else if (!(error instanceof NetError) && !this.#stopping.signal.aborted) {
        reason = (error as Error).message ?? String(error);
      }
    } finally {
      heartbeat.stop();
      session.close();
      this.#detach(record, session, goaway, reason);
    }
  }

  /** The session ended: keep the ports for the grace period (or release them at once after goaway). */
  #detach(record: ClientRecord, session: TransportSession, goaway: boolean, reason: string): void {
    if (record.session !== session) return; // a resumed session took over already
    record.session = undefined;
    record.control = undefined;
    record.heartbeat = undefined;
    for (const service of record.services.values()) service.detach();
    safely(this.#observer.onClientDisconnected, record.clientId, reason);
    if (goaway || this.#stopping.signal.aborted || this.config.resumeGraceMs === 0) {
      void this.#release(record, reason);
      return;
    }
    record.graceTimer = setTimeout(
      () => void this.#release(record, "the resume grace period passed"),
      this.config.resumeGraceMs,
    );
  }

  async #closeService(record: ClientRecord, name: string): Promise<void> {
    const service = record.services.get(name);
    if (!service) return;
    record.services.delete(name);
    await service.close();
    this.#unobserve.get(service)?.[Symbol.dispose]();
    this.#unobserve.delete(service);
  }

  async #release(record: ClientRecord, _reason: string): Promise<void> {
    clearTimeout(record.graceTimer);
    if (this.#records.get(record.clientId) === record) this.#records.delete(record.clientId);
    await Promise.all([...record.services.keys()].map((name) => this.#closeService(record, name)));
  }

  async #register(record: ClientRecord, message: RegisterMessage): Promise<Array<ServiceAccepted | ServiceRefused>> {
    const results: Array<ServiceAccepted | ServiceRefused> = [];
    for (const request of message.services) {
      const result = await this.#registerOne(record, request.name, request.remotePort);
      safely(
        this.#observer.onServiceRegistered,
        record.clientId,
        request.name,
        "error" in result ? { error: result.error.message } : { port: result.remotePort },
      );
      results.push(result);
    }
    return results;
  }

  async #registerOne(
    record: ClientRecord,
    name: string,
    remotePort: number | undefined,
  ): Promise<ServiceAccepted | ServiceRefused> {
    const refuse = (code: ServiceErrorCode, message: string): ServiceRefused => ({ name, error: { code, message } });
    const { portMin, portMax } = this.config;
    if (!SERVICE_NAME_PATTERN.test(name)) {
      return refuse("invalid_name", `service name ${JSON.stringify(name)} is invalid`);
    }
    if (record.services.has(name)) return refuse("duplicate_name", `service ${name} is already registered`);
    if (record.services.size >= this.config.maxServicesPerClient) {
      return refuse("too_many_services", `at most ${this.config.maxServicesPerClient} services per client`);
    }
    if (remotePort !== undefined && (remotePort < portMin || remotePort > portMax)) {
      return refuse("port_out_of_range", `port ${remotePort} is outside the allowed range ${portMin}-${portMax}`);
    }
    let listener: Listener | undefined;
    if (remotePort !== undefined) {
      try {
        listener = await this.#bind(remotePort);
      } catch (error) {
        return refuse("port_in_use", `port ${remotePort} cannot be bound: ${(error as Error).message}`);
      }
    } else {
      listener = await this.#bindAny();
      if (!listener) return refuse("port_in_use", `no free port in the range ${portMin}-${portMax}`);
    }
    const events = this.#metrics?.observe(() => ({
      stats: () => {
        const s = service.stats();
        return { active: s.active, bytesSent: s.bytesOut, bytesReceived: s.bytesIn, backpressurePauses: 0 };
      },
    }), { listener: formatAddr(listener.addr), protocol: "tunnel", target: `${record.clientId}/${name}` });
    const service: PublicService = new PublicService(record.clientId, name, listener, {
      events,
      maxConnectionsPerService: this.config.maxConnectionsPerService,
      streamOpenTimeoutMs: this.config.streamOpenTimeoutMs,
      acquireGlobal: () => this.#globalConnections < this.config.maxConnections && ++this.#globalConnections > 0,
      releaseGlobal: () => void this.#globalConnections--,
      onRefused: (s, why) => safely(this.#observer.onPublicRefused, s.clientId, s.name, why),
    });
    if (record.session) service.attach(record.session);
    record.services.set(name, service);
    if (events) this.#unobserve.set(service, events);
    return { name, remotePort: listener.addr.port, bindHost: this.config.bindHost };
  }

  #bind(port: number): Promise<Listener> {
    return this.#public.listen({ hostname: this.config.bindHost || undefined, port });
  }

  /** A free port from the range: random probes first, then a bounded scan. */
  async #bindAny(): Promise<Listener | undefined> {
    const { portMin, portMax } = this.config;
    const size = portMax - portMin + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < Math.min(size, 256); i++) {
      try {
        return await this.#bind(portMin + ((start + i) % size));
      } catch { /* taken: try the next */ }
    }
    return undefined;
  }

  /** The clients the server knows: connected ones and those within their resume grace period. */
  clients(): TunnelClientInfo[] {
    return [...this.#records.values()].map((r) => ({
      clientId: r.clientId,
      connected: r.session !== undefined,
      remoteAddr: r.session?.remoteAddr,
      transport: r.session?.kind,
      services: [...r.services.values()].map((s) => ({ name: s.name, port: s.addr.port, ...s.stats() })),
      heartbeats: r.session ? r.heartbeat?.stats() : undefined,
      pacing: r.session?.pacing?.stats(),
    }));
  }

  /** Open public connections across all services. */
  get activeConnections(): number {
    return this.#globalConnections;
  }

  /**
   * Says goodbye to every client, closes the listener, the public ports and the sessions.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.#stopping.signal.aborted) {
      for (const listener of this.#listeners) listener.close();
      const goaway = { type: "goaway", code: "shutting_down", message: "the server is stopping" } as const;
      await Promise.allSettled(
        [...this.#records.values()].map((r) => r.control?.send(goaway)).filter((p) => p !== undefined),
      );
      this.#stopping.abort(new TunnelError("shutting_down", "the server is stopping"));
    }
    await this.#acceptLoop;
    await Promise.all([...this.#records.values()].map((r) => {
      r.session?.close(new TunnelError("shutting_down", "the server is stopping"));
      return this.#release(r, "the server is stopping");
    }));
    await Promise.allSettled([...this.#pending]);
  }

  /** Same as {@linkcode TunnelServer.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
