/**
 * Internal: the listener {@linkcode QuicProtocol.listen} returns. It accepts QUIC connections,
 * handshakes each off the accept loop, and yields every bidirectional stream of every connection
 * as one {@linkcode Conn}. `close()` drains: no new connections or streams, open streams carry on,
 * each connection closes (CONNECTION_CLOSE, code 0) after its last stream, then the endpoint.
 * @module
 */
import type { QuicConnectionImpl } from "./_quic_connection.ts";
import type { QuicListenerImpl } from "./_quic_listener.ts";
import { ReadyIncoming } from "./_ready_incoming.ts";
import type { QuicCloseOptions, QuicConnection, QuicListener, UdpReceiveBufferStatus } from "./quic_types.ts";
import type { Conn, Incoming, Listener, NetAddr } from "./types.ts";

/** Lets a connection finish its streams, then close (a runtime double without `drain` just stays open). */
function drain(conn: QuicConnection): void {
  (conn as Partial<Pick<QuicConnectionImpl, "drain">>).drain?.call(conn);
}

/** Streams accepted but not yet taken by the iterator; beyond this many, new ones are refused. */
const MAX_QUEUED_STREAMS = 4096;

/** The `quic` protocol's listener: each incoming stream is one accepted conn. */
export interface QuicStreamListener extends Listener<Conn> {
  /** What was done to the endpoint's UDP receive buffer (for logs). */
  readonly receiveBuffer: UdpReceiveBufferStatus;
  /** QUIC connections open now. */
  readonly connections: number;
  /** Handshakes that failed (bad certificate, no common ALPN, timeout). */
  readonly handshakeFailures: number;
  /** Resolves once the endpoint is closed: after `close()` and the drain, or after `closeNow()`. */
  readonly closed: Promise<void>;
  /** Closes every connection now (CONNECTION_CLOSE with `code`) and the endpoint; open streams fail. */
  closeNow(options?: QuicCloseOptions): void;
}

/** Options for {@linkcode QuicStreamListenerImpl}. */
export interface QuicStreamListenerOptions {
  /** Deadline of each QUIC handshake. */
  handshakeTimeoutMs: number;
  /** Called with each failed handshake's error; exceptions it throws are ignored. */
  onHandshakeError?: (error: unknown) => void;
}

/** Yields the streams of every accepted QUIC connection. */
export class QuicStreamListenerImpl implements QuicStreamListener {
  readonly #listener: QuicListener;
  readonly #options: QuicStreamListenerOptions;
  readonly #queue: Conn[] = [];
  readonly #connections = new Set<QuicConnection>();
  readonly #done = Promise.withResolvers<void>();
  #waiter?: PromiseWithResolvers<void>;
  #accepting: Promise<void>;
  #handshaking = 0;
  #failures = 0;
  #closing = false;
  #iterating = false;

  /**
   * @param listener The runtime's QUIC listener.
   * @param options Handshake deadline and error hook.
   */
  constructor(listener: QuicListener, options: QuicStreamListenerOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#accepting = this.#accept();
  }

  /** The bound UDP address. */
  get addr(): NetAddr {
    return this.#listener.addr;
  }

  /** What was done to the endpoint's UDP receive buffer. */
  get receiveBuffer(): UdpReceiveBufferStatus {
    return this.#listener.receiveBuffer;
  }

  /** QUIC connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Handshakes that failed. */
  get handshakeFailures(): number {
    return this.#failures;
  }

  /** Resolves once the endpoint is closed. */
  get closed(): Promise<void> {
    return this.#done.promise;
  }

  async #accept(): Promise<void> {
    try {
      for await (const incoming of this.#listener) {
        if (this.#closing) {
          incoming.reject();
          continue;
        }
        void this.#serve(incoming);
      }
    } catch { /* the endpoint failed: nothing more to accept */ }
    this.#checkDone();
  }

  async #serve(incoming: Incoming<QuicConnection>): Promise<void> {
    this.#handshaking++;
    let conn: QuicConnection;
    try {
      conn = await incoming.handshake({ timeoutMs: this.#options.handshakeTimeoutMs });
    } catch (error) {
      this.#failures++;
      try {
        this.#options.onHandshakeError?.(error);
      } catch { /* a hook's failure is not ours */ }
      return;
    } finally {
      this.#handshaking--;
    }
    this.#connections.add(conn);
    if (this.#closing) drain(conn);
    try {
      for await (const stream of conn.incomingStreams()) {
        if (this.#closing || this.#queue.length >= MAX_QUEUED_STREAMS) {
          stream.close();
          continue;
        }
        this.#queue.push(stream);
        this.#wake();
      }
    } catch { /* the connection failed; its streams ended with it */ }
    await conn.closed;
    this.#connections.delete(conn);
    this.#checkDone();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  #checkDone(): void {
    if (!this.#closing || this.#handshaking > 0 || this.#connections.size > 0) return;
    this.#listener.close(); // idempotent; after the drain nothing is left on it
    this.#done.resolve();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Incoming<Conn>> {
    if (this.#iterating) throw new TypeError("Cannot iterate the listener twice: it has one consumer");
    this.#iterating = true;
    while (true) {
      const stream = this.#queue.shift();
      if (stream) {
        yield new ReadyIncoming<Conn>(stream);
        continue;
      }
      if (this.#closing) return;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  /** Stops accepting connections and streams; open streams carry on, then everything closes. Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    for (const stream of this.#queue.splice(0)) stream.close();
    this.#wake();
    const listener = this.#listener as Partial<Pick<QuicListenerImpl, "drain">> & QuicListener;
    if (listener.drain) listener.drain();
    else listener.stop();
    for (const conn of this.#connections) drain(conn);
    this.#checkDone();
  }

  /** Closes every connection and the endpoint now. */
  closeNow(options?: QuicCloseOptions): void {
    this.close();
    for (const conn of this.#connections) conn.close(options);
    this.#listener.close(options);
    void this.#accepting.then(() => this.#checkDone());
  }

  /** Stops accepting (as `close()`). */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
