/**
 * {@linkcode ControlChannel}: control messages (PROTOCOL.md section 2) over any {@linkcode Conn},
 * such as the multiplexer's stream 0 or a QUIC stream.
 * @module
 */
import { NET_ERROR_TEXT, NetError } from "../errors.ts";
import type { Conn, ProtocolName } from "../types.ts";
import { TunnelError } from "./errors.ts";
import { type ControlMessage, encodeMessage, MAX_MESSAGE_BYTES, parseMessage } from "./messages.ts";

/** Options for {@linkcode ControlChannel}. */
export interface ControlChannelOptions {
  /** The protocol named in the {@linkcode NetError}s this channel creates. @default {"tls"} */
  protocol?: ProtocolName;
}

/** Options for {@linkcode ControlChannel.receive}. */
export interface ReceiveOptions {
  /** Stops waiting (rejecting with the signal's reason); no bytes are lost, the next receive continues. */
  signal?: AbortSignal;
}

const LENGTH_BYTES = 4;

/**
 * Sends and receives length-prefixed JSON control messages over a {@linkcode Conn}. Sends may be
 * concurrent (they are written in call order); receives read only what one message needs and
 * never allocate more than {@linkcode MAX_MESSAGE_BYTES} + 4 bytes for it.
 *
 * @example Exchange a ping over a conn
 * ```ts ignore
 * import { ControlChannel } from "./control_channel.ts";
 * const channel = new ControlChannel(conn);
 * await channel.send({ type: "ping", seq: 1, sentAt: Date.now() });
 * const answer = await channel.receive({ signal: AbortSignal.timeout(5_000) });
 * ```
 */
export class ControlChannel {
  #conn: Conn;
  #protocol: ProtocolName;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Received bytes not yet consumed, oldest first; `#offset` bytes of the first are used. */
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  /** A read that an aborted receive left behind; the next receive takes its result. */
  #pendingRead: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  #receiving: Promise<unknown> = Promise.resolve();
  #failure: unknown;
  #isClosed = false;

  /**
   * Wraps a conn. The channel takes over the conn's readable and writable streams.
   *
   * @param conn The conn carrying the control messages.
   * @param options The protocol named in errors.
   */
  constructor(conn: Conn, options: ControlChannelOptions = {}) {
    this.#conn = conn;
    this.#protocol = options.protocol ?? "tls";
  }

  /**
   * Sends one message. Concurrent sends are written whole, in call order.
   *
   * @param message The message.
   * @returns Resolves once the conn accepted the bytes.
   * @throws {RangeError} If the message encodes to more than {@linkcode MAX_MESSAGE_BYTES}.
   * @throws {NetError} If the conn fails or the channel is closed.
   */
  send(message: ControlMessage): Promise<void> {
    try {
      if (this.#isClosed) throw this.#closedError("write");
      const frame = encodeMessage(message);
      this.#writer ??= this.#conn.writable.getWriter();
      return this.#writer.write(frame);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Receives the next message. Concurrent receives are served in call order.
   *
   * @param options Cancellation.
   * @returns The validated message.
   * @throws {TunnelError} Coded `protocol` for a bad frame or message; the channel then keeps failing.
   * @throws {NetError} Coded `ECLOSED` when the conn ends (or the channel was closed), or the conn's own error.
   */
  receive(options: ReceiveOptions = {}): Promise<ControlMessage> {
    const result = this.#receiving.then(() => this.#receive(options.signal));
    this.#receiving = result.catch(() => {});
    return result;
  }

  async #receive(signal: AbortSignal | undefined): Promise<ControlMessage> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#isClosed) throw this.#closedError("read");
    signal?.throwIfAborted();
    try {
      await this.#fill(LENGTH_BYTES, signal);
      const length = this.#peekLength();
      if (length > MAX_MESSAGE_BYTES) {
        throw new TunnelError(
          "protocol",
          `Invalid control message: length ${length} exceeds the limit of ${MAX_MESSAGE_BYTES} bytes`,
        );
      }
      await this.#fill(LENGTH_BYTES + length, signal);
      this.#consume(LENGTH_BYTES);
      return parseMessage(this.#consume(length));
    } catch (error) {
      if (signal?.aborted && error === signal.reason) throw error; // nothing consumed: the next receive continues
      this.#failure = error;
      throw error;
    }
  }

  /** Reads until at least `want` bytes are buffered. */
  async #fill(want: number, signal: AbortSignal | undefined): Promise<void> {
    while (this.#buffered < want) {
      this.#reader ??= this.#conn.readable.getReader();
      const read = this.#pendingRead ?? this.#reader.read();
      this.#pendingRead = read;
      const { done, value } = signal ? await abortable(read, signal) : await read;
      this.#pendingRead = undefined;
      if (done) {
        const detail = this.#buffered === 0
          ? NET_ERROR_TEXT.ECLOSED
          : `connection closed inside a message (${this.#buffered} of ${want} bytes)`;
        throw new NetError("ECLOSED", `Cannot receive control message: ${detail}`, this.#context("read"));
      }
      if (value.byteLength === 0) continue;
      this.#chunks.push(value);
      this.#buffered += value.byteLength;
    }
  }

  #peekLength(): number {
    let length = 0;
    let chunk = 0;
    let at = this.#offset;
    for (let i = 0; i < LENGTH_BYTES; i++) {
      while (at >= this.#chunks[chunk].byteLength) {
        chunk++;
        at = 0;
      }
      length = length * 256 + this.#chunks[chunk][at++];
    }
    return length;
  }

  /** Removes `n` buffered bytes; a view when they lie in one chunk, else a copy. */
  #consume(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first && first.byteLength - this.#offset >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      this.#offset += n;
      this.#buffered -= n;
      if (this.#offset === first.byteLength) {
        this.#chunks.shift();
        this.#offset = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(n - filled, chunk.byteLength - this.#offset);
      out.set(chunk.subarray(this.#offset, this.#offset + take), filled);
      filled += take;
      this.#offset += take;
      if (this.#offset === chunk.byteLength) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= n;
    return out;
  }

  #context(op: "read" | "write") {
    return { op, protocol: this.#protocol, remoteAddr: this.#conn.remoteAddr };
  }

  #closedError(op: "read" | "write"): NetError {
    return new NetError(
      "ECLOSED",
      `Cannot ${op === "read" ? "receive" : "send"} control message: the channel is closed`,
      this.#context(op),
    );
  }

  /** Closes the channel and its conn. Idempotent; pending receives reject with NetError ECLOSED. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#pendingRead?.catch(() => {});
    this.#conn.close();
  }
}

/** Resolves or rejects with `promise`, or rejects with the signal's reason first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
