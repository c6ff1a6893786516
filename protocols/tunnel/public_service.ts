/**
 * One exposed service on the server: a public TCP listener whose connections are forwarded, one
 * stream each, to the client that registered it.
 * @module
 */
import { forward } from "../../forward/engine.ts";
import type { ForwardCounters } from "../../forward/types.ts";
import type { Conn, Incoming, Listener, NetAddr } from "../types.ts";
import type { StreamHeader } from "./stream_header.ts";
import type { TransportSession } from "./transport.ts";

/** Limits and hooks a {@linkcode PublicService} shares with its server. */
export interface PublicServiceContext {
  /** Open connections per service. */
  readonly maxConnectionsPerService: number;
  /** Deadline for opening the stream to the client. */
  readonly streamOpenTimeoutMs: number;
  /** Takes a slot from the global connection limit; `false` when it is full. */
  acquireGlobal(): boolean;
  /** Gives a global slot back. */
  releaseGlobal(): void;
  /** Reports a refused or failed public connection. */
  onRefused(service: PublicService, reason: string): void;
  /** Per-connection events (metrics). */
  readonly events?: PublicServiceEvents;
}

/** Per-connection events of a {@linkcode PublicService}; `TunnelMetrics.observe()` returns a fitting object. */
export interface PublicServiceEvents {
  /** A public connection was admitted. */
  onAccept(): void;
  /** A public connection was refused (`reason` is a short code). */
  onReject(remoteAddr: unknown, detail: string, reason: string): void;
  /** A public connection ended. */
  onConnectionEnd(
    end: { readonly error?: unknown; readonly phase?: string; readonly stats?: { durationMs: number } },
  ): void;
}

/** Counters of a {@linkcode PublicService}. */
export interface PublicServiceStats {
  /** Public connections accepted and forwarded. */
  readonly connections: number;
  /** Open now. */
  readonly active: number;
  /** Refused (no session, a limit, or the stream could not be opened). */
  readonly refused: number;
  /** Bytes from public clients to the service. */
  readonly bytesIn: number;
  /** Bytes from the service to public clients. */
  readonly bytesOut: number;
}

/** One forwarded public connection: its conn and the forward engine's live counters. */
class PublicConn implements ForwardCounters {
  readonly conn: Conn;
  readonly started: number = performance.now();
  aToB = 0;
  bToA = 0;
  pauses = 0;

  constructor(conn: Conn) {
    this.conn = conn;
  }
}

/** A public port bound for one client's service. */
export class PublicService {
  /** The client's id. */
  readonly clientId: string;
  /** The service name. */
  readonly name: string;
  readonly #listener: Listener;
  readonly #context: PublicServiceContext;
  #session: TransportSession | undefined;
  #loop: Promise<void>;
  #live = new Set<PublicConn>();
  #closedBytes = { in: 0, out: 0 };
  #connections = 0;
  #refused = 0;
  #closing = new AbortController();
  /** The deadline signal shared by the stream opens of one time slot (see {@linkcode PublicService.#openSignal}). */
  #openDeadline: { readonly signal: AbortSignal; readonly until: number } | undefined;

  /**
   * Starts accepting on a bound listener.
   *
   * @param clientId The owner.
   * @param name The service.
   * @param listener The bound public listener.
   * @param context Limits and hooks.
   */
  constructor(clientId: string, name: string, listener: Listener, context: PublicServiceContext) {
    this.clientId = clientId;
    this.name = name;
    this.#listener = listener;
    this.#context = context;
    this.#loop = this.#acceptLoop();
  }

  /** The bound address. */
  get addr(): NetAddr {
    return this.#listener.addr;
  }

  /** Whether a session is attached (otherwise new public connections are refused). */
  get attached(): boolean {
    return this.#session !== undefined;
  }

  /** Routes new public connections to `session`. */
  attach(session: TransportSession): void {
    this.#session = session;
  }

  /** Refuses new public connections until a session attaches again; open ones are ended with the old session. */
  detach(): void {
    this.#session = undefined;
  }

