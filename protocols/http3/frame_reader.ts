/**
 * {@linkcode FrameReader}: HTTP/3 frames pulled from a QUIC stream's `ReadableStream`, one event at a
 * time, so a slow consumer of DATA slows the reads (backpressure) instead of filling memory.
 * @module
 */
import { type FrameEvent, FrameParser, type FrameParserOptions } from "./frame_parser.ts";

/** Options for {@linkcode FrameReader}. */
export interface FrameReaderOptions extends FrameParserOptions {
  /** Cancels the stream; pending and later reads reject with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Reads HTTP/3 frame events from a readable stream.
 *
 * @example Read a request stream
 * ```ts ignore
 * import { FrameReader } from "./frame_reader.ts";
 * const reader = new FrameReader(stream.readable, { signal });
 * for await (const event of reader) {
 *   if (event.kind === "frame") handleFrame(event.type, event.payload);
 *   else if (event.kind === "data") await body.write(event.data);
 * }
 * ```
 */
export class FrameReader implements AsyncIterable<FrameEvent> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #parser: FrameParser;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #events: FrameEvent[] = [];
  #next = 0;
  #done = false;

  /**
   * Locks `readable` and starts reading it on the first {@linkcode FrameReader.read} call.
   *
   * @param readable The stream, such as a QUIC stream's `readable`.
   * @param options Parser limits, stream type, cancellation.
   * @throws {RangeError} If `maxFramePayload` is invalid.
   * @throws {TypeError} If `readable` is already locked.
   */
  constructor(readable: ReadableStream<Uint8Array>, options: FrameReaderOptions = {}) {
    const { signal, ...parserOptions } = options;
    this.#parser = new FrameParser(parserOptions);
    this.#reader = readable.getReader();
    this.#signal = signal;
    this.#onAbort = () => void this.#reader.cancel(signal?.reason).catch(() => {});
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Resolves to the next event, or `undefined` once the stream ended cleanly between frames.
   *
   * @returns The next event, or `undefined` at the end.
   * @throws {Http3Error} On a frame error, including a stream that ended inside a frame.
   * @throws {unknown} The signal's reason once aborted, or the stream's own error.
   */
  async read(): Promise<FrameEvent | undefined> {
    this.#signal?.throwIfAborted();
    while (this.#next >= this.#events.length) {
      if (this.#done) return undefined;
      const { value, done } = await this.#reader.read();
      this.#signal?.throwIfAborted();
      if (done) {
        this.#finish();
        this.#parser.finish();
        return undefined;
      }
      this.#events = this.#parser.push(value);
      this.#next = 0;
    }
    return this.#events[this.#next++];
  }

  /**
   * Stops reading and cancels the stream (a QUIC `STOP_SENDING`).
   *
   * @param reason Passed to the stream's `cancel`.
   */
  async cancel(reason?: unknown): Promise<void> {
    this.#finish();
    await this.#reader.cancel(reason);
  }

  /** Releases the stream's lock, for example to read a stream's raw bytes some other way. */
  releaseLock(): void {
    this.#finish();
    this.#reader.releaseLock();
  }

  /**
   * Iterates over the events until the stream ends.
   *
   * @returns An iterator; leaving a `for await` loop early cancels the stream.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<FrameEvent, void, undefined> {
    let completed = false;
    try {
      for (let event = await this.read(); event; event = await this.read()) yield event;
      completed = true;
    } finally {
      if (!completed && !this.#done) await this.cancel().catch(() => {});
    }
  }

  #finish(): void {
    this.#done = true;
    this.#events = [];
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}
