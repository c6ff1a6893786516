/**
 * A small HTTP/3 client for the tests, built from our codec over the runtime's QUIC client: one
 * request per bidirectional stream, SETTINGS on our control stream (or raw bytes instead, to test
 * how a server takes garbage), and the server's SETTINGS and GOAWAY read from its control stream.
 * @module
 */
import { Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import { FrameReader } from "../../../protocols/http3/frame_reader.ts";
import {
  decodeIdPayload,
  encodeFrame,
  encodeStreamType,
  FrameType,
  StreamType,
} from "../../../protocols/http3/frames.ts";
import { decodeFieldSection, encodeFieldSection, type HeaderField } from "../../../protocols/http3/qpack.ts";
import { buildRequestFields, parseResponseHead, parseTrailers } from "../../../protocols/http3/request.ts";
import { decodeSettings, encodeSettingsFrame, type Http3Settings } from "../../../protocols/http3/settings.ts";
import type { QuicConnection } from "../../../protocols/quic_types.ts";
import { defaultRuntime } from "../../../protocols/runtime.ts";
import { testCerts } from "../../_util/certs.ts";

/** What the server answered. */
export interface H3Response {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  trailers: [string, string][] | undefined;
}

/** One request. */
export interface H3Request {
  method?: string;
  path?: string;
  authority?: string;
  headers?: [string, string][];
  /** Sent as DATA frames of at most 64 KiB. */
  body?: Uint8Array;
  trailers?: [string, string][];
  /** Sent as the HEADERS field section instead of the fields built from the above. */
  rawFields?: HeaderField[];
}

/** A client connection to an HTTP/3 server on 127.0.0.1. */
export class H3Client implements AnyH3Client {
  readonly quic: QuicConnection;
  readonly #settings = Promise.withResolvers<Http3Settings>();
  readonly #goaway = Promise.withResolvers<number>();
  readonly #reading: Promise<void>;
  #control: WritableStreamDefaultWriter<Uint8Array> | undefined;

  private constructor(quic: QuicConnection) {
    this.quic = quic;
    this.#settings.promise.catch(() => {});
    this.#goaway.promise.catch(() => {});
    this.#reading = this.#readServerStreams();
  }

  /**
   * Connects and opens our control stream.
   * @param control Bytes to send on the control stream instead of its type and an empty SETTINGS.
   */
  static async connect(port: number, control?: Uint8Array): Promise<H3Client> {
    const runtime = await defaultRuntime();
    const certs = await testCerts();
    const quic = await runtime.connectQuic!({
      hostname: "127.0.0.1",
      port,
      serverName: "localhost",
      caCerts: [certs.caPem],
      alpnProtocols: ["h3"],
      timeoutMs: 10_000,
    });
    const client = new H3Client(quic);
    const stream = await quic.openUniStream();
    client.#control = stream.getWriter();
    client.#control.closed.catch(() => {});
    const bytes = control ?? concat([encodeStreamType(StreamType.CONTROL), encodeSettingsFrame({})]);
    await client.#control.write(bytes);
    return client;
  }

  /** Opens one more unidirectional stream and writes `bytes` (its type first); FIN only with `fin`. */
  async openRawUni(bytes: Uint8Array, fin = false): Promise<void> {
    const writer = (await this.quic.openUniStream()).getWriter();
    writer.closed.catch(() => {});
    await writer.write(bytes);
    if (fin) await writer.close();
  }

  /** Ends our control stream (FIN), which a server must treat as a connection error. */
  async finishControl(): Promise<void> {
    await this.#control?.close();
  }

  /** The server's SETTINGS. */
  get settings(): Promise<Http3Settings> {
    return this.#settings.promise;
  }

  /** The id in the server's GOAWAY. */
  get goaway(): Promise<number> {
    return this.#goaway.promise;
  }

  async #readServerStreams(): Promise<void> {
    try {
      for await (const readable of this.quic.incomingUniStreams()) {
        void (async () => {
          const reader = new FrameReader(readable, { readStreamType: true });
          try {
            const first = await reader.read();
            if (first?.kind !== "stream-type" || first.streamType !== StreamType.CONTROL) {
              for (let e = await reader.read(); e; e = await reader.read()) { /* QPACK streams: drain */ }
              return;
            }
            for (let e = await reader.read(); e; e = await reader.read()) {
              if (e.kind !== "frame") continue;
              if (e.type === FrameType.SETTINGS) this.#settings.resolve(decodeSettings(e.payload));
              if (e.type === FrameType.GOAWAY) this.#goaway.resolve(decodeIdPayload(e.type, e.payload));
            }
          } catch { /* the connection closed */ }
        })();
      }
    } catch { /* closed */ }
    this.#settings.reject(new Error("the connection closed before SETTINGS"));
    this.#goaway.reject(new Error("the connection closed without GOAWAY"));
  }

  /** Opens a stream, sends the request and reads the whole response. */
  async request(request: H3Request = {}): Promise<H3Response> {
    const stream = await this.quic.openStream();
    const writer = stream.writable.getWriter();
    const fields = request.rawFields ?? buildRequestFields({
      method: request.method ?? "GET",
      scheme: "https",
      authority: request.authority ?? "localhost",
      path: request.path ?? "/",
    }, request.headers ?? []);
    const sending = (async () => {
      await writer.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
      const body = request.body ?? new Uint8Array(0);
      for (let off = 0; off < body.byteLength; off += 65_536) {
        await writer.write(encodeFrame(FrameType.DATA, body.subarray(off, off + 65_536)));
      }
      if (request.trailers) {
        const trailerFields = request.trailers.map(([name, value]) => ({ name, value }));
        await writer.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(trailerFields)));
      }
      await writer.close();
    })();
    sending.catch(() => {});
    const reader = new FrameReader(stream.readable, { maxFramePayload: 1 << 20 });
    let head: ReturnType<typeof parseResponseHead> | undefined;
    const chunks: Uint8Array[] = [];
    let trailers: [string, string][] | undefined;
    for (let e = await reader.read(); e; e = await reader.read()) {
      if (e.kind === "data") chunks.push(e.data.slice());
      else if (e.kind === "frame" && e.type === FrameType.HEADERS) {
        const decoded = decodeFieldSection(e.payload);
        if (!head) {
          const parsed = parseResponseHead(decoded);
          if (parsed.status >= 200) head = parsed;
        } else trailers = parseTrailers(decoded);
      }
    }
    if (!head) throw new Error("the stream ended without a response");
    await sending.catch(() => {}); // the server may stop reading once it answered
    return { status: head.status, headers: head.headers, body: concat(chunks), trailers };
  }

  /** Closes with H3_NO_ERROR and waits until the connection is gone. */
  async close(): Promise<void> {
    this.quic.close({ code: Http3ErrorCode.H3_NO_ERROR });
    await this.quic.closed;
    await this.#reading;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A client for either runtime: ours over Deno QUIC, Bun's `fetch` over HTTP/3 on Bun. */
export interface AnyH3Client extends AsyncDisposable {
  request(request?: H3Request): Promise<H3Response>;
  close(): Promise<void>;
}

/**
 * Bun's node:quic client gets no answer from `Bun.serve` HTTP/3 (measured with Bun 1.4.5), so on
 * Bun the tests speak through Bun's own `fetch` with `protocol: "http3"` (no trailers, no raw
 * fields).
 */
class FetchH3Client implements AnyH3Client {
  readonly #port: number;
  constructor(port: number) {
    this.#port = port;
  }

  async request(request: H3Request = {}): Promise<H3Response> {
    if (request.rawFields || request.trailers) throw new Error("Bun's fetch cannot send raw fields or trailers");
    const headers = new Headers(request.headers ?? []);
    headers.set("host", request.authority ?? "localhost");
    const response = await fetch(`https://127.0.0.1:${this.#port}${request.path ?? "/"}`, {
      method: request.method ?? "GET",
      headers,
      body: request.body,
      protocol: "http3",
      tls: { rejectUnauthorized: false },
    } as RequestInit);
    const body = new Uint8Array(await response.arrayBuffer());
    const pairs: [string, string][] = [];
    response.headers.forEach((value, name) => {
      if (name === "set-cookie") return;
      pairs.push([name, value]);
    });
    for (const cookie of response.headers.getSetCookie()) pairs.push(["set-cookie", cookie]);
    return { status: response.status, headers: pairs, body, trailers: undefined };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Connects the runtime's test client: {@linkcode H3Client} on Deno, Bun's fetch on Bun. */
export function connectAny(port: number): Promise<AnyH3Client> {
  return "Bun" in globalThis ? Promise.resolve(new FetchH3Client(port)) : H3Client.connect(port);
}

/** Concatenates chunks. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** The value of the first header named `name`. */
export function header(response: H3Response, name: string): string | undefined {
  return response.headers.find(([n]) => n === name)?.[1];
}
