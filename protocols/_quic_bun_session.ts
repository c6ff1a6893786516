/**
 * Internal: the `node:quic` objects (typed by shape) behind the runtime-neutral QUIC backends: one
 * stream, one session after its handshake, a session before it, and a listening endpoint. Used by
 * `_quic_bun.ts` only.
 * @module
 */
import { isTimeoutReason } from "./_abort.ts";
import { type QuicConnectionBackend, quicOpError } from "./_quic_connection.ts";
import type { QuicIncomingBackend, QuicListenerBackend } from "./_quic_listener.ts";
import type { QuicStreamBackend } from "./_quic_stream.ts";
import { netAddr } from "./address.ts";
import { NetError, type NetErrorCode } from "./errors.ts";
import type { QuicCloseInfo } from "./quic_types.ts";
import type { NetAddr } from "./types.ts";

/** `net.SocketAddress`, by shape. */
export interface SocketAddressLike {
  readonly address: string;
  readonly port: number;
}

/** A `node:quic` stream writer, by shape. */
export interface QuicWriterLike {
  readonly desiredSize: number | null;
  writeSync(chunk: Uint8Array): boolean;
  end(): Promise<number>;
}

/** `QuicStream`, by shape: iterating yields batches of chunks. */
export interface QuicStreamLike extends AsyncIterable<Uint8Array | Uint8Array[]> {
  /** `"bidi"` or `"uni"`. */
  readonly direction?: string;
  readonly writer: QuicWriterLike;
  readonly closed: Promise<void>;
  resetStream(code?: number | bigint): void;
  stopSending(code?: number | bigint): void;
}

/** What `session.opened` resolves to, by shape. */
export interface HandshakeInfoLike {
  readonly protocol?: string;
}

/** `QuicSession`, by shape. */
export interface QuicSessionLike {
  readonly opened: Promise<HandshakeInfoLike>;
  readonly closed: Promise<void>;
  readonly path: { readonly local?: SocketAddressLike; readonly remote?: SocketAddressLike } | undefined;
  onstream: ((stream: QuicStreamLike) => void) | undefined;
  createBidirectionalStream(options?: { highWaterMark?: number }): Promise<QuicStreamLike>;
  createUnidirectionalStream(options?: { highWaterMark?: number }): Promise<QuicStreamLike>;
  ondatagram: ((data: Uint8Array) => void) | undefined;
  readonly maxDatagramSize: number | bigint | undefined;
  sendDatagram(data: Uint8Array): unknown;
  close(options?: { code?: number; type?: string; reason?: string }): Promise<void>;
  destroy(error?: unknown, options?: { code?: number; type?: string; reason?: string }): void;
}

/** `QuicEndpoint`, by shape. */
export interface QuicEndpointLike {
  readonly address: SocketAddressLike | undefined;
  busy: boolean;
  destroy(error?: unknown): Promise<void>;
}

/** The `node:quic` module, by shape. */
export interface NodeQuic {
  listen(onsession: (session: QuicSessionLike) => void, options: Record<string, unknown>): Promise<QuicEndpointLike>;
  connect(address: string, options: Record<string, unknown>): Promise<QuicSessionLike>;
  QuicEndpoint: new (options: Record<string, unknown>) => QuicEndpointLike;
}

/** `node:quic`'s error: a code, and for application/transport errors the QUIC error code. */
export interface QuicErrorLike {
  readonly code?: string;
  readonly errorCode?: bigint;
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
}

/** The drain hook of `node:quic` writers (Node's stream/iter protocol symbol). */
const DRAINABLE = Symbol.for("Stream.drainableProtocol");
/** Application error code of the RESET_STREAM and STOP_SENDING a local `close()` sends. */
const STREAM_CANCEL_CODE = 0;
/** Per-stream write buffer, in bytes: enough to keep a fast link busy between drains. */
const STREAM_HIGH_WATER_BYTES = 256 * 1024;
/** The peer stopped reading this stream (STOP_SENDING), or the stream ended under the writer. */
class WriterClosedError extends Error {
  constructor(options?: ErrorOptions) {
    super("the peer stopped reading the stream (STOP_SENDING)", options);
    this.name = "WriterClosedError";
  }
}

/** Maps a `node:quic` (or Node-style) error to a {@linkcode NetErrorCode}. */
export function codeOf(error: unknown): NetErrorCode {
  if (error instanceof NetError) return error.code;
  if (error instanceof WriterClosedError) return "ECONNRESET";
  if (isTimeoutReason(error)) return "ETIMEDOUT";
  const code = (error as QuicErrorLike | undefined)?.code;
  switch (code) {
    case "ERR_QUIC_STREAM_RESET":
    case "ERR_QUIC_STREAM_ABORTED":
    case "ERR_QUIC_APPLICATION_ERROR":
      return "ECONNRESET";
    case "ERR_INVALID_STATE":
      return "ECLOSED";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return "ENOTFOUND";
    case "EADDRINUSE":
    case "EADDRNOTAVAIL":
    case "EACCES":
      return code;
  }
  return "EUNKNOWN";
}

