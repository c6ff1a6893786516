/**
 * Internal: the HTTP/3 server that runs our own framing over the runtime's QUIC (Deno): a QUIC
 * listener with ALPN `h3`, an {@linkcode Http3Connection} per client, and the graceful close
 * (GOAWAY, drain, then CONNECTION_CLOSE with H3_NO_ERROR).
 * @module
 */
import type { QuicConnection, QuicListener } from "../quic_types.ts";
import type { Runtime } from "../runtime.ts";
import type { Incoming, NetAddr } from "../types.ts";
import { Http3Connection } from "./_connection.ts";
import type { Http3Context } from "./_context.ts";
import { Http3ErrorCode } from "./errors.ts";

/** Deadline of each QUIC handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Wait after the last response before CONNECTION_CLOSE, so its last packets are acknowledged (Deno cannot tell). */
const CLOSE_LINGER_MS = 200;

/** A running HTTP/3 server on a QUIC listener. */
export class QuicHttp3Server {
  readonly #ctx: Http3Context;
  readonly #listener: QuicListener;
  readonly #connections = new Set<Http3Connection>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #loop: Promise<void>;

  private constructor(ctx: Http3Context, listener: QuicListener) {
    this.#ctx = ctx;
    this.#listener = listener;
    this.#loop = this.#accept();
  }

  /** Binds the QUIC listener (ALPN `h3`) and starts serving. */
  static async listen(ctx: Http3Context, runtime: Runtime): Promise<QuicHttp3Server> {
    const { hostname, port, cert, key, maxConcurrentStreams, maxIdleTimeoutMs } = ctx.options;
    const listener = await runtime.listenQuic!({
      hostname,
      port,
      cert,
      key,
      alpnProtocols: ["h3"],
      maxConcurrentBidiStreams: maxConcurrentStreams,
      maxIdleTimeoutMs,
    });
    return new QuicHttp3Server(ctx, listener);
  }

  /** The bound UDP address. */
  get addr(): NetAddr {
    return this.#listener.addr;
  }

  async #accept(): Promise<void> {
    for await (const incoming of this.#listener) {
      const task = this.#serve(incoming);
      this.#tasks.add(task);
      void task.finally(() => this.#tasks.delete(task));
    }
  }

  async #serve(incoming: Incoming<QuicConnection>): Promise<void> {
    let connection: Http3Connection | undefined;
    try {
      const quic = await incoming.handshake({ timeoutMs: HANDSHAKE_TIMEOUT_MS });
      connection = new Http3Connection(this.#ctx, quic);
      this.#connections.add(connection);
      this.#ctx.counters.connections++;
      this.#ctx.counters.activeConnections++;
      await connection.run();
      await connection.closed;
    } catch {
      /* a failed handshake concerns that client only */
    } finally {
      if (connection) {
        this.#connections.delete(connection);
        this.#ctx.counters.activeConnections--;
      }
    }
  }

  /**
   * Stops accepting, sends GOAWAY on every connection and lets their requests finish for up to
   * `timeoutMs` (or until `signal` aborts); then closes every connection (H3_NO_ERROR) and the endpoint.
   */
  async close(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    this.#listener.stop();
    const drained = Promise.all([...this.#connections].map((connection) => connection.goaway()));
    const timedOut = !await drainDeadline(drained, timeoutMs, signal);
    if (!timedOut) await new Promise((resolve) => setTimeout(resolve, CLOSE_LINGER_MS));
    this.closeNow();
    await this.#loop;
    await Promise.allSettled([...this.#tasks]);
  }

  /** Closes every connection (H3_NO_ERROR) and the endpoint now. */
  closeNow(): void {
    this.#listener.close({ code: Http3ErrorCode.H3_NO_ERROR });
  }
}

/**
 * Waits for `drained` for up to `timeoutMs`, or until `signal` aborts.
 *
 * @returns `true` when `drained` settled first.
 */
export async function drainDeadline(
  drained: Promise<unknown>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (signal?.aborted) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    onAbort = () => resolve(false);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([drained.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
