/**
 * Incremental HTTP/3 frame parsing (RFC 9114 §7.1): {@linkcode FrameParser} takes bytes as they arrive,
 * {@linkcode FrameReader} pulls them from a `ReadableStream`. DATA payloads stream through in pieces and
 * are never buffered whole; other frames are buffered up to a limit; unknown and reserved frame types
 * are skipped without buffering.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { FrameType, frameTypeName, HTTP2_ONLY_FRAME_TYPES, StreamType } from "./frames.ts";
import { decodeVarint, decodeVarintBigInt } from "./varint.ts";

/** Default largest payload of a buffered frame (HEADERS, SETTINGS, …): 64 KiB. */
export const DEFAULT_MAX_FRAME_PAYLOAD = 65_536;

/** What the parser found. */
export type FrameEvent =
  /** The varint that opens a unidirectional stream (only with `readStreamType`). */
  | { kind: "stream-type"; streamType: number }
  /** A whole frame other than DATA, with its payload copied. */
  | { kind: "frame"; type: number; payload: Uint8Array }
  /** A piece of a DATA frame's payload, viewing the pushed chunk; `frameEnd` marks the frame's last piece. */
  | { kind: "data"; data: Uint8Array; frameEnd: boolean }
  /** Bytes after a stream type other than CONTROL (QPACK instructions, a push id, an unknown stream). */
  | { kind: "raw"; data: Uint8Array };

/** Options for {@linkcode FrameParser} and {@linkcode FrameReader}. */
export interface FrameParserOptions {
  /** Largest payload of a buffered frame; DATA and skipped frames are not limited. @default {65_536} */
  maxFramePayload?: number;
  /**
   * Read a unidirectional stream type first. After `StreamType.CONTROL` frames follow; after any other
   * type the rest of the stream is passed on as `raw` events.
   * @default {false}
   */
  readStreamType?: boolean;
}

const KNOWN: ReadonlySet<number> = new Set(Object.values(FrameType));
const EMPTY = new Uint8Array(0);

/**
 * A push-based frame parser for one stream.
 *
 * @example Parse a HEADERS frame and a DATA frame that arrive split
 * ```ts
 * import { FrameParser } from "./frame_parser.ts";
 * const parser = new FrameParser();
 * const events = [
 *   ...parser.push(new Uint8Array([0x01, 0x02, 0x00, 0x00, 0x00, 0x04, 0x68])),
 *   ...parser.push(new Uint8Array([0x69, 0x21, 0x21])),
 * ];
 * parser.finish();
 * console.assert(events.length === 3 && events[0].kind === "frame" && events[2].kind === "data");
 * ```
 */
export class FrameParser {
  readonly #maxPayload: number;
  #state: "stream-type" | "header" | "payload" | "data" | "skip" | "raw";
  #carry: Uint8Array = EMPTY;
  #type = 0;
  #remaining = 0;
  #payload: Uint8Array = EMPTY;

  /**
   * Creates a parser.
   *
   * @param options Limits and whether a stream type comes first.
   * @throws {RangeError} If `maxFramePayload` is not a non-negative integer.
   */
  constructor(options: FrameParserOptions = {}) {
    const { maxFramePayload = DEFAULT_MAX_FRAME_PAYLOAD, readStreamType = false } = options;
    if (!Number.isSafeInteger(maxFramePayload) || maxFramePayload < 0) {
      throw new RangeError(
        `Cannot create FrameParser as 'maxFramePayload' must be a non-negative integer: current value is ${maxFramePayload}`,
      );
    }
    this.#maxPayload = maxFramePayload;
    this.#state = readStreamType ? "stream-type" : "header";
  }

