/**
 * The peer's QPACK encoder and decoder streams (RFC 9204 §4.3, §4.4), checked for an endpoint whose
 * dynamic table is disabled: we advertise `SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0` and never reference
 * the peer's table, so almost every instruction is an error. Such streams usually stay empty, but they
 * must be read, and must not be closed (RFC 9204 §4.2).
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";

/** Which of the peer's QPACK streams: its encoder stream (type 0x02) or decoder stream (type 0x03). */
export type QpackStreamKind = "encoder" | "decoder";

/**
 * Checks the instructions on a peer's QPACK encoder or decoder stream, across chunk boundaries.
 *
 * Allowed on the encoder stream: Set Dynamic Table Capacity to 0. Allowed on the decoder stream:
 * Stream Cancellation (the peer may send one for each reset stream). Anything else is a connection
 * error.
 *
 * @example Check the peer's decoder stream
 * ```ts
 * import { QpackStreamChecker } from "./qpack_streams.ts";
 * const checker = new QpackStreamChecker("decoder");
 * console.assert(checker.push(new Uint8Array([0x44])).join() === "4"); // Stream Cancellation of stream 4
 * ```
 */
export class QpackStreamChecker {
  readonly #kind: QpackStreamKind;
  #carry: Uint8Array = new Uint8Array(0);

  /**
   * Creates a checker.
   *
   * @param kind Which stream it reads: the peer's `"encoder"` or `"decoder"` stream.
   */
  constructor(kind: QpackStreamKind) {
    this.#kind = kind;
  }

  /**
   * Checks the next bytes of the stream.
   *
   * @param chunk The bytes, after the stream type.
   * @returns The stream ids in Stream Cancellation instructions (decoder stream only).
   * @throws {Http3Error} `QPACK_ENCODER_STREAM_ERROR` for a table capacity above 0 or any insert or
   * duplicate; `QPACK_DECODER_STREAM_ERROR` for a Section Acknowledgment or an Insert Count Increment,
   * since we never send dynamic references.
   */
  push(chunk: Uint8Array): number[] {
    let bytes = chunk;
    if (this.#carry.length > 0) {
      bytes = new Uint8Array(this.#carry.length + chunk.length);
      bytes.set(this.#carry);
      bytes.set(chunk, this.#carry.length);
    }
    const cancelled: number[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      const first = bytes[offset];
      const prefix = this.#kind === "encoder" ? 5 : first & 0x80 ? 7 : 6;
      const int = readInt(bytes, offset, prefix);
      if (int === undefined) break;
      if (int === null) throw this.#fail("an integer is too large");
      offset = int.end;
      if (this.#kind === "encoder") {
        if ((first & 0xe0) !== 0x20) {
          const what = first & 0x80
            ? "an Insert with Name Reference"
            : first & 0x40
            ? "an Insert with Literal Name"
            : "a Duplicate";
          throw this.#fail(`${what} instruction, but the dynamic table capacity is 0`);
        }
        if (int.value > 0) throw this.#fail(`Set Dynamic Table Capacity to ${int.value}, above the maximum of 0`);
      } else if (first & 0x80) {
        throw this.#fail(`a Section Acknowledgment for stream ${int.value}, which had no dynamic references`);
      } else if (first & 0x40) {
        cancelled.push(int.value);
      } else {
        throw this.#fail(`an Insert Count Increment of ${int.value}, but no entries were inserted`);
      }
    }
    this.#carry = bytes.slice(offset);
    return cancelled;
  }

  #fail(reason: string): Http3Error {
    const code = this.#kind === "encoder"
      ? Http3ErrorCode.QPACK_ENCODER_STREAM_ERROR
      : Http3ErrorCode.QPACK_DECODER_STREAM_ERROR;
    return new Http3Error(code, `Cannot accept QPACK ${this.#kind} stream: ${reason}`);
  }
}

/** A prefixed integer: its value and end, `undefined` if incomplete, `null` if too large. */
function readInt(
  bytes: Uint8Array,
  offset: number,
  prefixBits: number,
): { value: number; end: number } | undefined | null {
  const mask = (1 << prefixBits) - 1;
  let value = bytes[offset] & mask;
  let end = offset + 1;
  if (value < mask) return { value, end };
  for (let shift = 0;; shift += 7) {
    if (end >= bytes.length) return undefined;
    const byte = bytes[end++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return value > Number.MAX_SAFE_INTEGER ? null : { value, end };
    if (shift >= 42) return null;
  }
}
