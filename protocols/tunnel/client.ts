/**
 * The reverse tunnel's client (frp's `frpc`, go-tunnel's `MuxClient`): connects to a server,
 * authenticates, exposes its configured local services on public ports, and reconnects.
 * @module
 */
import { forward } from "../../forward/engine.ts";
import { CircuitBreaker } from "../../ha/circuit_breaker.ts";
import { parseDialAddr } from "../address.ts";
import type { Runtime } from "../runtime.ts";
import { TcpProtocol } from "../tcp.ts";
import type { Conn, DialAddr, Protocol } from "../types.ts";
import { authTranscript, clientMac, randomNonce, serverMac, verifyMac } from "./auth.ts";
import { type ResolvedTunnelClientConfig, resolveTunnelClientConfig, type TunnelClientConfig } from "./config.ts";
import { ControlChannel } from "./control_channel.ts";
import type { HeartbeatPath, HeartbeatStats } from "./heartbeat.ts";
import { TunnelError, type TunnelErrorCode } from "./errors.ts";
import { DATAGRAM_HEARTBEAT_CAPABILITY, heartbeatPath, SessionHeartbeat } from "./_session_heartbeat.ts";
import { sessionCapabilities } from "./_session_capabilities.ts";
import { onPacingMessage, STREAM_PACING_CAPABILITY, type StreamPacingStats } from "./stream_pacing.ts";
import type { ControlMessage, RegisteredMessage, WelcomeMessage } from "./messages.ts";
import { encodeProxyHeader, type ProxyProtocolVersion } from "./proxy_protocol.ts";
import { type QuicConnect, quicDialer } from "./quic_transport.ts";
import { type IncomingStream, muxDialer, type SessionDialer, type TransportSession } from "./transport.ts";

/**
 * Capabilities this client asks for; `datagram-heartbeat` only on a session with datagrams (QUIC
 * with RFC 9221), see docs/PROTOCOL.md section 7.1.
 */
export const CLIENT_CAPABILITIES: readonly string[] = [
  "resume",
  "proxy-protocol",
  DATAGRAM_HEARTBEAT_CAPABILITY,
  STREAM_PACING_CAPABILITY,
];

/** What the server answered for one service. */
export type ServiceStatus =
  | { readonly name: string; readonly remotePort: number; readonly error?: undefined }
  | { readonly name: string; readonly remotePort?: undefined; readonly error: { code: string; message: string } };

/** Events a {@linkcode TunnelClient} reports. Observers must not throw. */
export interface TunnelClientObserver {
  /** A session is up (after `welcome`). */
  onConnected?(info: { transport: string; resumed: boolean; sessionId: string; heartbeats: HeartbeatPath }): void;
  /** The session ended; the client reconnects after `retryInMs` unless it is stopping. */
  onDisconnected?(reason: string, retryInMs: number | undefined): void;
  /** The server answered a registration. */
  onRegistered?(services: readonly ServiceStatus[]): void;
  /** A forwarded stream could not reach its local service. */
  onLocalError?(service: string, error: unknown): void;
  /** With `auto`: QUIC did not answer in time, so the client falls back to TLS. */
  onFallback?(from: string, to: string, reason: string): void;
}

/** Options for {@linkcode TunnelClient}. */
export interface TunnelClientOptions {
  /** The runtime adapter. @default {the running runtime's} */
  runtime?: Runtime;
  /** The protocol that reaches the server (a TLS protocol with the CA for `tls`). @default {TCP for `tcp`} */
  protocol?: Protocol;
  /** Event callbacks. */
  observer?: TunnelClientObserver;
  /**
   * Opens QUIC connections to the server (CA, server name and ALPN applied, and the config's
   * `maxStreamsPerSession` and `quicCongestionControl`, as `clientQuic()` in serve.ts does); needed
   * for `quic` and `auto`.
   */
  quic?: QuicConnect;
}

interface LocalService {
  readonly name: string;
  readonly target: DialAddr;
  readonly proxyProtocol: ProxyProtocolVersion | undefined;
  readonly breaker: CircuitBreaker;
}

function safely<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    fn?.(...args);
  } catch { /* observers must not break the client */ }
}

/** Waits `ms`, or less if `signal` aborts (then resolves without throwing). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Errors after which reconnecting cannot help: the client stops. */
function isFatal(error: unknown): boolean {
  return error instanceof TunnelError && (error.code === "auth_failed" || error.code === "version");
}