  /** True between frames, where the stream may end cleanly. */
  get atFrameBoundary(): boolean {
    return (this.#state === "header" || this.#state === "raw") && this.#carry.length === 0;
  }

  /**
   * Parses the next bytes of the stream.
   *
   * @param chunk The bytes; `data` and `raw` events view it, so do not reuse it until they are handled.
   * @returns The events the bytes completed, in order.
   * @throws {Http3Error} `H3_FRAME_UNEXPECTED` for an HTTP/2 frame type, `H3_EXCESSIVE_LOAD` for a
   * buffered frame above `maxFramePayload`, `H3_FRAME_ERROR` for a length above 2^53 - 1.
   */
  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.#state) {
        case "raw":
          events.push({ kind: "raw", data: offset === 0 ? chunk : chunk.subarray(offset) });
          return events;
        case "stream-type":
        case "header": {
          const used = this.#header(chunk, offset, events);
          if (used < 0) return events; // need more bytes; the rest is carried over
          offset = used;
          break;
        }
        case "data": {
          const n = Math.min(this.#remaining, chunk.length - offset);
          this.#remaining -= n;
          const frameEnd = this.#remaining === 0;
          events.push({ kind: "data", data: chunk.subarray(offset, offset + n), frameEnd });
          offset += n;
          if (frameEnd) this.#state = "header";
          break;
        }
        case "skip": {
          const n = Math.min(this.#remaining, chunk.length - offset);
          this.#remaining -= n;
          offset += n;
          if (this.#remaining === 0) this.#state = "header";
          break;
        }
        case "payload": {
          const n = Math.min(this.#remaining, chunk.length - offset);
          const filled = this.#payload.length - this.#remaining;
          this.#payload.set(chunk.subarray(offset, offset + n), filled);
          this.#remaining -= n;
          offset += n;
          if (this.#remaining === 0) {
            events.push({ kind: "frame", type: this.#type, payload: this.#payload });
            this.#payload = EMPTY;
            this.#state = "header";
          }
          break;
        }
      }
    }
    return events;
  }

  /**
   * Tells the parser that the stream ended cleanly.
   *
   * @throws {Http3Error} `H3_FRAME_ERROR` if the stream ended inside a frame (RFC 9114 §7.1).
   */
  finish(): void {
    if (this.#state === "stream-type" || this.atFrameBoundary) return;
    const where = this.#state === "header" ? "a frame header" : `a ${frameTypeName(this.#type)} frame`;
    throw new Http3Error(Http3ErrorCode.H3_FRAME_ERROR, `Cannot parse frames: the stream ended inside ${where}`);
  }

  /** Reads a stream type or frame header at `offset`; returns the new offset, or -1 if it needs more bytes. */
  #header(chunk: Uint8Array, offset: number, events: FrameEvent[]): number {
    let bytes = chunk;
    let start = offset;
    const carried = this.#carry.length;
    if (carried > 0) {
      const take = Math.min(chunk.length - offset, 16 - carried); // a header is at most 16 bytes
      bytes = new Uint8Array(carried + take);
      bytes.set(this.#carry);
      bytes.set(chunk.subarray(offset, offset + take), carried);
      start = 0;
    }
    const type = decodeVarintBigInt(bytes, start);
    const length = type && this.#state === "header" ? readLength(bytes, start + type.length) : undefined;
    if (!type || (this.#state === "header" && length === undefined)) {
      // Everything left is shorter than a header (at most 16 bytes): keep it for the next chunk.
      this.#carry = carried > 0 ? bytes : chunk.slice(offset);
      return -1;
    }
    const size = type!.length + (length?.length ?? 0);
    const next = carried > 0 ? offset + size - carried : offset + size;
    this.#carry = EMPTY;
    const typeNumber = type!.value > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(type!.value);
    if (this.#state === "stream-type") {
      events.push({ kind: "stream-type", streamType: typeNumber < 0 ? Number(type!.value) : typeNumber });
      this.#state = typeNumber === StreamType.CONTROL ? "header" : "raw";
      return next;
    }
    this.#start(typeNumber, length!.value, events);
    return next;
  }

  #start(type: number, length: number, events: FrameEvent[]): void {
    this.#type = type;
    this.#remaining = length;
    if (type === FrameType.DATA) {
      if (length === 0) events.push({ kind: "data", data: EMPTY, frameEnd: true });
      else this.#state = "data";
    } else if (HTTP2_ONLY_FRAME_TYPES.has(type)) {
      throw new Http3Error(
        Http3ErrorCode.H3_FRAME_UNEXPECTED,
        `Cannot accept frame type 0x${type.toString(16)}: it is reserved because HTTP/2 used it`,
      );
    } else if (!KNOWN.has(type)) {
      if (length > 0) this.#state = "skip";
    } else if (length > this.#maxPayload) {
      throw new Http3Error(
        Http3ErrorCode.H3_EXCESSIVE_LOAD,
        `Cannot accept ${
          frameTypeName(type)
        } frame: its ${length}-byte payload is above the limit of ${this.#maxPayload} bytes`,
      );
    } else if (length === 0) {
      events.push({ kind: "frame", type, payload: new Uint8Array(0) });
    } else {
      this.#payload = new Uint8Array(length);
      this.#state = "payload";
    }
  }
}

function readLength(bytes: Uint8Array, offset: number): { value: number; length: number } | undefined {
  try {
    return decodeVarint(bytes, offset);
  } catch (cause) {
    throw new Http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot parse frame: its length is above 2^53 - 1", {
      cause,
    });
  }
}
