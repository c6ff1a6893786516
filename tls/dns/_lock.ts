/**
 * Internal: {@linkcode KeyedLock}, which runs read-modify-write updates of one record set one
 * after another, so two challenges under one name (a wildcard and its apex) do not lose a value.
 * @module
 */

/** Serializes async work per key. */
export class KeyedLock {
  #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier `run` with the same `key` has settled. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const { promise: done, resolve: release } = Promise.withResolvers<void>();
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
