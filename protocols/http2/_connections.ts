/**
 * Internal: the client connections an {@linkcode Http2Proxy} holds (TCP sockets, HTTP/2 sessions,
 * HTTP/1.1 sockets with their requests in flight) and the upstream sockets of tunnels, so a close
 * can drain them gracefully and then destroy what is left.
 * @module
 */
import type http2 from "node:http2";
import type net from "node:net";
import type { Duplex } from "node:stream";
import type { Destroyable } from "./_context.ts";

/** Everything a close must wait for or destroy. */
export class ClientConnections {
  readonly #conns = new Set<net.Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** HTTP/1.1 client sockets and their requests in flight. */
  readonly #h1 = new Map<Duplex, number>();
  readonly #tracked = new Set<Destroyable>();
  readonly #active: () => number;
  readonly #sessionWindowBytes: number | undefined;
  #closing = false;
  #onIdle: (() => void) | undefined;

  /**
   * @param active How many requests, tunnels and upgrades are in progress.
   * @param sessionWindowBytes Connection window for new HTTP/2 sessions (undefined keeps the default).
   */
  constructor(active: () => number, sessionWindowBytes: number | undefined) {
    this.#active = active;
    this.#sessionWindowBytes = sessionWindowBytes;
  }

  /** Open client TCP connections. */
  get size(): number {
    return this.#conns.size;
  }

  /** A new TCP connection (the server's `connection` event). */
  addConn(socket: net.Socket): void {
    this.#conns.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => {
      this.#conns.delete(socket);
      this.changed();
    });
    if (this.#closing) socket.destroy();
  }

  /** A new HTTP/2 session. */
  addSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session);
    session.on("error", () => {});
    session.once("close", () => this.#sessions.delete(session));
    if (this.#sessionWindowBytes !== undefined) session.setLocalWindowSize(this.#sessionWindowBytes);
    if (this.#closing) session.close();
  }

  /** A TLS connection that did not pick h2: it will carry HTTP/1.1. */
  addHttp1(socket: Duplex): void {
    this.#h1.set(socket, 0);
    socket.once("close", () => this.#h1.delete(socket));
    if (this.#closing) socket.destroy();
  }

  /** Counts an HTTP/1.1 request on its socket; during a close, ends the socket once it is idle. */
  http1Request(socket: Duplex, res: { once(event: "close", listener: () => void): unknown }): void {
    this.#h1.set(socket, (this.#h1.get(socket) ?? 0) + 1);
    res.once("close", () => {
      if (!this.#h1.has(socket)) return;
      const left = this.#h1.get(socket)! - 1;
      this.#h1.set(socket, left);
      if (left === 0 && this.#closing) socket.end();
    });
  }

  /** The socket left HTTP/1.1 (an upgrade or CONNECT tunnel now owns it). */
  detach(socket: Duplex): void {
    this.#h1.delete(socket);
  }

  /** Keeps `resource` to destroy on a forced close, until it closes. */
  track(resource: Destroyable & { once(event: "close", listener: () => void): unknown }): void {
    this.#tracked.add(resource);
    resource.once("close", () => this.#tracked.delete(resource));
  }

  /** Call when a connection or an active stream ended. */
  changed(): void {
    if (this.#onIdle && this.#conns.size === 0 && this.#active() === 0) this.#onIdle();
  }

  /**
   * Starts a graceful close (GOAWAY on every session, idle HTTP/1.1 sockets closed) and resolves
   * once everything ended, `timeoutMs` passed or `signal` aborted, whichever comes first.
   */
  async drain(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.#closing = true;
    for (const session of this.#sessions) session.close();
    for (const [socket, inFlight] of this.#h1) if (inFlight === 0) socket.destroy();
    const { promise, resolve: settle } = Promise.withResolvers<void>();
    const resolve = () => settle();
    this.#onIdle = resolve;
    const timer = setTimeout(resolve, timeoutMs);
    if (signal?.aborted) resolve();
    signal?.addEventListener("abort", resolve, { once: true });
    this.changed();
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", resolve);
      this.#onIdle = undefined;
    }
  }

  /** Destroys every session, connection and tracked upstream socket. */
  destroyAll(): void {
    this.#closing = true;
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#conns) socket.destroy();
    for (const resource of this.#tracked) resource.destroy();
  }
}
