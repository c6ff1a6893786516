/**
 * Internal: unidirectional QUIC streams as web streams, over the same per-runtime
 * {@linkcode QuicStreamBackend} as bidirectional ones (a send-only backend is never read, a
 * receive-only one never written), and the bounded queue of received datagrams.
 * @module
 */
import type { NetError } from "./errors.ts";
import type { QuicStreamBackend } from "./_quic_stream.ts";

/** How a unidirectional stream reports errors and its end to its connection. */
export interface QuicUniOwner {
  /** Maps a runtime error to a {@linkcode NetError}, knowing the connection's state. */
  streamError(error: unknown, op: "read" | "write"): NetError;
}

/** A unidirectional stream the connection can end when it goes away. */
export interface UniHandle {
  /** Ends the stream because the connection ended: pending and later reads or writes fail with `error`. */
  terminate(error: NetError): void;
}

/**
 * The sending side of a unidirectional stream. `close()` sends FIN, `abort()` resets the stream
 * (Deno sends FIN: it cannot reset).
 */
export function uniWritable(
  backend: QuicStreamBackend,
  owner: QuicUniOwner,
  onDone: (handle: UniHandle) => void,
): { writable: WritableStream<Uint8Array>; handle: UniHandle } {
  let failure: NetError | undefined;
  let done = false;
  const handle: UniHandle = {
    terminate(error) {
      if (done) return;
      failure = error;
      finish();
    },
  };
  const finish = () => {
    if (done) return;
    done = true;
    onDone(handle);
  };
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (failure) throw failure;
      try {
        await backend.write(chunk);
      } catch (error) {
        finish();
        throw failure ?? owner.streamError(error, "write");
      }
    },
    async close() {
      if (failure) throw failure;
      try {
        await backend.finish();
      } finally {
        finish();
      }
    },
    abort() {
      backend.abort(false, true);
      finish();
    },
  });
  return { writable, handle };
}

/** The receiving side of a peer's unidirectional stream; `cancel()` sends STOP_SENDING. */
export function uniReadable(
  backend: QuicStreamBackend,
  owner: QuicUniOwner,
  onDone: (handle: UniHandle) => void,
): { readable: ReadableStream<Uint8Array>; handle: UniHandle } {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let done = false;
  const finish = () => {
    if (done) return false;
    done = true;
    onDone(handle);
    return true;
  };
  const handle: UniHandle = {
    terminate(error) {
      if (finish()) controller?.error(error);
    },
  };
  const readable = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    async pull(c) {
      if (done) return;
      let chunk: Uint8Array | null;
      try {
        chunk = await backend.read();
      } catch (error) {
        if (finish()) c.error(owner.streamError(error, "read"));
        return;
      }
      if (done) return;
      if (chunk === null) {
        finish();
        c.close();
      } else if (chunk.byteLength > 0) c.enqueue(chunk);
    },
    cancel() {
      if (finish()) backend.abort(true, false);
    },
  }, { highWaterMark: 0 });
  return { readable, handle };
}

/** Datagrams kept for a reader that is not reading; older ones are dropped first (datagrams are unreliable). */
export const MAX_QUEUED_DATAGRAMS = 256;

/** A bounded queue of received datagrams with one waiting reader at a time. */
export class DatagramQueue {
  readonly #items: Uint8Array[] = [];
  #waiter?: PromiseWithResolvers<void>;
  #closed = false;
  /** Datagrams dropped because nobody read them in time. */
  dropped = 0;

  /** Adds a datagram, dropping the oldest when full. */
  push(data: Uint8Array): void {
    if (this.#closed) return;
    if (this.#items.length >= MAX_QUEUED_DATAGRAMS) {
      this.#items.shift();
      this.dropped++;
    }
    this.#items.push(data);
    this.#wake();
  }

  /** No more datagrams will come; waiting and later reads get `null` once the queue is empty. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** The next datagram, or `null` once closed and empty. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const item = this.#items.shift();
      if (item) return item;
      if (this.#closed) return null;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }
}