/**
 * The tunnel client.
 *
 * @example Expose a local PostgreSQL on the server's port 15432
 * ```ts ignore
 * import { TunnelClient } from "@ts-tunnel/tunnel/protocols";
 * const client = new TunnelClient({
 *   serverAddr: "tunnel.example.com:7000", clientId: "laptop", token: Deno.env.get("TUNNEL_TOKEN")!,
 *   services: [{ name: "pg", localAddr: "127.0.0.1:5432", remotePort: 15432 }],
 * }, { protocol: tlsProtocol });
 * await client.start();
 * ```
 */
export class TunnelClient implements AsyncDisposable {
  /** The resolved configuration. */
  readonly config: ResolvedTunnelClientConfig;
  readonly #dialers: readonly SessionDialer[];
  readonly #local: TcpProtocol;
  readonly #observer: TunnelClientObserver;
  readonly #services = new Map<string, LocalService>();
  readonly #server: DialAddr;
  readonly #stopping = new AbortController();
  readonly #streams = new Set<Conn>();
  #heartbeat: SessionHeartbeat | undefined;
  #ready = Promise.withResolvers<void>();
  #loop: Promise<void> | undefined;
  #sessionId: string | undefined;
  #session: TransportSession | undefined;
  #control: ControlChannel | undefined;
  #status: ServiceStatus[] = [];

