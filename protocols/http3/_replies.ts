/**
 * Internal: what a request stream sends when it answers by itself (a short text response, a DATA
 * frame) and how it ends a request the client got wrong (RFC 9114 §4.1.2, §8).
 * @module
 */
import type { Conn, NetAddr } from "../types.ts";
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import type { FrameEvent } from "./frame_parser.ts";
import type { FrameReader } from "./frame_reader.ts";
import { encodeFrame, encodeFrameHeader, FrameType, frameTypeName } from "./frames.ts";
import { encodeFieldSection } from "./qpack.ts";
import { buildResponseFields } from "./request.ts";

/** The writer of a request stream. */
export type Writer = WritableStreamDefaultWriter<Uint8Array>;

/** The connection a request stream belongs to. */
export interface RequestStreamOwner {
  /** The client's UDP address. */
  readonly remoteAddr: NetAddr;
  /** Ends the whole connection with a connection error (RFC 9114 §8). */
  fail(error: Http3Error): void;
}

/** One DATA frame carrying `chunk` (header and payload in one write). */
export function dataFrame(chunk: Uint8Array): Uint8Array {
  const header = encodeFrameHeader(FrameType.DATA, chunk.byteLength);
  const frame = new Uint8Array(header.byteLength + chunk.byteLength);
  frame.set(header);
  frame.set(chunk, header.byteLength);
  return frame;
}

/** A complete short text response: HEADERS, DATA, FIN. */
export async function reply(writer: Writer, status: number, text: string): Promise<void> {
  const body = new TextEncoder().encode(text);
  const fields = buildResponseFields(status, [
    ["content-type", "text/plain; charset=utf-8"],
    ["content-length", String(body.byteLength)],
  ]);
  await writer.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
  await writer.write(dataFrame(body));
  await writer.close();
}

/**
 * Ends a request the client got wrong. A malformed message (H3_MESSAGE_ERROR) gets 400 and a too
 * large header section 431 before the stream ends (RFC 9114 §4.1.2 allows a response first: Deno
 * cannot send RESET_STREAM with a code); other HTTP/3 errors close the connection; a failed read or
 * write (the client reset the stream) ends the stream.
 */
export async function refuse(
  owner: RequestStreamOwner,
  stream: Conn,
  reader: FrameReader,
  writer: Writer,
  error: unknown,
  responded: boolean,
): Promise<void> {
  if (!(error instanceof Http3Error) || error.code === Http3ErrorCode.H3_REQUEST_INCOMPLETE) return stream.close();
  const status = error.code === Http3ErrorCode.H3_MESSAGE_ERROR
    ? 400
    : error.code === Http3ErrorCode.H3_EXCESSIVE_LOAD
    ? 431
    : undefined;
  if (status === undefined) return owner.fail(error);
  if (responded) return stream.close();
  const text = status === 400 ? "400 Bad Request: malformed HTTP/3 request\n" : "431 Request Header Fields Too Large\n";
  try {
    await reply(writer, status, text);
    await reader.cancel();
  } catch {
    stream.close();
  }
}

export function unexpected(event: FrameEvent, where: string): Http3Error {
  const name = event.kind === "frame" ? `a ${frameTypeName(event.type)} frame` : "a DATA frame";
  return new Http3Error(Http3ErrorCode.H3_FRAME_UNEXPECTED, `Cannot accept ${name} ${where} on a request stream`);
}

export function lengthMismatch(contentLength: number, received: number): Http3Error {
  return new Http3Error(
    Http3ErrorCode.H3_MESSAGE_ERROR,
    `Malformed request: content-length is ${contentLength} but the body has ${received}${
      received > contentLength ? "+" : ""
    } bytes`,
  );
}
