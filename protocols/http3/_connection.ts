/**
 * Internal: one HTTP/3 connection over a {@linkcode QuicConnection} (RFC 9114 §6): our control
 * stream with SETTINGS (and GOAWAY on close), the peer's control and QPACK streams checked, and a
 * request handler per bidirectional stream. Any violation on a critical stream closes this
 * connection only, with the HTTP/3 error code.
 * @module
 */
import type { QuicConnection } from "../quic_types.ts";
import type { NetAddr } from "../types.ts";
import type { Http3Context } from "./_context.ts";
import { serveRequestStream } from "./_request_stream.ts";
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { FrameReader } from "./frame_reader.ts";
import { encodeIdFrame, encodeStreamType, FrameType, frameTypeName, StreamType } from "./frames.ts";
import { QpackStreamChecker } from "./qpack_streams.ts";
import { decodeSettings, encodeSettingsFrame, type Http3Settings } from "./settings.ts";

/** Largest frame accepted on the peer's control stream (SETTINGS, GOAWAY, …). */
const MAX_CONTROL_FRAME_BYTES = 16 * 1024;
/** Longest reason phrase sent in CONNECTION_CLOSE. */
const MAX_REASON_CHARS = 100;

/** One client connection speaking HTTP/3. */
export class Http3Connection {
  readonly #ctx: Http3Context;
  readonly #quic: QuicConnection;
  readonly #requests = new Set<Promise<void>>();
  readonly #seen = new Set<number>();
  #control: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #nextStreamId = 0;
  #goawayId: number | undefined;
  #idle?: PromiseWithResolvers<void>;
  #closing = false;
  /** The client's SETTINGS, once received. */
  peerSettings: Http3Settings | undefined;

  /**
   * @param ctx The proxy.
   * @param quic The handshaken QUIC connection (ALPN `h3`).
   */
  constructor(ctx: Http3Context, quic: QuicConnection) {
    this.#ctx = ctx;
    this.#quic = quic;
  }

  /** The client's UDP address. */
  get remoteAddr(): NetAddr {
    return this.#quic.remoteAddr;
  }

