/**
 * The `http3` protocol: {@linkcode Http3Proxy}, an HTTP/3 reverse proxy to an HTTP/1.1 or h2c target
 * that runs on Deno (our framing and QPACK over Deno QUIC) and Bun (`Bun.serve` with `http3: true`),
 * and {@linkcode altSvcValue} for an HTTP/1.1 or HTTP/2 listener to advertise it.
 *
 * Also the runtime-neutral HTTP/3 codec: QUIC varints, HTTP/3 frames and SETTINGS, an incremental frame
 * parser, QPACK with the static table (plus the Huffman code and a checker for the peer's QPACK streams), and request/response head validation.
 * It does no I/O beyond reading a `ReadableStream`; the HTTP/3 server wires it to QUIC streams.
 *
 * @example Serve HTTP/3 in front of an HTTP/1.1 app
 * ```ts ignore
 * import { Http3Proxy } from "@ts-tunnel/tunnel/protocols/http3";
 * await using proxy = new Http3Proxy({ port: 8443, target: "127.0.0.1:8080", cert, key });
 * await proxy.listen();
 * ```
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
export * from "./proxy.ts";
export * from "./options.ts";
