/**
 * HTTP/3 and QPACK error codes (RFC 9114 §8.1, RFC 9204 §6, RFC 9297 §5.2) and the typed
 * {@linkcode Http3Error} that every parser in this folder throws.
 * @module
 */

/**
 * The HTTP/3 error codes, by name. The values go into QUIC `CONNECTION_CLOSE`, `RESET_STREAM` and
 * `STOP_SENDING` frames.
 */
export const Http3ErrorCode = {
  H3_NO_ERROR: 0x100,
  H3_GENERAL_PROTOCOL_ERROR: 0x101,
  H3_INTERNAL_ERROR: 0x102,
  H3_STREAM_CREATION_ERROR: 0x103,
  H3_CLOSED_CRITICAL_STREAM: 0x104,
  H3_FRAME_UNEXPECTED: 0x105,
  H3_FRAME_ERROR: 0x106,
  H3_EXCESSIVE_LOAD: 0x107,
  H3_ID_ERROR: 0x108,
  H3_SETTINGS_ERROR: 0x109,
  H3_MISSING_SETTINGS: 0x10a,
  H3_REQUEST_REJECTED: 0x10b,
  H3_REQUEST_CANCELLED: 0x10c,
  H3_REQUEST_INCOMPLETE: 0x10d,
  H3_MESSAGE_ERROR: 0x10e,
  H3_CONNECT_ERROR: 0x10f,
  H3_VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
  H3_DATAGRAM_ERROR: 0x33,
} as const;

/** The name of a known HTTP/3 error code, such as `"H3_FRAME_ERROR"`. */
export type Http3ErrorName = keyof typeof Http3ErrorCode;

const NAMES: ReadonlyMap<number, Http3ErrorName> = new Map(
  Object.entries(Http3ErrorCode).map(([name, code]) => [code, name as Http3ErrorName]),
);

/**
 * Names an HTTP/3 error code for logs, including codes a peer sent that we do not know.
 *
 * @example Name a code
 * ```ts
 * import { http3ErrorName } from "./errors.ts";
 * console.assert(http3ErrorName(0x10e) === "H3_MESSAGE_ERROR");
 * console.assert(http3ErrorName(0x21) === "RESERVED(0x21)");
 * console.assert(http3ErrorName(0x999) === "UNKNOWN(0x999)");
 * ```
 * @param code The error code.
 * @returns The code's name, `RESERVED(0x…)` for a greased code (`0x1f * N + 0x21`), or `UNKNOWN(0x…)`.
 */
export function http3ErrorName(code: number): string {
  const name = NAMES.get(code);
  if (name) return name;
  const hex = `0x${code.toString(16)}`;
  return code >= 0x21 && (code - 0x21) % 0x1f === 0 ? `RESERVED(${hex})` : `UNKNOWN(${hex})`;
}

/**
 * An HTTP/3 or QPACK protocol violation. Branch on {@linkcode Http3Error.code}, never on the message.
 *
 * Whether it closes the connection or only resets a stream depends on where it happened (RFC 9114 §8):
 * `H3_MESSAGE_ERROR` is a stream error, `QPACK_DECOMPRESSION_FAILED` and `H3_FRAME_ERROR` are
 * connection errors.
 *
 * @example Branch on the code
 * ```ts
 * import { Http3Error, Http3ErrorCode } from "./errors.ts";
 * const error = new Http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot parse frame: truncated");
 * console.assert(error.codeName === "H3_FRAME_ERROR" && error.code === 0x106);
 * ```
 */
export class Http3Error extends Error {
  /** The HTTP/3 error code to send to the peer. */
  readonly code: number;

  /**
   * Creates the error.
   *
   * @param code An HTTP/3 error code, usually one of {@linkcode Http3ErrorCode}.
   * @param message A sentence saying what was wrong, in the form `Cannot decode field section: …`.
   * @param options An optional `cause`.
   */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http3Error";
    this.code = code;
  }

  /** The code's name, such as `"H3_FRAME_ERROR"` (see {@linkcode http3ErrorName}). */
  get codeName(): string {
    return http3ErrorName(this.code);
  }
}
