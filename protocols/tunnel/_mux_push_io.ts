/**
 * Internal: a mux stream's push I/O ({@linkcode PushIO}), offered when the session's connection
 * is push I/O too (Bun), so the forward engine's push pump moves bytes between a runtime socket
 * and a stream:
 * - a payload that arrives while the sink is flowing and nothing is queued goes to the sink
 *   where it was read (no copy); otherwise it waits in the stream's queue (within its window)
 *   and is delivered on `resume()`;
 * - after the data, the sink gets `end()` for the peer's FIN, or `close(error)` when reads fail
 *   (a reset without FIN, the session's end);
 * - `write()` takes what the stream's send queue has room for and reports the rest refused; the
 *   sink gets `drain()` once the session writer has made room (or writes started to fail, so the
 *   next write returns -1).
 * @module
 */
import type { PushIO, PushSink } from "../_native_io.ts";

/** What {@linkcode StreamPushIO} needs from its stream. */
export interface PushSource {
  /** Bytes received and not yet delivered. */
  readonly queuedBytes: number;
  /** Removes the next queued chunk and counts it consumed; the view is valid until the caller returns. */
  takeForSink(): Uint8Array | undefined;
  /** Why reads fail once the queue is empty, if they do. */
  readonly readFailure: Error | undefined;
  /** The peer sent its FIN. */
  readonly remoteFinished: boolean;
  /** Queues what fits of `data`; returns the count, or -1 once writes fail. */
  pushWrite(data: Uint8Array): number;
  /** Sends FIN after the queued data. */
  closeWrite(): Promise<void>;
}

/** Largest chunk {@linkcode PushBatch} assembles from several payloads. */
const MAX_COALESCED_BYTES = 256 * 1024;

/**
 * The payloads of one read from the session's connection, per stream: they go to each stream's
 * sink as one chunk at the end of the read (copied together when there are several), so a sink
 * writes its socket once per read rather than once per frame.
 */
export class PushBatch {
  #pending: StreamPushIO[] = [];
  #scratch: Uint8Array | undefined;

  /** `io` collected a payload in this read. */
  add(io: StreamPushIO): void {
    this.#pending.push(io);
  }

  /** The read was parsed: hand every stream what it collected (views into the read are still valid). */
  flush(): void {
    const pending = this.#pending;
    for (let i = 0; i < pending.length; i++) pending[i].flushCollected();
    pending.length = 0;
  }

  /** A buffer of at least `n` bytes (at most {@linkcode MAX_COALESCED_BYTES}), reused: sinks keep no view. */
  scratch(n: number): Uint8Array {
    if (!this.#scratch || this.#scratch.byteLength < n) this.#scratch = new Uint8Array(Math.max(n, 64 * 1024));
    return this.#scratch;
  }
}

/** The push I/O of one stream; the stream calls `collect`, `wake`, `detach` and `roomAgain`. */
export class StreamPushIO implements PushIO {
  readonly kind = "push" as const;
  readonly #source: PushSource;
  readonly #batch: PushBatch;
  #collected: Uint8Array[] = [];
  #collectedBytes = 0;
  #sink: PushSink | undefined;
  #flowing = false;
  #delivering = false;
  #endDelivered = false;
  #closeDelivered = false;
  /** A write was refused (in part): the sink wants a `drain`. */
  #refused = false;

  constructor(source: PushSource, batch: PushBatch) {
    this.#source = source;
    this.#batch = batch;
  }

  /** True if a payload arriving now (with nothing queued) may go straight to the sink. */
  get ready(): boolean {
    return this.#flowing && !this.#delivering && this.#sink !== undefined;
  }

  /**
   * Takes `payload` (a view into the current read) for the sink, without a copy; only when
   * {@linkcode StreamPushIO.ready}. It goes out when the read is parsed, or before anything else.
   */
  collect(payload: Uint8Array): void {
    if (this.#collected.length === 0) this.#batch.add(this);
    this.#collected.push(payload);
    this.#collectedBytes += payload.byteLength;
  }

  /** Hands the collected payloads to the sink: a single one as it is, several copied into one chunk. */
  flushCollected(): void {
    const collected = this.#collected;
    if (collected.length === 0) return;
    const total = this.#collectedBytes;
    this.#collected = [];
    this.#collectedBytes = 0;
    const sink = this.#sink;
    if (!sink) return;
    this.#delivering = true;
    try {
      if (collected.length === 1) return sink.data(collected[0]);
      const scratch = this.#batch.scratch(Math.min(total, MAX_COALESCED_BYTES));
      let fill = 0;
      for (const payload of collected) {
        if (fill + payload.byteLength > scratch.byteLength) {
          sink.data(scratch.subarray(0, fill));
          if (this.#sink !== sink) return;
          fill = 0;
        }
        scratch.set(payload, fill);
        fill += payload.byteLength;
      }
      sink.data(scratch.subarray(0, fill));
    } finally {
      this.#delivering = false;
    }
  }

  /** Data was queued, the FIN arrived or reads failed: deliver what the sink may take now. */
  wake(): void {
    this.flushCollected(); // what was collected comes first
    const sink = this.#sink;
    if (!sink || this.#delivering || this.#closeDelivered) return;
    const source = this.#source;
    this.#delivering = true;
    try {
      while (this.#flowing && this.#sink === sink) {
        const chunk = source.takeForSink();
        if (chunk === undefined) break;
        sink.data(chunk); // the sink keeps no view
      }
    } finally {
      this.#delivering = false;
    }
    if (this.#sink !== sink || source.queuedBytes > 0) return;
    if (source.readFailure) {
      this.#closeDelivered = true;
      sink.close(source.readFailure);
    } else if (source.remoteFinished && this.#flowing && !this.#endDelivered) {
      this.#endDelivered = true;
      sink.end();
    }
  }

  /** The stream was closed locally: no more callbacks. */
  detach(): void {
    this.#sink = undefined;
    this.#collected = [];
    this.#collectedBytes = 0;
  }

  /** The send queue has room again, or writes fail now: a refused sink gets `drain()`. */
  roomAgain(): void {
    if (!this.#refused) return;
    this.#refused = false;
    queueMicrotask(() => this.#sink?.drain()); // the session writer may be mid-batch: let it finish
  }

  attach(sink: PushSink): void {
    this.#sink = sink;
  }

  pause(): void {
    this.#flowing = false;
  }

  resume(): void {
    if (this.#flowing) return;
    this.#flowing = true;
    queueMicrotask(() => this.wake()); // never from inside the caller's own callback
  }

  write(data: Uint8Array): number {
    // Set first: the writer may make room during the call, and that drain must not be lost. A
    // drain scheduled then still reaches a sink refused in part; one for a full write is harmless.
    this.#refused = true;
    const n = this.#source.pushWrite(data);
    if (n < 0 || n === data.byteLength) this.#refused = false;
    return n;
  }

  end(): void {
    void this.#source.closeWrite();
  }
}
