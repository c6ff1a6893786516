/**
 * Frames of the TLS/TCP multiplexer (PROTOCOL.md section 5) and an incremental parser:
 *
 * ```
 * type (u8) | stream id (u32, big-endian) | length (u32, big-endian) | payload (length bytes)
 * ```
 * @module
 */
import { TunnelError } from "./errors.ts";
import { MAX_STREAM_HEADER_BYTES } from "./stream_header.ts";

/** The frame types. */
export const FrameType: {
  readonly DATA: 0;
  readonly OPEN: 1;
  readonly FIN: 2;
  readonly RST: 3;
  readonly WINDOW: 4;
  readonly PING: 5;
  readonly PONG: 6;
} = Object.freeze({ DATA: 0, OPEN: 1, FIN: 2, RST: 3, WINDOW: 4, PING: 5, PONG: 6 } as const);

/** A frame type number, 0 to 6. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** Bytes before the payload: type, stream id, length. */
export const FRAME_HEADER_BYTES = 9;
/** Largest `DATA` payload. */
export const MAX_DATA_BYTES = 16_384;
/** Largest frame: a full `DATA` frame. */
export const MAX_FRAME_BYTES: number = FRAME_HEADER_BYTES + MAX_DATA_BYTES;

const NAMES = ["DATA", "OPEN", "FIN", "RST", "WINDOW", "PING", "PONG"] as const;
/** Payload length limits per type: `[min, max]`. */
const LIMITS: readonly (readonly [number, number])[] = [
  [1, MAX_DATA_BYTES],
  [1, MAX_STREAM_HEADER_BYTES],
  [0, 0],
  [2, 2],
  [4, 4],
  [8, 8],
  [8, 8],
];

/** One frame. */
export interface Frame {
  /** The frame type. */
  type: FrameType;
  /** The stream id (0 is the control stream). */
  streamId: number;
  /** The payload; for `DATA`, a view into the parser's input when the frame arrived in one piece. */
  payload: Uint8Array;
}

/** The name of a frame type (`"DATA"`, …), for messages. */
export function frameTypeName(type: number): string {
  return NAMES[type] ?? `type ${type}`;
}

/**
 * Writes a frame header into `target` at `offset`.
 *
 * @param target Where to write; needs {@linkcode FRAME_HEADER_BYTES} bytes from `offset`.
 * @param offset Where the header starts.
 * @param type The frame type.
 * @param streamId The stream id.
 * @param length The payload length.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  type: FrameType,
  streamId: number,
  length: number,
): void {
  target[offset] = type;
  target[offset + 1] = streamId >>> 24;
  target[offset + 2] = streamId >>> 16;
  target[offset + 3] = streamId >>> 8;
  target[offset + 4] = streamId;
  target[offset + 5] = length >>> 24;
  target[offset + 6] = length >>> 16;
  target[offset + 7] = length >>> 8;
  target[offset + 8] = length;
}

/**
 * Encodes one frame.
 *
 * @example A WINDOW frame
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame, FrameType } from "./mux_frame.ts";
 * const frame = encodeFrame(FrameType.WINDOW, 2, new Uint8Array([0, 2, 0, 0]));
 * assert.deepEqual([...frame], [4, 0, 0, 0, 2, 0, 0, 0, 4, 0, 2, 0, 0]);
 * ```
 * @param type The frame type.
 * @param streamId The stream id, 0 to 2^32 - 1.
 * @param payload The payload (empty by default).
 * @returns The frame bytes.
 */
export function encodeFrame(type: FrameType, streamId: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.byteLength);
  writeFrameHeader(out, 0, type, streamId, payload.byteLength);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Checks a frame header's type and length (PROTOCOL.md section 5).
 *
 * @param type The type byte.
 * @param streamId The stream id (for the message).
 * @param length The payload length.
 * @returns What is wrong with it, or `undefined` if it is valid.
 */