  /** Serves the connection until it closes. Never throws. */
  async run(): Promise<void> {
    try {
      const control = await this.#quic.openUniStream();
      this.#control = control.getWriter();
      this.#control.closed.catch(() => {});
      const settings: Http3Settings = {
        qpackMaxTableCapacity: 0,
        qpackBlockedStreams: 0,
        maxFieldSectionSize: this.#ctx.options.maxFieldSectionSize,
      };
      await this.#control.write(concat(encodeStreamType(StreamType.CONTROL), encodeSettingsFrame(settings)));
    } catch {
      this.#quic.close({ code: Http3ErrorCode.H3_INTERNAL_ERROR, reason: "cannot open the control stream" });
      return;
    }
    const peerStreams = this.#acceptUniStreams();
    for await (const stream of this.#quic.incomingStreams()) {
      const id = this.#nextStreamId;
      this.#nextStreamId += 4; // client-initiated bidirectional streams: 0, 4, 8, … in arrival order
      if (this.#goawayId !== undefined && id >= this.#goawayId) {
        this.#ctx.counters.rejectedStreams++;
        stream.close(); // after GOAWAY: not processed, the client may retry it elsewhere
        continue;
      }
      const pending: Promise<void> = serveRequestStream(this.#ctx, this, stream)
        .catch(() => stream.close())
        .finally(() => {
          this.#requests.delete(pending);
          if (this.#requests.size === 0) this.#idle?.resolve();
        });
      this.#requests.add(pending);
    }
    await Promise.allSettled([...this.#requests]);
    await peerStreams;
  }

  /** Closes the connection with an HTTP/3 error (a connection error, RFC 9114 §8). */
  fail(error: Http3Error): void {
    if (this.#closing || this.#quic.closeInfo) return;
    this.#closing = true;
    this.#ctx.counters.connectionErrors++;
    this.#quic.close({ code: error.code, reason: error.message.slice(0, MAX_REASON_CHARS) });
  }

  /**
   * Sends GOAWAY: requests on streams the client opened so far finish, later ones are refused.
   * Resolves once no request is in flight.
   */
  async goaway(): Promise<void> {
    if (this.#goawayId === undefined) {
      this.#goawayId = this.#nextStreamId;
      await this.#control?.write(encodeIdFrame(FrameType.GOAWAY, this.#goawayId)).catch(() => {});
    }
    while (this.#requests.size > 0 && !this.#quic.closeInfo) {
      this.#idle = Promise.withResolvers<void>();
      await Promise.race([this.#idle.promise, this.#quic.closed]);
    }
  }

  /** Closes now with `code` (H3_NO_ERROR after a drain). */
  close(code: number = Http3ErrorCode.H3_NO_ERROR): void {
    this.#closing = true;
    this.#quic.close({ code });
  }

  /** Resolves once the QUIC connection is gone. */
  get closed(): Promise<void> {
    return this.#quic.closed;
  }

  async #acceptUniStreams(): Promise<void> {
    const handlers: Promise<void>[] = [];
    for await (const readable of this.#quic.incomingUniStreams()) {
      handlers.push(
        this.#peerStream(readable).catch((error) => {
          if (this.#closing || this.#quic.closeInfo) return; // the connection ended: its streams end with it
          this.fail(
            error instanceof Http3Error
              ? error
              : new Http3Error(Http3ErrorCode.H3_CLOSED_CRITICAL_STREAM, "Cannot read a critical stream: it was reset"),
          );
        }),
      );
    }
    await Promise.allSettled(handlers);
  }

  /** Reads one of the client's unidirectional streams; rejects with the connection error it caused. */
  async #peerStream(readable: ReadableStream<Uint8Array>): Promise<void> {
    const reader = new FrameReader(readable, { readStreamType: true, maxFramePayload: MAX_CONTROL_FRAME_BYTES });
    const first = await reader.read();
    if (first?.kind !== "stream-type") return; // ended before its type: ignore (RFC 9114 §6.2)
    const type = first.streamType;
    if (type === StreamType.PUSH) {
      throw new Http3Error(Http3ErrorCode.H3_STREAM_CREATION_ERROR, "Cannot accept a push stream from a client");
    }
    const critical = type === StreamType.CONTROL || type === StreamType.QPACK_ENCODER ||
      type === StreamType.QPACK_DECODER;
    if (!critical) return void await reader.cancel().catch(() => {}); // unknown type: STOP_SENDING
    if (this.#seen.has(type)) {
      throw new Http3Error(
        Http3ErrorCode.H3_STREAM_CREATION_ERROR,
        `Cannot accept a second ${streamName(type)} stream`,
      );
    }
    this.#seen.add(type);
    if (type === StreamType.CONTROL) await this.#controlStream(reader);
    else {
      const checker = new QpackStreamChecker(type === StreamType.QPACK_ENCODER ? "encoder" : "decoder");
      for (let event = await reader.read(); event; event = await reader.read()) {
        if (event.kind === "raw") checker.push(event.data);
      }
    }
    throw new Http3Error(
      Http3ErrorCode.H3_CLOSED_CRITICAL_STREAM,
      `Cannot go on: the ${streamName(type)} stream ended`,
    );
  }

  async #controlStream(reader: FrameReader): Promise<void> {
    const first = await reader.read();
    if (first === undefined) return; // closed: reported by the caller
    if (first.kind !== "frame" || first.type !== FrameType.SETTINGS) {
      const name = first.kind === "frame" ? frameTypeName(first.type) : "DATA";
      throw new Http3Error(
        Http3ErrorCode.H3_MISSING_SETTINGS,
        `Cannot accept the control stream: its first frame is ${name}, not SETTINGS`,
      );
    }
    this.peerSettings = decodeSettings(first.payload);
    for (let event = await reader.read(); event; event = await reader.read()) {
      if (event.kind !== "frame") {
        throw new Http3Error(Http3ErrorCode.H3_FRAME_UNEXPECTED, "Cannot accept a DATA frame on the control stream");
      }
      switch (event.type) {
        case FrameType.GOAWAY:
        case FrameType.MAX_PUSH_ID:
        case FrameType.CANCEL_PUSH:
          break; // we never push; a client's GOAWAY only stops pushes
        default:
          throw new Http3Error(
            Http3ErrorCode.H3_FRAME_UNEXPECTED,
            `Cannot accept a ${frameTypeName(event.type)} frame on the control stream`,
          );
      }
    }
  }
}

function streamName(type: number): string {
  return type === StreamType.CONTROL
    ? "control"
    : type === StreamType.QPACK_ENCODER
    ? "QPACK encoder"
    : "QPACK decoder";
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
