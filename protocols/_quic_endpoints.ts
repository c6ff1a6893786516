/**
 * Internal: the client endpoints QUIC connections are dialed from. One UDP socket per address
 * family is shared by every outgoing connection (fewer sockets, one receive buffer to raise), and
 * closed when its last connection is gone.
 * @module
 */
import type { UdpReceiveBufferStatus } from "./quic_types.ts";

/** The address family of a client endpoint. */
export type EndpointFamily = "ipv4" | "ipv6";

/** A shared endpoint and its users. */
interface Entry<E> {
  readonly endpoint: E;
  refs: number;
  /** What was done to its receive buffer; set once the socket is bound. */
  receiveBuffer: Promise<UdpReceiveBufferStatus> | undefined;
}

/** One use of a shared endpoint; `release()` once the connection is gone. */
export interface EndpointLease<E> {
  /** The endpoint. */
  readonly endpoint: E;
  /**
   * Raises the receive buffer once per endpoint (`raise` runs on first call, when the socket is
   * bound) and resolves to what was done.
   */
  receiveBuffer(raise: () => Promise<UdpReceiveBufferStatus>): Promise<UdpReceiveBufferStatus>;
  /** Gives the endpoint back; the last release closes it. Idempotent. */
  release(): void;
}

/** Reference-counted client endpoints, one per key (address family and socket settings). */
export class SharedEndpoints<E> {
  readonly #entries = new Map<string, Entry<E>>();
  readonly #close: (endpoint: E) => void;

  /** @param close Closes an endpoint nobody uses any more. */
  constructor(close: (endpoint: E) => void) {
    this.#close = close;
  }

  /**
   * Takes the endpoint under `key`, calling `create` to bind one when there is none.
   * @throws Whatever `create` throws.
   */
  acquire(key: string, create: () => E): EndpointLease<E> {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { endpoint: create(), refs: 0, receiveBuffer: undefined };
      this.#entries.set(key, entry);
    }
    const held = entry;
    held.refs++;
    let released = false;
    return {
      endpoint: held.endpoint,
      receiveBuffer: (raise) => held.receiveBuffer ??= raise(),
      release: () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        if (this.#entries.get(key) === held) this.#entries.delete(key);
        this.#close(held.endpoint);
      },
    };
  }
}
