/**
 * Internal: a challenge server (HTTP-01 or TLS-ALPN-01) that listens only while some order has
 * pending challenges (so port 80 or 443 is free the rest of the time), shared by concurrent orders.
 * @module
 */
import type { HttpChallengeServer } from "./http01.ts";

/** Starts the server for its first user and stops it after its last. */
export class OnDemandServer {
  readonly #listen: () => Promise<HttpChallengeServer>;
  #server: Promise<HttpChallengeServer> | undefined;
  #users = 0;
  #closing: Promise<void> = Promise.resolve();

  /** @param listen Starts the server. */
  constructor(listen: () => Promise<HttpChallengeServer>) {
    this.#listen = listen;
  }

  /**
   * Makes sure the server listens.
   *
   * @returns A function to call (once) when the caller no longer needs it.
   * @throws {Error} If the address cannot be bound.
   */
  async acquire(): Promise<() => Promise<void>> {
    this.#users++;
    try {
      await this.#closing; // a server on its way down still holds the port
      this.#server ??= this.#listen();
      await this.#server;
    } catch (error) {
      this.#users--;
      this.#server = undefined;
      throw error;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (--this.#users > 0 || !this.#server) return;
      const server = this.#server;
      this.#server = undefined;
      this.#closing = server.then((s) => s.close(), () => {});
      await this.#closing;
    };
  }

  /** Stops the server now, whoever uses it. */
  async close(): Promise<void> {
    await this.#closing;
    const server = this.#server;
    this.#server = undefined;
    await (await server?.catch(() => undefined))?.close();
  }
}
