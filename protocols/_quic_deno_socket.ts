/**
 * Internal: the UDP socket behind a Deno QUIC listener, kept for the next listener on the same
 * address once its listener closes.
 *
 * Deno 2.9 frees a `Deno.QuicEndpoint`'s socket only when the garbage collector drops the endpoint
 * and every listener made from it (`endpoint.close()` closes the connections but keeps the port
 * bound, and a closed endpoint refuses connections for good). So a closed listener stops its
 * Deno listener (new connections are refused) without closing the endpoint, and parks the socket
 * here under a weak reference: a listen on the same address in this process takes it back at once,
 * and otherwise the collector frees the port as before. Old listeners stay reachable from the
 * socket, because dropping one clears the server configuration of the endpoint it came from.
 * @module
 */
import type { DenoQuicEndpointLike, DenoQuicIncomingLike, DenoQuicListenerLike } from "./_quic_deno_session.ts";

/** A listening endpoint, its current Deno listener and the one accept in flight. */
export class DenoListenSocket {
  readonly endpoint: DenoQuicEndpointLike;
  readonly #key: string;
  readonly #retired: DenoQuicListenerLike[] = [];
  #listener: DenoQuicListenerLike | undefined;
  #accepting: Promise<DenoQuicIncomingLike> | undefined;

  constructor(endpoint: DenoQuicEndpointLike, key: string) {
    this.endpoint = endpoint;
    this.#key = key;
  }

  /** Starts a Deno listener on the endpoint (replacing the server configuration). */
  listen(options: Parameters<DenoQuicEndpointLike["listen"]>[0]): void {
    this.#listener = this.endpoint.listen(options);
  }

  /**
   * The next incoming connection. One accept is in flight per endpoint, whichever listener started
   * it: an accept left pending by a closed listener serves the next one.
   */
  incoming(): Promise<DenoQuicIncomingLike> {
    const listener = this.#listener;
    if (!listener) return Promise.reject(new Error("the listener is stopped"));
    if (!this.#accepting) {
      const accepting = listener.incoming();
      accepting.catch(() => {}).finally(() => {
        if (this.#accepting === accepting) this.#accepting = undefined;
      });
      this.#accepting = accepting;
    }
    return this.#accepting;
  }

  /** Refuses new connections; open ones carry on. */
  stop(): void {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = undefined;
    this.#retired.push(listener);
    try {
      listener.stop();
    } catch { /* already stopped */ }
  }

  /** Stops, and keeps the socket for the next listen on the same address. */
  park(): void {
    this.stop();
    parked.set(this.#key, new WeakRef(this));
  }
}

const parked = new Map<string, WeakRef<DenoListenSocket>>();

/** The key of a listening address: the host asked for (or fallen back to) and the bound port. */
export function socketKey(hostname: string, port: number): string {
  return `${hostname}/${port}`;
}

/** Takes back the parked socket of a closed listener on this address, if it is still alive. */
export function takeParkedSocket(key: string): DenoListenSocket | undefined {
  const socket = parked.get(key)?.deref();
  parked.delete(key);
  for (const [other, ref] of parked) if (!ref.deref()) parked.delete(other);
  return socket;
}