/** A `SocketAddress` as a UDP {@linkcode NetAddr}. */
export function toNetAddr(addr: SocketAddressLike | undefined): NetAddr {
  return netAddr(addr?.address ?? "", addr?.port ?? 0, "udp");
}

/** One `node:quic` bidirectional stream. */
export class BunStreamBackend implements QuicStreamBackend {
  readonly #stream: QuicStreamLike;
  #iterator?: AsyncIterator<Uint8Array | Uint8Array[]>;
  #batch: Uint8Array[] = [];
  #index = 0;

  constructor(stream: QuicStreamLike) {
    this.#stream = stream;
    stream.closed.catch(() => {}); // rejects on reset; the reads and writes report it
  }

  async read(): Promise<Uint8Array | null> {
    if (this.#index < this.#batch.length) return this.#batch[this.#index++];
    this.#iterator ??= this.#stream[Symbol.asyncIterator]();
    while (true) {
      const { done, value } = await this.#iterator.next();
      if (done) return null;
      if (!Array.isArray(value)) return value;
      if (value.length === 0) continue;
      this.#batch = value;
      this.#index = 1;
      return value[0];
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    const writer = this.#stream.writer;
    const copy = chunk.slice(); // node:quic keeps the chunk until the peer acknowledges it
    while (true) {
      const room = writer.desiredSize;
      if (room === null) throw new WriterClosedError();
      if (room > 0) {
        if (writer.writeSync(copy)) return;
        if (writer.desiredSize !== 0) throw new WriterClosedError();
      }
      const drained = (writer as unknown as Record<symbol, (() => Promise<boolean> | null) | undefined>)[DRAINABLE]
        ?.call(writer);
      if (!drained) {
        if (writer.desiredSize === null) throw new WriterClosedError();
        await new Promise((resolve) => setTimeout(resolve, 1)); // no drain hook: poll
      } else {
        try {
          await drained;
        } catch (error) {
          // The stream ended under the writer: STOP_SENDING or a reset (node:quic says "Failed").
          throw new WriterClosedError({ cause: error });
        }
      }
    }
  }

  async finish(): Promise<void> {
    await this.#stream.writer.end();
  }

  abort(stopRead: boolean, resetWrite: boolean): void {
    try {
      if (resetWrite) this.#stream.resetStream(STREAM_CANCEL_CODE);
    } catch { /* already ended */ }
    try {
      if (stopRead) this.#stream.stopSending(STREAM_CANCEL_CODE);
    } catch { /* already ended */ }
  }
}

/** Closes, and where `close` fails, destroys, quietly. */
export function destroyQuietly(session: QuicSessionLike, options?: { code: number; reason: string }): void {
  try {
    session.destroy(
      undefined,
      options ? { code: options.code, type: "application", reason: options.reason } : undefined,
    );
  } catch { /* already destroyed */ }
}

/** One `node:quic` session after its handshake. */
export class BunConnectionBackend implements QuicConnectionBackend {
  readonly #session: QuicSessionLike;
  readonly #early: QuicStreamLike[];
  readonly #earlyUni: QuicStreamLike[] = [];
  readonly remoteAddr: NetAddr;
  readonly localAddr: NetAddr;
  readonly alpnProtocol: string | null;
  readonly closed: Promise<QuicCloseInfo>;
  #receive?: (stream: QuicStreamBackend) => void;
  #receiveUni?: (stream: QuicStreamBackend) => void;
  #local: QuicCloseInfo | undefined;
  #graceful = false;

  constructor(session: QuicSessionLike, info: HandshakeInfoLike, early: QuicStreamLike[]) {
    this.#session = session;
    this.#early = early;
    const path = session.path;
    this.remoteAddr = toNetAddr(path?.remote);
    this.localAddr = toNetAddr(path?.local);
    this.alpnProtocol = info.protocol ? info.protocol : null;
    this.closed = session.closed.then(
      (): QuicCloseInfo => this.#local ?? { code: 0, reason: "", initiator: this.#graceful ? "local" : "peer" },
      (error: QuicErrorLike): QuicCloseInfo => {
        if (this.#local) return this.#local;
        if (error?.type === "application") {
          return { code: Number(error.errorCode ?? 0n), reason: error.reason ?? "", initiator: "peer" };
        }
        return { code: 0, reason: error?.message ?? String(error), initiator: "error" };
      },
    );
  }

  /** The session's stream handler, set before the handshake completes. */
  static streamBuffer(session: QuicSessionLike): QuicStreamLike[] {
    const early: QuicStreamLike[] = [];
    session.onstream = (stream) => {
      stream.closed.catch(() => {});
      early.push(stream);
    };
    return early;
  }

  async openStream(): Promise<QuicStreamBackend> {
    return new BunStreamBackend(
      await this.#session.createBidirectionalStream({ highWaterMark: STREAM_HIGH_WATER_BYTES }),
    );
  }

  acceptStreams(receive: (stream: QuicStreamBackend) => void): void {
    this.#receive = receive;
    for (const stream of this.#early.splice(0)) this.#route(stream);
    this.#session.onstream = (stream) => {
      (stream as unknown as { highWaterMark: number }).highWaterMark = STREAM_HIGH_WATER_BYTES;
      this.#route(stream);
    };
  }

  /** Bidirectional streams go to `acceptStreams`, unidirectional ones to `acceptUniStreams` (kept until then). */
  #route(stream: QuicStreamLike): void {
    if (stream.direction !== "uni") return this.#receive?.(new BunStreamBackend(stream));
    stream.closed.catch(() => {});
    if (this.#receiveUni) this.#receiveUni(new BunStreamBackend(stream));
    else this.#earlyUni.push(stream);
  }

  async openUniStream(): Promise<QuicStreamBackend> {
    return new BunStreamBackend(
      await this.#session.createUnidirectionalStream({ highWaterMark: STREAM_HIGH_WATER_BYTES }),
    );
  }

  acceptUniStreams(receive: (stream: QuicStreamBackend) => void): void {
    this.#receiveUni = receive;
    for (const stream of this.#earlyUni.splice(0)) receive(new BunStreamBackend(stream));
  }

  get maxDatagramSize(): number {
    try {
      return Number(this.#session.maxDatagramSize ?? 0);
    } catch {
      return 0; // destroyed
    }
  }

  async sendDatagram(data: Uint8Array): Promise<void> {
    await this.#session.sendDatagram(data.slice()); // node:quic may keep the buffer until sent
  }

  acceptDatagrams(receive: (data: Uint8Array) => void): void {
    this.#session.ondatagram = (data) => receive(new Uint8Array(data));
  }

  close(code: number, reason: string): void {
    this.#local ??= { code, reason, initiator: "local" };
    destroyQuietly(this.#session, { code, reason });
  }

  closeGracefully(): void {
    if (this.#graceful || this.#local) return;
    this.#graceful = true;
    this.#session.close().catch(() => {}); // waits for open streams, then CONNECTION_CLOSE
  }

  mapError(error: unknown, op: "dial" | "read" | "write"): NetError {
    if (error instanceof NetError) return error;
    return quicOpError(codeOf(error), error, op, this);
  }
}

/** A session a listening endpoint received, before its handshake completes. */
export class BunIncomingBackend implements QuicIncomingBackend {
  readonly #session: QuicSessionLike;
  readonly #early: QuicStreamLike[];
  readonly remoteAddr: undefined; // `session.path` is unknown before the handshake, and reading it early caches that

  constructor(session: QuicSessionLike) {
    this.#session = session;
    session.closed.catch(() => {});
    session.opened.catch(() => {});
    this.#early = BunConnectionBackend.streamBuffer(session);
  }

  async accept(): Promise<QuicConnectionBackend> {
    const info = await this.#session.opened;
    return new BunConnectionBackend(this.#session, info, this.#early);
  }

  cancel(): void {
    destroyQuietly(this.#session);
  }
}

/** A listening `node:quic` endpoint. */
export class BunListenerBackend implements QuicListenerBackend {
  readonly #endpoint: QuicEndpointLike;
  readonly #queue: BunIncomingBackend[];
  readonly addr: NetAddr;
  #waiter?: PromiseWithResolvers<void>;
  #stopped = false;
  #closed = false;

  constructor(endpoint: QuicEndpointLike, queue: BunIncomingBackend[]) {
    this.#endpoint = endpoint;
    this.#queue = queue;
    this.addr = toNetAddr(endpoint.address);
  }

  /** A session arrived. */
  push(incoming: BunIncomingBackend): void {
    if (this.#stopped) {
      incoming.cancel();
      return;
    }
    this.#queue.push(incoming);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  async next(): Promise<QuicIncomingBackend | null> {
    while (true) {
      if (this.#stopped) return null;
      const incoming = this.#queue.shift();
      if (incoming) return incoming;
      this.#waiter ??= Promise.withResolvers<void>();
      await this.#waiter.promise;
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#endpoint.busy = true; // refuse new sessions; open ones carry on
    } catch { /* closed */ }
    for (const incoming of this.#queue.splice(0)) incoming.cancel();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  closeEndpoint(_code: number, _reason: string): void {
    this.stop();
    if (this.#closed) return;
    this.#closed = true;
    this.#endpoint.destroy().catch(() => {}); // accepted sessions were closed with the code already
  }
}
