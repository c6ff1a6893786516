/**
 * Internal: QPACK's wire primitives, prefixed integers (RFC 7541 §5.1 as used by RFC 9204 §4.1.1)
 * and string literals (RFC 9204 §4.1.2), read with {@linkcode WireReader} and written with
 * {@linkcode WireWriter}.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { latin1Decode } from "./_fields.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";

/** Reads prefixed integers and string literals; every failure is `QPACK_DECOMPRESSION_FAILED`. */
export class WireReader {
  readonly data: Uint8Array;
  pos = 0;
  readonly #what: string;

  constructor(data: Uint8Array, what: string) {
    this.data = data;
    this.#what = what;
  }

  fail(reason: string, code: number = Http3ErrorCode.QPACK_DECOMPRESSION_FAILED, cause?: unknown): Http3Error {
    return new Http3Error(code, `Cannot decode ${this.#what}: ${reason}`, cause ? { cause } : undefined);
  }

  get done(): boolean {
    return this.pos >= this.data.length;
  }

  /** Reads an integer with an N-bit prefix, starting in the current byte. */
  int(prefixBits: number): number {
    const { data } = this;
    if (this.pos >= data.length) throw this.truncated();
    const mask = (1 << prefixBits) - 1;
    let value = data[this.pos++] & mask;
    if (value < mask) return value;
    for (let shift = 0;; shift += 7) {
      if (this.pos >= data.length) throw this.truncated();
      const byte = data[this.pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
      if (shift >= 42) throw this.fail(`an integer at byte ${this.pos - 1} is too large`);
    }
    if (value > Number.MAX_SAFE_INTEGER) throw this.fail(`an integer at byte ${this.pos - 1} is too large`);
    return value;
  }

  /** Reads a string literal whose H bit sits just above an N-bit length prefix. */
  string(prefixBits: number): string {
    if (this.pos >= this.data.length) throw this.truncated();
    const huffman = (this.data[this.pos] & (1 << prefixBits)) !== 0;
    const start = this.pos;
    const length = this.int(prefixBits);
    if (length > this.data.length - this.pos) {
      throw this.fail(`the ${length}-byte string at byte ${start} runs past the end (${this.data.length} bytes)`);
    }
    const bytes = this.data.subarray(this.pos, this.pos + length);
    this.pos += length;
    if (!huffman) return latin1Decode(bytes);
    try {
      return latin1Decode(huffmanDecode(bytes));
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message.replace(/^Cannot decode Huffman string: /, "") : cause;
      throw this.fail(`the Huffman string at byte ${start} is invalid: ${reason}`, undefined, cause);
    }
  }

  truncated(): Http3Error {
    return this.fail(`it is truncated (${this.data.length} bytes)`);
  }
}

/** Appends bytes to a buffer that grows. */
export class WireWriter {
  #buffer: Uint8Array;
  #length = 0;

  constructor(capacity = 256) {
    this.#buffer = new Uint8Array(capacity);
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + n));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
  }

  /** Writes an integer with an N-bit prefix; `flags` holds the bits above the prefix. */
  int(flags: number, prefixBits: number, value: number): void {
    this.#reserve(10);
    const mask = (1 << prefixBits) - 1;
    if (value < mask) {
      this.#buffer[this.#length++] = flags | value;
      return;
    }
    this.#buffer[this.#length++] = flags | mask;
    for (value -= mask; value >= 0x80; value = Math.floor(value / 0x80)) {
      this.#buffer[this.#length++] = (value % 0x80) | 0x80;
    }
    this.#buffer[this.#length++] = value;
  }

  /** Writes a string literal, Huffman-coded when that is shorter and allowed; H is the bit above the prefix. */
  string(flags: number, prefixBits: number, bytes: Uint8Array, huffman: boolean): void {
    if (huffman && bytes.length > 0 && huffmanEncodedLength(bytes) < bytes.length) {
      const encoded = huffmanEncode(bytes);
      this.int(flags | (1 << prefixBits), prefixBits, encoded.length);
      this.bytes(encoded);
    } else {
      this.int(flags, prefixBits, bytes.length);
      this.bytes(bytes);
    }
  }

  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}
