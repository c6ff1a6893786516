/**
 * Internal: the streams of a mux session by id, the id rules of PROTOCOL.md section 5 (the server
 * opens even ids from 2, increasing) and the queue of streams the peer opened, waiting for
 * `accept()`.
 * @module
 */
import type { MuxStream } from "./_mux_stream.ts";
import { TunnelError } from "./errors.ts";
import type { IncomingStream } from "./mux.ts";
import { frameTypeName } from "./mux_frame.ts";

const MAX_STREAM_ID = 0xffff_fffe;

/** The data streams of a session (not the control stream). */
export class StreamTable {
  readonly #role: "client" | "server";
  readonly #maxStreams: number;
  #streams = new Map<number, MuxStream>();
  #nextId = 2;
  #lastPeerOpen = 0;
  #incoming: IncomingStream[] = [];
  #waiter: PromiseWithResolvers<void> | undefined;
  #ended = false;

  constructor(role: "client" | "server", maxStreams: number) {
    this.#role = role;
    this.#maxStreams = maxStreams;
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }

  /** The open streams. */
  values(): IterableIterator<MuxStream> {
    return this.#streams.values();
  }

  /** Forgets a stream. */
  delete(id: number): void {
    this.#streams.delete(id);
  }

  /** Server: reserves the id for a new stream. @throws {TunnelError} at the stream or id limit. */
  nextId(): number {
    if (this.#streams.size >= this.#maxStreams) {
      throw new TunnelError(
        "too_many_connections",
        `Cannot open a tunnel stream: ${this.#maxStreams} streams are open (the limit)`,
      );
    }
    if (this.#nextId > MAX_STREAM_ID) {
      throw new TunnelError("internal", "Cannot open a tunnel stream: the session ran out of stream ids");
    }
    const id = this.#nextId;
    this.#nextId += 2;
    return id;
  }

  /** Registers a stream under its id. */
  add(stream: MuxStream): void {
    this.#streams.set(stream.id, stream);
  }

  /**
   * The stream a frame names: `undefined` for a stream that existed and is gone (frames still in
   * flight are ignored). @throws {TunnelError} for a stream that was never opened.
   */
  lookup(type: number, id: number): MuxStream | undefined {
    const stream = this.#streams.get(id);
    if (stream) return stream;
    const last = this.#role === "server" ? this.#nextId - 2 : this.#lastPeerOpen;
    if (id % 2 === 0 && id <= last) return undefined;
    throw violation(`${frameTypeName(type)} for stream ${id}, which was never opened`);
  }

  /**
   * Client: checks a peer's `OPEN`. Returns false when the stream limit is reached (the caller
   * resets the stream). @throws {TunnelError} for an `OPEN` from a client or a bad id.
   */
  checkOpen(id: number): boolean {
    if (this.#role === "server") throw violation(`OPEN for stream ${id} from the client`);
    if (id === 0 || id % 2 !== 0 || id <= this.#lastPeerOpen) {
      throw violation(`OPEN for stream ${id} (expected an even id above ${this.#lastPeerOpen})`);
    }
    this.#lastPeerOpen = id;
    return this.#streams.size < this.#maxStreams;
  }

  /** Queues a stream the peer opened for `accept()`. */
  pushIncoming(incoming: IncomingStream): void {
    this.#incoming.push(incoming);
    this.#wake();
  }

  /** Yields incoming streams until {@linkcode StreamTable.end}. */
  async *accept(): AsyncIterableIterator<IncomingStream> {
    while (true) {
      const next = this.#incoming.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.#ended) return;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  /** The session ended: returns the streams (now forgotten) and ends `accept()`, dropping what it did not take. */
  end(): MuxStream[] {
    this.#ended = true;
    this.#incoming = [];
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#wake();
    return streams;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }
}

function violation(detail: string): TunnelError {
  return new TunnelError("protocol", `Invalid mux frame: ${detail}`);
}