  /** Counters. */
  stats(): PublicServiceStats {
    let bytesIn = this.#closedBytes.in, bytesOut = this.#closedBytes.out;
    for (const c of this.#live) {
      bytesIn += c.aToB;
      bytesOut += c.bToA;
    }
    return { connections: this.#connections, active: this.#live.size, refused: this.#refused, bytesIn, bytesOut };
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const incoming of this.#listener) this.#admit(incoming);
    } catch {
      // The listener failed; the service stops accepting and the server notices on release.
    }
  }

  #refuse(incoming: Incoming, reason: string, code: string): void {
    this.#refused++;
    incoming.reject();
    this.#context.events?.onReject(incoming.remoteAddr, reason, code);
    this.#context.onRefused(this, reason);
  }

  #admit(incoming: Incoming): void {
    const session = this.#session;
    if (!session) return this.#refuse(incoming, "the client is not connected", "client_disconnected");
    if (this.#live.size >= this.#context.maxConnectionsPerService) {
      const limit = this.#context.maxConnectionsPerService;
      return this.#refuse(incoming, `maxConnectionsPerService (${limit}) reached`, "max_connections_per_service");
    }
    if (!this.#context.acquireGlobal()) {
      return this.#refuse(incoming, "the server's maxConnections reached", "max_connections");
    }
    this.#context.events?.onAccept();
    // A chain of callbacks rather than an async function: an open connection keeps a few
    // closures, not a suspended frame with its locals.
    incoming.handshake({ signal: this.#closing.signal }).then(
      (client) => this.#open(client, session),
      () => {
        incoming.reject();
        this.#context.releaseGlobal();
      },
    );
  }

  #open(client: Conn, session: TransportSession): void {
    // The conn's own address objects carry what the header needs (hostname, port).
    const header: StreamHeader = { service: this.name, clientAddr: client.remoteAddr, publicAddr: client.localAddr };
    const entry = new PublicConn(client);
    this.#live.add(entry);
    this.#connections++;
    let opening: Promise<Conn>;
    try {
      opening = session.openStream(header, { signal: this.#openSignal() });
    } catch (error) {
      opening = Promise.reject(error); // a header the transport cannot encode is refused like a failed open
    }
    opening.then(
      (stream) =>
        forward(client, stream, { signal: this.#closing.signal, counters: entry }).then(
          () => this.#end(entry, undefined),
          (error) => this.#end(entry, { error, phase: "forward" }),
        ),
      (error) => {
        client.close();
        this.#refused++;
        this.#context.onRefused(this, `the stream to the client could not be opened: ${(error as Error).message}`);
        this.#end(entry, { error, phase: "dial" });
      },
    );
  }

  /** A forwarded connection ended (or its stream could not be opened). */
  #end(entry: PublicConn, failure: { error: unknown; phase: string } | undefined): void {
    try {
      this.#context.events?.onConnectionEnd(
        failure ?? { stats: { durationMs: performance.now() - entry.started } },
      );
    } finally {
      this.#live.delete(entry);
      this.#closedBytes.in += entry.aToB;
      this.#closedBytes.out += entry.bToA;
      this.#context.releaseGlobal();
    }
  }

  /**
   * The signal that ends a stream open: the service closes, or `streamOpenTimeoutMs` passed. One
   * signal (and one timer) serves every open of a slot a tenth of the timeout long (at most 1 s),
   * so an open gets `streamOpenTimeoutMs` to at most a slot more, and no timer of its own.
   */
  #openSignal(): AbortSignal {
    const now = performance.now();
    const cached = this.#openDeadline;
    if (cached && now < cached.until) return cached.signal;
    const timeoutMs = this.#context.streamOpenTimeoutMs;
    const slotMs = Math.min(1_000, Math.ceil(timeoutMs / 10));
    const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(timeoutMs + slotMs)]);
    this.#openDeadline = { signal, until: now + slotMs };
    return signal;
  }

  /** Closes the public listener and every open connection of this service. Idempotent. */
  async close(): Promise<void> {
    this.#listener.close();
    this.#session = undefined;
    if (!this.#closing.signal.aborted) this.#closing.abort();
    for (const c of this.#live) c.conn.close();
    await this.#loop;
  }
}