export function frameHeaderProblem(type: number, streamId: number, length: number): string | undefined {
  const limits = LIMITS[type];
  if (!limits) return `unknown type ${type} on stream ${streamId}`;
  if (length < limits[0] || length > limits[1]) {
    const expected = limits[0] === limits[1] ? `exactly ${limits[0]}` : `${limits[0]} to ${limits[1]}`;
    return `${NAMES[type]} on stream ${streamId} has length ${length}, expected ${expected} bytes`;
  }
  return undefined;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Splits a byte stream into frames, validating each header before its payload is buffered. It
 * holds at most one partial frame ({@linkcode MAX_FRAME_BYTES}) plus the chunk being parsed.
 *
 * @example Parse frames that arrive in pieces
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeFrame, FrameParser, FrameType } from "./mux_frame.ts";
 * const bytes = encodeFrame(FrameType.DATA, 2, new Uint8Array([1, 2, 3]));
 * const parser = new FrameParser();
 * parser.push(bytes.subarray(0, 5));
 * assert.equal(parser.next(), undefined);
 * parser.push(bytes.subarray(5));
 * assert.deepEqual(parser.next(), { type: FrameType.DATA, streamId: 2, payload: new Uint8Array([1, 2, 3]) });
 * ```
 */
export class FrameParser {
  #chunk: Uint8Array = new Uint8Array(0);
  #at = 0;
  #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFill = 0;
  #pending: { type: FrameType; streamId: number; payload: Uint8Array; fill: number } | undefined;
  #failure: TunnelError | undefined;

  /** Bytes held for a partial frame (header and payload so far). */
  get bufferedBytes(): number {
    return this.#pending ? FRAME_HEADER_BYTES + this.#pending.fill : this.#headerFill;
  }

  /**
   * Adds input. Call {@linkcode FrameParser.next} until it returns `undefined` before pushing
   * again: the parser keeps a view of `chunk`, not a copy.
   *
   * @param chunk The next bytes of the stream.
   * @throws {TypeError} If the previous chunk was not fully parsed.
   */
  push(chunk: Uint8Array): void {
    if (this.#at < this.#chunk.byteLength) {
      throw new TypeError("Cannot push to FrameParser: the previous chunk was not fully parsed");
    }
    this.#chunk = chunk;
    this.#at = 0;
  }

  /**
   * Returns the next complete frame, or `undefined` when the input is used up.
   *
   * @returns The frame; a `DATA` payload that arrived whole is a view into the pushed chunk.
   * @throws {TunnelError} Coded `protocol` for an unknown type or a bad length. The parser is
   * then unusable.
   */
  next(): Frame | undefined {
    if (this.#failure) throw this.#failure;
    const chunk = this.#chunk;
    const pending = this.#pending;
    if (pending) {
      const take = Math.min(pending.payload.byteLength - pending.fill, chunk.byteLength - this.#at);
      pending.payload.set(chunk.subarray(this.#at, this.#at + take), pending.fill);
      pending.fill += take;
      this.#at += take;
      if (pending.fill < pending.payload.byteLength) return undefined;
      this.#pending = undefined;
      return { type: pending.type, streamId: pending.streamId, payload: pending.payload };
    }
    let header: Uint8Array;
    let headerAt: number;
    if (this.#headerFill === 0 && chunk.byteLength - this.#at >= FRAME_HEADER_BYTES) {
      header = chunk;
      headerAt = this.#at;
      this.#at += FRAME_HEADER_BYTES;
    } else {
      const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.byteLength - this.#at);
      this.#header.set(chunk.subarray(this.#at, this.#at + take), this.#headerFill);
      this.#headerFill += take;
      this.#at += take;
      if (this.#headerFill < FRAME_HEADER_BYTES) return undefined;
      this.#headerFill = 0;
      header = this.#header;
      headerAt = 0;
    }
    const type = header[headerAt];
    const streamId = u32(header, headerAt + 1);
    const length = u32(header, headerAt + 5);
    const problem = frameHeaderProblem(type, streamId, length);
    if (problem !== undefined) return this.#fail(problem);
    if (chunk.byteLength - this.#at >= length) {
      const payload = chunk.subarray(this.#at, this.#at + length);
      this.#at += length;
      return { type: type as FrameType, streamId, payload };
    }
    this.#pending = { type: type as FrameType, streamId, payload: new Uint8Array(length), fill: 0 };
    return this.next();
  }

  #fail(detail: string): never {
    this.#chunk = new Uint8Array(0);
    this.#at = 0;
    this.#pending = undefined;
    this.#failure = new TunnelError("protocol", `Invalid mux frame: ${detail}`);
    throw this.#failure;
  }
}