  /**
   * Validates the config; nothing connects until {@linkcode TunnelClient.start}.
   *
   * @param config Server, identity and services.
   * @param options Runtime, protocol and observer.
   * @throws {TypeError | RangeError} For a bad config, naming the key, the value and the fix.
   */
  constructor(config: TunnelClientConfig, options: TunnelClientOptions = {}) {
    this.config = resolveTunnelClientConfig(config);
    this.#server = parseDialAddr(this.config.serverAddr);
    if (!options.protocol && (this.config.transport === "tls" || this.config.transport === "auto")) {
      throw new TypeError(
        `Cannot create TunnelClient for transport "${this.config.transport}": pass the protocol that carries it ` +
          `(options.protocol), or use transport "tcp" on a trusted network`,
      );
    }
    const transport = this.config.transport;
    const dialers: SessionDialer[] = [];
    if (transport === "quic" || transport === "auto") {
      if (!options.quic) {
        throw new TypeError(
          `Cannot create TunnelClient for transport "${transport}": pass options.quic (a QUIC connect function)`,
        );
      }
      dialers.push(quicDialer(options.quic));
    }
    if (transport !== "quic") {
      const kind = transport === "tcp" ? "tcp" : "tls";
      const protocol = options.protocol ?? new TcpProtocol({ runtime: options.runtime });
      dialers.push(muxDialer(protocol, kind, { maxStreams: this.config.maxStreamsPerSession }));
    }
    this.#dialers = dialers;
    this.#local = new TcpProtocol({ runtime: options.runtime });
    this.#observer = options.observer ?? {};
    for (const s of this.config.services) {
      this.#services.set(s.name, {
        name: s.name,
        target: parseDialAddr(s.localAddr),
        proxyProtocol: s.proxyProtocol,
        breaker: new CircuitBreaker({ failureThreshold: 5, cooldownMs: 5_000 }),
      });
    }
    this.#ready.promise.catch(() => {});
  }

  /**
   * Connects and keeps reconnecting until {@linkcode TunnelClient.stop}.
   *
   * @returns Resolves once the first session is up and the server answered the registration.
   * @throws {TunnelError} `auth_failed` or `version` from the first session: retrying cannot help.
   */
  start(): Promise<void> {
    if (this.#loop) throw new TypeError("Cannot start the TunnelClient: it has already started");
    this.#loop = this.#run();
    return this.#ready.promise;
  }

  /** The server's answer per service (public ports, or why a service was refused). */
  services(): readonly ServiceStatus[] {
    return this.#status;
  }

  /** The transport of the current session, or `undefined` while disconnected. */
  get transport(): string | undefined {
    return this.#session?.kind;
  }

  /** The current session's heartbeat path and counters, or `undefined` while disconnected. */
  get heartbeats(): HeartbeatStats | undefined {
    return this.#heartbeat?.stats();
  }

  /**
   * The session's bulk-stream pacing (docs/PROTOCOL.md section 7.2) while connected over QUIC;
   * `undefined` otherwise (the TLS/TCP mux paces by itself).
   */
  get pacing(): StreamPacingStats | undefined {
    return this.#session?.pacing?.stats();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#stopping.signal.aborted) {
      let reason: string;
      let retryInMs: number | undefined;
      try {
        const { session, control, welcome, capabilities } = await this.#connect();
        attempt = 0;
        ({ reason, retryInMs } = await this.#serve(session, control, welcome, heartbeatPath(capabilities, session)));
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
        if (isFatal(error)) {
          this.#ready.reject(error);
          safely(this.#observer.onDisconnected, reason, undefined);
          return;
        }
      }
      if (this.#stopping.signal.aborted) break;
      const ceiling = Math.min(
        this.config.reconnectMaxMs,
        this.config.reconnectInitialMs * 2 ** Math.min(attempt++, 30),
      );
      const delay = retryInMs ?? Math.round(Math.random() * ceiling); // full jitter
      safely(this.#observer.onDisconnected, reason, delay);
      await pause(delay, this.#stopping.signal);
    }
    this.#ready.reject(new TunnelError("shutting_down", "the client was stopped before it connected"));
  }

  async #connect(): Promise<
    { session: TransportSession; control: ControlChannel; welcome: WelcomeMessage; capabilities: string[] }
  > {
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(this.config.handshakeTimeoutMs)]);
    const session = await this.#dialSession(signal);
    const control = new ControlChannel(session.control);
    try {
      const { clientId, token } = this.config;
      const clientNonce = randomNonce();
      await control.send({
        type: "hello",
        version: 1,
        capabilities: sessionCapabilities(CLIENT_CAPABILITIES, session),
        clientId,
        clientNonce,
        ...(this.#sessionId ? { resume: { sessionId: this.#sessionId } } : {}),
      });
      const challenge = expect(await control.receive({ signal }), "challenge");
      const transcript = authTranscript({
        clientId,
        sessionId: challenge.sessionId,
        capabilities: challenge.capabilities,
        clientNonce,
        serverNonce: challenge.serverNonce,
      });
      await control.send({ type: "auth", mac: clientMac(token, transcript) });
      const welcome = expect(await control.receive({ signal }), "welcome");
      if (!verifyMac(serverMac(token, transcript), welcome.serverMac)) {
        throw new TunnelError("auth_failed", "the server could not prove that it knows the token; check serverAddr");
      }
      this.#sessionId = challenge.sessionId;
      if (challenge.capabilities.includes(STREAM_PACING_CAPABILITY)) {
        session.pacing?.enable((probe) => control.send(probe));
      }
      return { session, control, welcome, capabilities: challenge.capabilities };
    } catch (error) {
      // A peer that closes with a code (QUIC's CONNECTION_CLOSE, the mux's RST) says why; that
      // reason decides whether reconnecting can help.
      if (!(error instanceof TunnelError)) await Promise.race([session.closed, new Promise((r) => setTimeout(r, 100))]);
      const reason = session.closeReason;
      session.close(error);
      throw reason instanceof TunnelError && !(error instanceof TunnelError) ? reason : error;
    }
  }

  /** Tries each transport in order (QUIC first when configured), and says which one answered. */
  async #dialSession(signal: AbortSignal): Promise<TransportSession> {
    const timeoutMs = this.config.handshakeTimeoutMs;
    const [first, fallback] = this.#dialers;
    if (!fallback) return await first.dial(this.#server, { signal, timeoutMs });
    // auto: QUIC gets quicFallbackMs (UDP may be blocked: then nothing ever answers), then TLS.
    const quicTimeoutMs = Math.min(timeoutMs, this.config.quicFallbackMs);
    try {
      return await first.dial(this.#server, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(quicTimeoutMs)]),
        timeoutMs: quicTimeoutMs,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      safely(this.#observer.onFallback, first.kind, fallback.kind, (error as Error).message ?? String(error));
      return await fallback.dial(this.#server, { signal, timeoutMs });
    }
  }

  async #serve(
    session: TransportSession,
    control: ControlChannel,
    welcome: WelcomeMessage,
    path: HeartbeatPath,
  ): Promise<{ reason: string; retryInMs?: number }> {
    this.#session = session;
    this.#control = control;
    let outcome: { reason: string; retryInMs?: number } = { reason: "the connection to the server closed" };
    const heartbeat = this.#heartbeat = new SessionHeartbeat({
      path,
      datagrams: session.datagrams,
      intervalMs: welcome.heartbeatMs,
      misses: welcome.heartbeatMisses,
      sendControlPing: (seq, sentAt) => control.send({ type: "ping", seq, sentAt }),
      onDead: (missed) => {
        outcome = { reason: `${missed} heartbeats went unanswered` };
        session.close(new TunnelError("protocol", outcome.reason));
      },
    });
    safely(this.#observer.onConnected, {
      transport: session.kind,
      resumed: welcome.resumed,
      sessionId: this.#sessionId!,
      heartbeats: path,
    });
    const streams = this.#acceptStreams(session);
    try {
      if (welcome.resumed) this.#ready.resolve();
      else {
        await control.send({
          type: "register",
          services: this.config.services.map((s) => ({
            name: s.name,
            ...(s.remotePort !== undefined ? { remotePort: s.remotePort } : {}),
            ...(s.proxyProtocol ? { proxyProtocol: s.proxyProtocol } : {}),
          })),
        });
      }
      while (!this.#stopping.signal.aborted) {
        const message: ControlMessage = await control.receive({ signal: this.#stopping.signal });
        switch (message.type) {
          case "registered":
            this.#registered(message);
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
            return outcome = {
              reason: `the server said goodbye: ${message.message}`,
              retryInMs: message.reconnectAfterMs,
            };
          case "error":
            throw new TunnelError(message.code, message.message);
          default:
            throw new TunnelError("protocol", `unexpected ${message.type} from the server`);
        }
      }
      return outcome;
    } catch (error) {
      if (error instanceof TunnelError) {
        if (isFatal(error)) throw error;
        return { reason: error.message };
      }
      return outcome;
    } finally {
      heartbeat.stop();
      this.#heartbeat = undefined;
      this.#session = undefined;
      this.#control = undefined;
      session.close();
      await streams;
    }
  }

  #registered(message: RegisteredMessage): void {
    this.#status = message.services.map((s) =>
      "error" in s ? { name: s.name, error: { code: s.error.code, message: s.error.message } } : {
        name: s.name,
        remotePort: s.remotePort,
      }
    );
    safely(this.#observer.onRegistered, this.#status);
    this.#ready.resolve();
  }

  async #acceptStreams(session: TransportSession): Promise<void> {
    try {
      for await (const stream of session.incomingStreams()) void this.#handleStream(stream);
    } catch {
      // The session ended.
    }
  }

  async #handleStream({ header, conn }: IncomingStream): Promise<void> {
    const service = this.#services.get(header.service);
    if (!service) {
      // Only services from our own configuration are ever dialed.
      resetStream(conn, "unknown_service");
      return safely(this.#observer.onLocalError, header.service, new TunnelError("unknown_service", "no such service"));
    }
    this.#streams.add(conn);
    try {
      const local = await service.breaker.execute(({ signal }) =>
        this.#local.dial(service.target, { signal, timeoutMs: this.config.localDialTimeoutMs })
      );
      if (service.proxyProtocol) {
        const writer = local.writable.getWriter();
        await writer.write(encodeProxyHeader(service.proxyProtocol, {
          source: header.clientAddr,
          destination: header.publicAddr,
        }));
        writer.releaseLock();
      }
      await forward(conn, local, { signal: this.#stopping.signal });
    } catch (error) {
      resetStream(conn, "local_unreachable");
      safely(this.#observer.onLocalError, service.name, error);
    } finally {
      this.#streams.delete(conn);
    }
  }

  /** Says goodbye to the server and closes the session and every stream. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#stopping.signal.aborted) {
      await this.#control?.send({ type: "goaway", code: "shutting_down", message: "the client is stopping" })
        .catch(() => {});
      this.#stopping.abort(new TunnelError("shutting_down", "the client is stopping"));
      this.#session?.close();
      for (const conn of this.#streams) conn.close();
    }
    await this.#loop;
  }

  /** Same as {@linkcode TunnelClient.stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Resets a stream with a code where the transport can carry one, else closes it. */
function resetStream(conn: Conn, code: TunnelErrorCode): void {
  const stream = conn as Conn & { reset?(code: TunnelErrorCode): void };
  if (stream.reset) stream.reset(code);
  else conn.close();
}

function expect<T extends ControlMessage["type"]>(
  message: ControlMessage,
  type: T,
): Extract<ControlMessage, { type: T }> {
  if (message.type === "error") throw new TunnelError(message.code, message.message);
  if (message.type !== type) throw new TunnelError("protocol", `expected ${type}, got ${message.type}`);
  return message as Extract<ControlMessage, { type: T }>;
}
