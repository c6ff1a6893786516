/**
 * Internal: Deno's QUIC objects, typed by shape, behind the runtime-neutral backends: one stream,
 * one connection after its handshake, a connection attempt, and a listening endpoint. Used by
 * `_quic_deno.ts` only; it never names the runtime global.
 * @module
 */
import { isTimeoutReason } from "./_abort.ts";
import { type QuicConnectionBackend, quicOpError } from "./_quic_connection.ts";
import type { DenoListenSocket } from "./_quic_deno_socket.ts";
import type { QuicIncomingBackend, QuicListenerBackend } from "./_quic_listener.ts";
import type { QuicStreamBackend } from "./_quic_stream.ts";
import { SendBurst } from "./_send_burst.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NetError, type NetErrorCode } from "./errors.ts";
import type { QuicCloseInfo } from "./quic_types.ts";
import type { NetAddr } from "./types.ts";

/** `Deno.NetAddr`, by shape. */
export interface DenoAddrLike {
  readonly hostname: string;
  readonly port: number;
}

/** `Deno.QuicCloseInfo`, by shape. */
export interface DenoCloseInfoLike {
  readonly closeCode: number;
  readonly reason: string;
}

/** `Deno.QuicTransportOptions`, by shape. */
export interface DenoTransportLike {
  maxIdleTimeout?: number;
  keepAliveInterval?: number;
  maxConcurrentBidirectionalStreams?: number;
  congestionControl?: "throughput" | "low-latency" | "default";
}

/** `Deno.QuicSendStream`, by shape: a writable whose `sendOrder` (quinn's priority) may change at any time. */
export interface DenoSendStreamLike extends WritableStream<Uint8Array> {
  sendOrder?: number;
}

/** `Deno.QuicBidirectionalStream`, by shape. */
export interface DenoBidiStreamLike {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: DenoSendStreamLike;
}

/** `Deno.QuicConn`, by shape. */
export interface DenoQuicConnLike {
  readonly remoteAddr: DenoAddrLike;
  readonly protocol: string | undefined;
  readonly endpoint: DenoQuicEndpointLike;
  readonly closed: Promise<DenoCloseInfoLike>;
  readonly incomingBidirectionalStreams: ReadableStream<DenoBidiStreamLike>;
  createBidirectionalStream(
    options?: { waitUntilAvailable?: boolean; sendOrder?: number },
  ): Promise<DenoBidiStreamLike>;
  readonly incomingUnidirectionalStreams: ReadableStream<ReadableStream<Uint8Array>>;
  createUnidirectionalStream(options?: { waitUntilAvailable?: boolean }): Promise<WritableStream<Uint8Array>>;
  readonly maxDatagramSize: number;
  sendDatagram(data: Uint8Array): Promise<void>;
  readDatagram(): Promise<Uint8Array>;
  close(info?: DenoCloseInfoLike): void;
}

/** `Deno.QuicIncoming`, by shape. */
export interface DenoQuicIncomingLike {
  accept(): Promise<DenoQuicConnLike>;
  refuse(): void;
}

/** `Deno.QuicListener`, by shape. */
export interface DenoQuicListenerLike {
  incoming(): Promise<DenoQuicIncomingLike>;
  stop(): void;
}

/** `Deno.QuicEndpoint`, by shape. */
export interface DenoQuicEndpointLike {
  readonly addr: DenoAddrLike;
  listen(options: DenoTransportLike & { cert: string; key: string; alpnProtocols: string[] }): DenoQuicListenerLike;
  close(info?: DenoCloseInfoLike): void;
}

/** `Deno.connectQuic` options, by shape. */
export interface DenoConnectLike extends DenoTransportLike {
  hostname: string;
  port: number;
  serverName?: string;
  caCerts?: string[];
  alpnProtocols: string[];
  endpoint: DenoQuicEndpointLike;
}

