/**
 * Internal: the parts of a `QuicConnection` besides bidirectional streams: unidirectional
 * streams (both directions) and RFC 9221 datagrams, over the per-runtime backend. Both are started
 * lazily, on first use, and end with the connection.
 * @module
 */
import type { NetError } from "./errors.ts";
import type { QuicStreamBackend } from "./_quic_stream.ts";
import { DatagramQueue, type UniHandle, uniReadable, uniWritable } from "./_quic_uni.ts";
import type { QuicDatagramReadOptions, QuicStreamOptions } from "./quic_types.ts";

/** What a runtime provides for unidirectional streams and datagrams of one connection. */
export interface QuicSideBackend {
  /** Opens a unidirectional (send-only) stream, waiting for stream credit; it is never read. */
  openUniStream(): Promise<QuicStreamBackend>;
  /** Starts handing the peer's unidirectional (receive-only) streams to `receive`; called once, lazily. */
  acceptUniStreams(receive: (stream: QuicStreamBackend) => void): void;
  /** Largest datagram payload the peer takes now; 0 when it takes none. */
  readonly maxDatagramSize: number;
  /** Sends one datagram. Rejects with the runtime's error. */
  sendDatagram(data: Uint8Array): Promise<void>;
  /** Starts handing received datagrams to `receive`; called once, lazily. */
  acceptDatagrams(receive: (data: Uint8Array) => void): void;
}

/** The connection, as the side channels see it. */
export interface QuicSideOwner {
  /** Maps a runtime error, knowing the connection's state. */
  streamError(error: unknown, op: "read" | "write"): NetError;
  /** The error for an operation on a connection that is gone. */
  connectionError(op: "read" | "write"): NetError;
  /** True once the connection is closed or closing. */
  isGone(): boolean;
}

/** Unidirectional streams and datagrams of one connection (see `QuicConnection`). */
export class QuicSideChannels {
  readonly #backend: QuicSideBackend;
  readonly #owner: QuicSideOwner;
  readonly #uni = new Set<UniHandle>();
  #incoming: ReadableStream<Uint8Array>[] | undefined;
  #waiter?: PromiseWithResolvers<void>;
  #datagrams: DatagramQueue | undefined;

  constructor(backend: QuicSideBackend, owner: QuicSideOwner) {
    this.#backend = backend;
    this.#owner = owner;
  }

  /** The connection ended: open unidirectional streams fail with `error`, datagram reads end. */
  end(error: NetError): void {
    for (const handle of [...this.#uni]) handle.terminate(error);
    this.#uni.clear();
    for (const readable of this.#incoming?.splice(0) ?? []) readable.cancel().catch(() => {});
    this.#datagrams?.close();
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  /** See `QuicConnection.openUniStream`. */
  async openUniStream(options: QuicStreamOptions = {}): Promise<WritableStream<Uint8Array>> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (this.#owner.isGone()) throw this.#owner.connectionError("write");
    let backend: QuicStreamBackend;
    try {
      backend = await raceSignal(this.#backend.openUniStream(), signal, (late) => late.abort(false, true));
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error;
      throw this.#owner.streamError(error, "write");
    }
    if (this.#owner.isGone()) {
      backend.abort(false, true);
      throw this.#owner.connectionError("write");
    }
    const { writable, handle } = uniWritable(backend, this.#owner, (h) => this.#uni.delete(h));
    this.#uni.add(handle);
    return writable;
  }

  /** See `QuicConnection.incomingUniStreams`. */
  async *incomingUniStreams(): AsyncIterable<ReadableStream<Uint8Array>> {
    if (!this.#incoming) {
      const queue: ReadableStream<Uint8Array>[] = this.#incoming = [];
      this.#backend.acceptUniStreams((backend) => {
        if (this.#owner.isGone()) return backend.abort(true, false);
        const { readable, handle } = uniReadable(backend, this.#owner, (h) => this.#uni.delete(h));
        this.#uni.add(handle);
        queue.push(readable);
        this.#wake();
      });
    }
    while (true) {
      const next = this.#incoming.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#owner.isGone()) return;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  /** See `QuicConnection.maxDatagramSize`. */
  get maxDatagramSize(): number {
    return this.#owner.isGone() ? 0 : this.#backend.maxDatagramSize;
  }

  /** See `QuicConnection.sendDatagram`. */
  async sendDatagram(data: Uint8Array): Promise<void> {
    if (this.#owner.isGone()) throw this.#owner.connectionError("write");
    const max = this.#backend.maxDatagramSize;
    if (data.byteLength > max) {
      throw new RangeError(
        `Cannot send a QUIC datagram of ${data.byteLength} bytes: the peer takes at most ${max} bytes (maxDatagramSize)`,
      );
    }
    try {
      await this.#backend.sendDatagram(data);
    } catch (error) {
      throw this.#owner.streamError(error, "write");
    }
  }

  /** See `QuicConnection.readDatagram`. */
  async readDatagram(options: QuicDatagramReadOptions = {}): Promise<Uint8Array> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (!this.#datagrams) {
      const queue = this.#datagrams = new DatagramQueue();
      if (this.#owner.isGone()) queue.close();
      else this.#backend.acceptDatagrams((data) => queue.push(data));
    }
    const data = await raceSignal(this.#datagrams.next(), signal);
    if (data === null) throw this.#owner.connectionError("read");
    return data;
  }
}

/** Awaits `pending` unless `signal` aborts first; a value that arrives later goes to `onLate`. */
async function raceSignal<T>(
  pending: Promise<T>,
  signal: AbortSignal | undefined,
  onLate?: (late: T) => void,
): Promise<T> {
  if (!signal) return await pending;
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([pending, aborted]);
  } catch (error) {
    if (onLate) pending.then(onLate, () => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
