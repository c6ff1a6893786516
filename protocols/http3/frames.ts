/**
 * HTTP/3 frame and stream types (RFC 9114 §6.2, §7.2) and frame encoding. Frames are
 * `type (varint) | length (varint) | payload`. Parsing lives in `frame_parser.ts`, SETTINGS in
 * `settings.ts`.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { decodeVarint, encodeVarint, varintLength, writeVarint } from "./varint.ts";

/** HTTP/3 frame types (RFC 9114 §7.2). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  CANCEL_PUSH: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  GOAWAY: 0x7,
  MAX_PUSH_ID: 0xd,
} as const;

/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2): the varint that opens the stream. */
export const StreamType = {
  CONTROL: 0x00,
  PUSH: 0x01,
  QPACK_ENCODER: 0x02,
  QPACK_DECODER: 0x03,
} as const;

/**
 * Frame types HTTP/2 used that HTTP/3 reserves (PRIORITY 0x2, PING 0x6, WINDOW_UPDATE 0x8,
 * CONTINUATION 0x9). Receiving one is a connection error of type `H3_FRAME_UNEXPECTED` (RFC 9114 §7.2.8).
 */
export const HTTP2_ONLY_FRAME_TYPES: ReadonlySet<number> = new Set([0x2, 0x6, 0x8, 0x9]);

/**
 * Tells whether a frame, stream, setting or error code value is one of the reserved "grease" values
 * `0x1f * N + 0x21`, which receivers ignore (RFC 9114 §7.2.8, §6.2.3, §7.2.4.1, §8.1).
 *
 * @example Grease values
 * ```ts
 * import { isReservedType } from "./frames.ts";
 * console.assert(isReservedType(0x21) && isReservedType(0x40) && !isReservedType(0x22));
 * ```
 * @param type The value to test.
 * @returns True for `0x1f * N + 0x21`.
 */
export function isReservedType(type: number | bigint): boolean {
  if (typeof type === "bigint") return type >= 0x21n && (type - 0x21n) % 0x1fn === 0n;
  return type >= 0x21 && (type - 0x21) % 0x1f === 0;
}

/**
 * Encodes a frame header (type and payload length). Write the payload after it: a large DATA payload
 * then goes out without being copied.
 *
 * @example A DATA frame header for a 100 KiB chunk
 * ```ts
 * import { encodeFrameHeader, FrameType } from "./frames.ts";
 * console.assert(encodeFrameHeader(FrameType.DATA, 102_400).join() === [0x00, 0x80, 0x01, 0x90, 0x00].join());
 * ```
 * @param type The frame type.
 * @param payloadLength The payload length in bytes.
 * @returns The header bytes.
 * @throws {RangeError} If either value is not an integer from 0 to 2^62 - 1.
 */
export function encodeFrameHeader(type: number | bigint, payloadLength: number): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(payloadLength));
  writeVarint(out, writeVarint(out, 0, type), payloadLength);
  return out;
}

/**
 * Encodes a whole frame, copying the payload behind its header.
 *
 * @example A HEADERS frame
 * ```ts
 * import { encodeFrame, FrameType } from "./frames.ts";
 * const frame = encodeFrame(FrameType.HEADERS, new Uint8Array([0x00, 0x00, 0xd9]));
 * console.assert(frame.join() === [0x01, 0x03, 0x00, 0x00, 0xd9].join());
 * ```
 * @param type The frame type.
 * @param payload The payload.
 * @returns The frame bytes.
 * @throws {RangeError} If `type` is not an integer from 0 to 2^62 - 1.
 */
export function encodeFrame(type: number | bigint, payload: Uint8Array): Uint8Array {
  const headerLength = varintLength(type) + varintLength(payload.length);
  const out = new Uint8Array(headerLength + payload.length);
  writeVarint(out, writeVarint(out, 0, type), payload.length);
  out.set(payload, headerLength);
  return out;
}

/**
 * Encodes a frame whose payload is one id: GOAWAY (a stream or push id), MAX_PUSH_ID or CANCEL_PUSH.
 *
 * @example GOAWAY after request stream 8
 * ```ts
 * import { encodeIdFrame, FrameType } from "./frames.ts";
 * console.assert(encodeIdFrame(FrameType.GOAWAY, 12).join() === [0x07, 0x01, 0x0c].join());
 * ```
 * @param type `FrameType.GOAWAY`, `FrameType.MAX_PUSH_ID` or `FrameType.CANCEL_PUSH`.
 * @param id The id.
 * @returns The frame bytes.
 * @throws {RangeError} If `id` is not an integer from 0 to 2^62 - 1.
 */
export function encodeIdFrame(
  type: typeof FrameType.GOAWAY | typeof FrameType.MAX_PUSH_ID | typeof FrameType.CANCEL_PUSH,
  id: number,
): Uint8Array {
  return encodeFrame(type, encodeVarint(id));
}

/**
 * Decodes the payload of a GOAWAY, MAX_PUSH_ID or CANCEL_PUSH frame: exactly one varint.
 *
 * @example Read a GOAWAY id
 * ```ts
 * import { decodeIdPayload, FrameType } from "./frames.ts";
 * console.assert(decodeIdPayload(FrameType.GOAWAY, new Uint8Array([0x0c])) === 12);
 * ```
 * @param type The frame type, for the error message.
 * @param payload The frame payload.
 * @returns The id.
 * @throws {Http3Error} `H3_FRAME_ERROR` if the payload is not exactly one varint, or the id is above
 * `Number.MAX_SAFE_INTEGER`.
 */
export function decodeIdPayload(type: number, payload: Uint8Array): number {
  let id;
  try {
    id = decodeVarint(payload, 0);
  } catch (cause) {
    throw new Http3Error(Http3ErrorCode.H3_FRAME_ERROR, `Cannot decode ${frameTypeName(type)} frame: id too large`, {
      cause,
    });
  }
  if (!id || id.length !== payload.length) {
    throw new Http3Error(
      Http3ErrorCode.H3_FRAME_ERROR,
      `Cannot decode ${
        frameTypeName(type)
      } frame: the payload must be exactly one varint (got ${payload.length} bytes)`,
    );
  }
  return id.value;
}

/**
 * Encodes the varint that opens a unidirectional stream.
 *
 * @example The control stream's first byte
 * ```ts
 * import { encodeStreamType, StreamType } from "./frames.ts";
 * console.assert(encodeStreamType(StreamType.CONTROL).join() === "0");
 * ```
 * @param type A {@linkcode StreamType}, or a reserved type to grease.
 * @returns The encoded stream type.
 * @throws {RangeError} If `type` is not an integer from 0 to 2^62 - 1.
 */
export function encodeStreamType(type: number | bigint): Uint8Array {
  return encodeVarint(type);
}

/**
 * Names a frame type for messages and logs.
 *
 * @param type The frame type.
 * @returns `"HEADERS"`, `"RESERVED(0x21)"`, `"UNKNOWN(0x…)"`, and so on.
 */
export function frameTypeName(type: number): string {
  for (const [name, value] of Object.entries(FrameType)) if (value === type) return name;
  return `${isReservedType(type) ? "RESERVED" : "UNKNOWN"}(0x${type.toString(16)})`;
}