/** What the adapter hands over: Deno's QUIC entry points and its error classification. */
export interface DenoQuicApi {
  /** `new Deno.QuicEndpoint(options)`. */
  createEndpoint(options: { hostname: string; port: number }): DenoQuicEndpointLike;
  /** `Deno.connectQuic(options)`. */
  connect(options: DenoConnectLike): Promise<DenoQuicConnLike>;
  /** The adapter's mapping of Deno errors to codes (`Deno.errors.*`). */
  codeOf(error: unknown): NetErrorCode;
}

/** How long a gracefully closing connection waits after its last stream before CONNECTION_CLOSE (Deno cannot tell when sent data was acknowledged). */
const GRACEFUL_CLOSE_LINGER_MS = 200;

/** Deno's QUIC errors carry no class or code for these; the text is the only signal, read here once. */
export function isIdleTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === "Error" && error.message === "timed out";
}

/** Maps a Deno QUIC error to a {@linkcode NetErrorCode}: the idle-timeout text first, then the adapter's classes. */
export function codeOf(api: DenoQuicApi, error: unknown): NetErrorCode {
  if (isIdleTimeout(error) || isTimeoutReason(error)) return "ETIMEDOUT";
  return api.codeOf(error);
}

/** A Deno address as a UDP {@linkcode NetAddr}. */
export function toNetAddr(addr: DenoAddrLike): NetAddr {
  return netAddr(addr.hostname, addr.port, "udp");
}

/**
 * Send order of a stream whose writes count as interactive ({@linkcode SendBurst}): quinn sends
 * higher orders first, so a small request or answer goes out ahead of the bytes a bulk stream has
 * queued on the same connection (as the tunnel's mux gives a stream's first frames priority).
 */
export const INTERACTIVE_SEND_ORDER = 1;
/** Send order of a stream once {@linkcode SendBurst} counts it as bulk. */
export const BULK_SEND_ORDER = 0;

/**
 * Size of a stream's first read, and the smallest a read shrinks to. Deno's default reader gives
 * every pending read a 64 KiB buffer, so each idle stream held 64 KiB on each end (measured: an
 * idle stream pair with a read waiting on both ends cost 168 KB of RSS, 56–66 KB without).
 */
export const QUIC_MIN_READ_BYTES = 4 * 1024;
/** Largest read: the size doubles after a read that fills its buffer and halves after one that fills less than half. */
export const QUIC_MAX_READ_BYTES = 64 * 1024;

/** One Deno bidirectional stream. */
export class DenoStreamBackend implements QuicStreamBackend {
  readonly #stream: DenoBidiStreamLike;
  #reader?: ReadableStreamBYOBReader;
  #readBytes = QUIC_MIN_READ_BYTES;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  /** Decides the send order: bulk streams at {@linkcode BULK_SEND_ORDER}. */
  readonly #burst = new SendBurst();

  /**
   * @param stream Deno's stream.
   * @param opened True when we opened it (its send order was set at creation).
   */
  constructor(stream: DenoBidiStreamLike, opened = false) {
    this.#stream = stream;
    if (!opened) setSendOrder(stream.writable, INTERACTIVE_SEND_ORDER);
  }

  /** The next chunk, read into a buffer sized to the stream's recent reads; `null` at the end. */
  async read(): Promise<Uint8Array | null> {
    const reader = this.#reader ??= this.#stream.readable.getReader({ mode: "byob" });
    const size = this.#readBytes;
    const { done, value } = await reader.read(new Uint8Array(size));
    if (done) return null;
    if (value.byteLength === size) this.#readBytes = Math.min(size * 2, QUIC_MAX_READ_BYTES);
    else if (value.byteLength < size / 2) this.#readBytes = Math.max(size / 2, QUIC_MIN_READ_BYTES);
    return value;
  }

