/**
 * Internal: the {@linkcode Incoming} of a protocol without a handshake (TCP). A class with
 * prototype methods, so an accepted connection costs one small object and no closures.
 * @module
 */
import type { Conn, Incoming, NetAddr } from "./types.ts";

/** An accepted conn that is ready as it is; `handshake` resolves to it at once. */
export class ReadyIncoming<C extends Conn> implements Incoming<C> {
  readonly #conn: C;
  /** @param conn The accepted conn. */
  constructor(conn: C) {
    this.#conn = conn;
  }
  /** The peer's address. */
  get remoteAddr(): NetAddr {
    return this.#conn.remoteAddr;
  }
  /** Resolves to the conn. */
  handshake(): Promise<C> {
    return Promise.resolve(this.#conn);
  }
  /** Closes the conn. */
  reject(): void {
    this.#conn.close();
  }
}
