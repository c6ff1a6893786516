/**
 * The runtime-neutral HTTP/3 codec: QUIC varints, HTTP/3 frames and SETTINGS, an incremental frame
 * parser, QPACK with the static table (plus the Huffman code and a checker for the peer's QPACK streams), and request/response head validation.
 * It does no I/O beyond reading a `ReadableStream`; the HTTP/3 server wires it to QUIC streams.
 *
 * @example Answer a request stream
 * ```ts ignore
 * import {
 *   buildResponseFields, decodeFieldSection, encodeFieldSection, encodeFrame, FrameReader, FrameType,
 *   parseRequestHead,
 * } from "@ts-tunnel/tunnel/protocols/http3";
 * const reader = new FrameReader(stream.readable);
 * const first = await reader.read();
 * if (first?.kind === "frame" && first.type === FrameType.HEADERS) {
 *   const head = parseRequestHead(decodeFieldSection(first.payload));
 *   const fields = buildResponseFields(200, new Headers({ "content-type": "text/plain" }));
 *   await writer.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)));
 * }
 * ```
 * @module
 */
export * from "./errors.ts";
export * from "./varint.ts";
export * from "./frames.ts";
export * from "./settings.ts";
export * from "./frame_parser.ts";
export * from "./frame_reader.ts";
export * from "./huffman.ts";
export * from "./qpack_static_table.ts";
export * from "./qpack.ts";
export * from "./qpack_streams.ts";
export * from "./request.ts";