  write(chunk: Uint8Array): Promise<void> {
    this.#writer ??= this.#stream.writable.getWriter();
    if (this.#burst.note(chunk.byteLength, performance.now())) {
      setSendOrder(this.#stream.writable, this.#burst.bulk ? BULK_SEND_ORDER : INTERACTIVE_SEND_ORDER);
    }
    return this.#writer.write(chunk); // Deno copies into quinn's send buffer before resolving
  }

  finish(): Promise<void> {
    this.#writer ??= this.#stream.writable.getWriter();
    return this.#writer.close();
  }

  abort(stopRead: boolean, resetWrite: boolean): void {
    if (stopRead) (this.#reader ?? this.#stream.readable).cancel().catch(() => {}); // STOP_SENDING
    if (resetWrite) (this.#writer ?? this.#stream.writable).abort().catch(() => {}); // FIN: Deno cannot reset
  }
}

/** Sets a stream's send order; a stream that is already gone keeps none. */
function setSendOrder(writable: DenoSendStreamLike, order: number): void {
  try {
    writable.sendOrder = order;
  } catch { /* closed */ }
}

/** One Deno QUIC connection after its handshake. */
export class DenoConnectionBackend implements QuicConnectionBackend {
  readonly #api: DenoQuicApi;
  readonly #conn: DenoQuicConnLike;
  readonly remoteAddr: NetAddr;
  readonly localAddr: NetAddr;
  readonly alpnProtocol: string | null;
  readonly closed: Promise<QuicCloseInfo>;
  #local: QuicCloseInfo | undefined;
  #linger: ReturnType<typeof setTimeout> | undefined;

  constructor(api: DenoQuicApi, conn: DenoQuicConnLike) {
    this.#api = api;
    this.#conn = conn;
    this.remoteAddr = toNetAddr(conn.remoteAddr);
    this.localAddr = toNetAddr(conn.endpoint.addr);
    this.alpnProtocol = conn.protocol ?? null;
    this.closed = conn.closed.then(
      (info): QuicCloseInfo => this.#local ?? { code: info.closeCode, reason: info.reason, initiator: "peer" },
      (error): QuicCloseInfo =>
        this.#local ??
          (isIdleTimeout(error)
            ? { code: 0, reason: "idle timeout", initiator: "idle-timeout" }
            : { code: 0, reason: error instanceof Error ? error.message : String(error), initiator: "error" }),
    ).finally(() => clearTimeout(this.#linger));
  }

  async openStream(): Promise<QuicStreamBackend> {
    const stream = await this.#conn.createBidirectionalStream({
      waitUntilAvailable: true,
      sendOrder: INTERACTIVE_SEND_ORDER,
    });
    return new DenoStreamBackend(stream, true);
  }

  acceptStreams(receive: (stream: QuicStreamBackend) => void): void {
    void (async () => {
      try {
        for await (const stream of this.#conn.incomingBidirectionalStreams) receive(new DenoStreamBackend(stream));
      } catch { /* the connection closed; `closed` reports why */ }
    })();
  }

  async openUniStream(): Promise<QuicStreamBackend> {
    const writable = await this.#conn.createUnidirectionalStream({ waitUntilAvailable: true });
    return new DenoStreamBackend({ readable: ended(), writable });
  }

  acceptUniStreams(receive: (stream: QuicStreamBackend) => void): void {
    void (async () => {
      try {
        for await (const readable of this.#conn.incomingUnidirectionalStreams) {
          receive(new DenoStreamBackend({ readable, writable: new WritableStream() }));
        }
      } catch { /* the connection closed; `closed` reports why */ }
    })();
  }

  get maxDatagramSize(): number {
    try {
      return this.#conn.maxDatagramSize;
    } catch {
      return 0; // closed
    }
  }

  sendDatagram(data: Uint8Array): Promise<void> {
    return this.#conn.sendDatagram(data);
  }

  acceptDatagrams(receive: (data: Uint8Array) => void): void {
    void (async () => {
      try {
        while (true) receive(await this.#conn.readDatagram());
      } catch { /* the connection closed */ }
    })();
  }

  close(code: number, reason: string): void {
    clearTimeout(this.#linger);
    this.#local ??= { code, reason, initiator: "local" };
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch { /* already closed */ }
  }

  closeGracefully(): void {
    if (this.#local || this.#linger !== undefined) return;
    this.#linger = setTimeout(() => this.close(0, ""), GRACEFUL_CLOSE_LINGER_MS);
  }

  mapError(error: unknown, op: "dial" | "read" | "write"): NetError {
    if (error instanceof NetError) return error;
    return quicOpError(codeOf(this.#api, error), error, op, this);
  }
}

/** An empty, ended stream: the unused direction of a unidirectional stream. */
function ended(): ReadableStream<Uint8Array> {
  return new ReadableStream({ type: "bytes", start: (c) => c.close() }); // a byte stream, as Deno's are
}

/** A connection attempt on a Deno listener. Its properties are never read: Deno 2.9 would invalidate it. */
export class DenoIncomingBackend implements QuicIncomingBackend {
  readonly #api: DenoQuicApi;
  readonly #incoming: DenoQuicIncomingLike;
  #state: "new" | "accepting" | "done" | "cancelled" = "new";
  readonly remoteAddr: undefined;

  constructor(api: DenoQuicApi, incoming: DenoQuicIncomingLike) {
    this.#api = api;
    this.#incoming = incoming;
  }

  async accept(): Promise<QuicConnectionBackend> {
    this.#state = "accepting";
    let conn: DenoQuicConnLike;
    try {
      conn = await this.#incoming.accept();
    } catch (error) {
      this.#state = "done";
      throw isIdleTimeout(error) ? new DOMException("The handshake timed out", "TimeoutError") : error;
    }
    conn.closed.catch(() => {});
    if ((this.#state as string) === "cancelled") { // cancel() may have run during the await
      conn.close({ closeCode: 0, reason: "handshake abandoned" });
      throw new DOMException("The handshake was cancelled", "AbortError");
    }
    this.#state = "done";
    return new DenoConnectionBackend(this.#api, conn);
  }

  cancel(): void {
    if (this.#state === "new") {
      try {
        this.#incoming.refuse();
      } catch { /* already handled */ }
      this.#state = "done";
    } else if (this.#state === "accepting") {
      this.#state = "cancelled"; // the connection is closed when the handshake completes
    }
  }
}

/** A listening Deno endpoint. */
export class DenoListenerBackend implements QuicListenerBackend {
  readonly #api: DenoQuicApi;
  readonly #socket: DenoListenSocket;
  readonly addr: NetAddr;
  readonly #stopping = Promise.withResolvers<null>();
  #stopped = false;
  #closed = false;

  constructor(api: DenoQuicApi, socket: DenoListenSocket) {
    this.#api = api;
    this.#socket = socket;
    this.addr = toNetAddr(socket.endpoint.addr);
  }

  async next(): Promise<QuicIncomingBackend | null> {
    if (this.#stopped) return null;
    try {
      // After stop() the accept stays in flight on the socket, for the next listener on it.
      const incoming = await Promise.race([this.#socket.incoming(), this.#stopping.promise]);
      return incoming ? new DenoIncomingBackend(this.#api, incoming) : null;
    } catch (error) {
      if (this.#stopped || codeOf(this.#api, error) === "ECLOSED") return null;
      throw new NetError("EUNKNOWN", `Cannot accept on "${formatAddr(this.addr)}" over quic: ${String(error)}`, {
        op: "accept",
        protocol: "quic",
        localAddr: this.addr,
        cause: error,
      });
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#socket.stop();
    this.#stopping.resolve(null);
  }

  /**
   * Releases the address. The connections were closed (with the code) by the listener; the
   * endpoint is not closed but parked, as Deno only frees its port on garbage collection.
   */
  closeEndpoint(_code: number, _reason: string): void {
    this.stop();
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.park();
  }
}
