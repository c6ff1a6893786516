/**
 * Internal: the runtime-neutral {@linkcode QuicListener} over a per-runtime
 * {@linkcode QuicListenerBackend}. Handshakes run in `Incoming.handshake`, off the accept loop,
 * under a deadline; after `stop()` the endpoint closes once the last connection is gone.
 * @module
 */
import { withHandshakeDeadline } from "./_tls_handshake.ts";
import { closeCode, type QuicConnectionBackend, QuicConnectionImpl } from "./_quic_connection.ts";
import { quicHandshakeError, UNKNOWN_UDP_ADDR } from "./_quic_handshake.ts";
import {
  DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
  type QuicCloseOptions,
  type QuicConnection,
  type QuicListener,
  type UdpReceiveBufferStatus,
} from "./quic_types.ts";
import { formatAddr } from "./address.ts";
import { NetError } from "./errors.ts";
import type { Incoming, NetAddr } from "./types.ts";

/** A connection attempt a runtime received, before its handshake. */
export interface QuicIncomingBackend {
  /** The peer's address, when the runtime reveals it before the handshake. */
  readonly remoteAddr: NetAddr | undefined;
  /** Completes the handshake. Rejects with the runtime's error (or a mapped NetError). */
  accept(): Promise<QuicConnectionBackend>;
  /** Refuses the attempt, or (during the handshake) abandons it and closes what arrives. Never throws. */
  cancel(): void;
}

/** What a runtime provides for a listening endpoint. */
export interface QuicListenerBackend {
  /** The bound address. */
  readonly addr: NetAddr;
  /** The next connection attempt, or `null` once stopped or closed. */
  next(): Promise<QuicIncomingBackend | null>;
  /** Stops accepting (pending `next()` resolves to `null`); the endpoint stays open. Idempotent. */
  stop(): void;
  /** Closes the endpoint (and every connection on it, with `code`). Idempotent, never throws. */
  closeEndpoint(code: number, reason: string): void;
}

/** A connection attempt; `handshake` completes it under a deadline. */
class QuicIncomingImpl implements Incoming<QuicConnection> {
  readonly #backend: QuicIncomingBackend;
  readonly #listener: QuicListenerImpl;
  #conn: QuicConnectionImpl | undefined;
  #settled = false;

  constructor(backend: QuicIncomingBackend, listener: QuicListenerImpl) {
    this.#backend = backend;
    this.#listener = listener;
    listener.pending++;
  }

  /** The peer's address; before the handshake it may be unknown (`:0`). */
  get remoteAddr(): NetAddr {
    return this.#conn?.remoteAddr ?? this.#backend.remoteAddr ?? UNKNOWN_UDP_ADDR;
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#listener.pending--;
    this.#listener.checkIdle();
  }

  async handshake(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<QuicConnection> {
    const timeoutMs = options.timeoutMs ?? this.#listener.handshakeTimeoutMs;
    if (this.#settled) throw new TypeError("Cannot handshake: this incoming connection was already handled");
    try {
      const backend = await withHandshakeDeadline(
        this.#backend.accept(),
        () => this.#backend.cancel(),
        { signal: options.signal, timeoutMs },
      );
      const listener = this.#listener;
      const conn: QuicConnectionImpl = new QuicConnectionImpl(
        backend,
        listener.receiveBuffer,
        () => listener.gone(conn),
      );
      this.#conn = conn;
      if (!listener.added(conn)) {
        throw new NetError(
          "ECLOSED",
          `Cannot handshake on "${formatAddr(listener.addr)}" over quic: the listener is closed`,
          {
            op: "handshake",
            protocol: "quic",
            localAddr: listener.addr,
          },
        );
      }
      return conn;
    } catch (error) {
      this.#backend.cancel();
      throw quicHandshakeError(error, {
        side: "accept",
        remoteAddr: this.remoteAddr,
        localAddr: this.#listener.addr,
        signal: options.signal,
        timeoutMs,
      });
    } finally {
      this.#settle();
    }
  }

  reject(): void {
    this.#backend.cancel();
    this.#settle();
  }
}

/** A listening QUIC endpoint. */
export class QuicListenerImpl implements QuicListener {
  readonly #backend: QuicListenerBackend;
  readonly #connections = new Set<QuicConnectionImpl>();
  readonly receiveBuffer: UdpReceiveBufferStatus;
  readonly handshakeTimeoutMs: number;
  #stopped = false;
  #closed = false;
  /** Incomings yielded but not handshaken or rejected yet. */
  pending = 0;

  /**
   * @param backend The runtime's listening endpoint.
   * @param receiveBuffer What was done to its UDP receive buffer.
   * @param handshakeTimeoutMs Deadline for handshakes whose caller sets none.
   */
  constructor(
    backend: QuicListenerBackend,
    receiveBuffer: UdpReceiveBufferStatus,
    handshakeTimeoutMs: number = DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
  ) {
    this.#backend = backend;
    this.receiveBuffer = receiveBuffer;
    this.handshakeTimeoutMs = handshakeTimeoutMs;
  }

  /** The bound UDP address. */
  get addr(): NetAddr {
    return this.#backend.addr;
  }

  /** Connections handshaken on this endpoint and not gone yet. */
  get connections(): ReadonlySet<QuicConnectionImpl> {
    return this.#connections;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<QuicConnection>> {
    while (!this.#stopped) {
      const incoming = await this.#backend.next();
      if (incoming === null) return;
      if (this.#stopped) {
        incoming.cancel();
        return;
      }
      yield new QuicIncomingImpl(incoming, this);
    }
  }

  /** A handshake completed; false (and the connection closed) when the listener was closed meanwhile. */
  added(conn: QuicConnectionImpl): boolean {
    if (this.#closed) {
      conn.close();
      return false;
    }
    this.#connections.add(conn);
    return true;
  }

  /** A connection is gone. */
  gone(conn: QuicConnectionImpl): void {
    this.#connections.delete(conn);
    this.checkIdle();
  }

  /** Closes the endpoint once stopped and nothing is left on it. */
  checkIdle(): void {
    if (this.#stopped && !this.#closed && this.#connections.size === 0 && this.pending === 0) {
      this.#closed = true;
      this.#backend.closeEndpoint(0, "");
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#backend.stop();
    this.checkIdle();
  }

  /** Stops accepting, lets open streams finish, then closes each connection and the endpoint. */
  drain(): void {
    this.stop();
    for (const conn of this.#connections) conn.drain();
  }

  close(options?: QuicCloseOptions): void {
    const code = closeCode(options);
    this.#stopped = true;
    if (this.#closed) return;
    this.#closed = true;
    this.#backend.stop();
    for (const conn of this.#connections) conn.close({ code, reason: options?.reason });
    this.#backend.closeEndpoint(code, options?.reason ?? "");
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
