/**
 * QUIC variable-length integers (RFC 9000 §16): 1, 2, 4 or 8 bytes, the length in the two high bits of
 * the first byte, values up to 2^62 - 1.
 *
 * JavaScript numbers hold integers exactly up to `Number.MAX_SAFE_INTEGER` (2^53 - 1), so
 * {@linkcode decodeVarint} rejects larger values with a `RangeError`; {@linkcode decodeVarintBigInt}
 * reads the full range.
 * @module
 */

/** The largest value a QUIC variable-length integer holds: 2^62 - 1. */
export const MAX_VARINT: bigint = (1n << 62n) - 1n;

/** A decoded integer and the number of bytes it took. */
export interface Varint<T extends number | bigint = number> {
  /** The integer. */
  value: T;
  /** How many bytes it took: 1, 2, 4 or 8. */
  length: 1 | 2 | 4 | 8;
}

/**
 * Tells how many bytes a value takes as a variable-length integer.
 *
 * @example Sizes
 * ```ts
 * import { varintLength } from "./varint.ts";
 * console.assert(varintLength(63) === 1 && varintLength(64) === 2 && varintLength(16_384) === 4);
 * ```
 * @param value A non-negative integer up to 2^62 - 1.
 * @returns 1, 2, 4 or 8.
 * @throws {RangeError} If `value` is negative, not an integer, or above 2^62 - 1.
 */
export function varintLength(value: number | bigint): 1 | 2 | 4 | 8 {
  if (typeof value === "bigint") {
    if (value < 0n || value > MAX_VARINT) throw outOfRange(value);
    return value < 0x4000_0000n ? varintLength(Number(value)) : 8;
  }
  if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(value);
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/**
 * Writes a variable-length integer into `buffer` at `offset`, in its shortest form.
 *
 * @param buffer The destination; it must have room for {@linkcode varintLength} bytes.
 * @param offset Where to write.
 * @param value A non-negative integer up to 2^62 - 1.
 * @returns The number of bytes written.
 * @throws {RangeError} If `value` is out of range or `buffer` is too short.
 */
export function writeVarint(buffer: Uint8Array, offset: number, value: number | bigint): number {
  const length = varintLength(value);
  if (offset < 0 || offset + length > buffer.length) {
    throw new RangeError(
      `Cannot write a ${length}-byte varint at offset ${offset}: the buffer holds ${buffer.length} bytes`,
    );
  }
  if (length === 8) {
    let v = BigInt(value);
    for (let i = 7; i >= 0; i--, v >>= 8n) buffer[offset + i] = Number(v & 0xffn);
    buffer[offset] |= 0xc0;
    return 8;
  }
  const n = Number(value);
  if (length === 1) {
    buffer[offset] = n;
  } else if (length === 2) {
    buffer[offset] = 0x40 | (n >>> 8);
    buffer[offset + 1] = n & 0xff;
  } else {
    buffer[offset] = 0x80 | (n >>> 24);
    buffer[offset + 1] = (n >>> 16) & 0xff;
    buffer[offset + 2] = (n >>> 8) & 0xff;
    buffer[offset + 3] = n & 0xff;
  }
  return length;
}

/**
 * Encodes a variable-length integer in its shortest form.
 *
 * @example Encode
 * ```ts
 * import { encodeVarint } from "./varint.ts";
 * console.assert(encodeVarint(15_293).join() === [0x7b, 0xbd].join());
 * ```
 * @param value A non-negative integer up to 2^62 - 1.
 * @returns The encoded bytes.
 * @throws {RangeError} If `value` is negative, not an integer, or above 2^62 - 1.
 */
export function encodeVarint(value: number | bigint): Uint8Array {
  const out = new Uint8Array(varintLength(value));
  writeVarint(out, 0, value);
  return out;
}

/**
 * Decodes a variable-length integer as a `number`.
 *
 * @example Decode from a buffer
 * ```ts
 * import { decodeVarint } from "./varint.ts";
 * const v = decodeVarint(new Uint8Array([0x9d, 0x7f, 0x3e, 0x7d]), 0);
 * console.assert(v?.value === 494_878_333 && v.length === 4);
 * ```
 * @param buffer The bytes.
 * @param offset Where the integer starts.
 * @returns The value and its length, or `undefined` if `buffer` ends before the integer does.
 * @throws {RangeError} If the value is above `Number.MAX_SAFE_INTEGER` (use {@linkcode decodeVarintBigInt}).
 */
export function decodeVarint(buffer: Uint8Array, offset: number): Varint | undefined {
  if (offset >= buffer.length) return undefined;
  const first = buffer[offset];
  const length = (1 << (first >> 6)) as 1 | 2 | 4 | 8;
  if (offset + length > buffer.length) return undefined;
  let value = first & 0x3f;
  if (length === 8 && (value !== 0 || buffer[offset + 1] >= 0x20)) {
    const big = decodeVarintBigInt(buffer, offset)!.value;
    throw new RangeError(
      `Cannot decode varint as a number: ${big} is above Number.MAX_SAFE_INTEGER (use decodeVarintBigInt)`,
    );
  }
  for (let i = 1; i < length; i++) value = value * 256 + buffer[offset + i];
  return { value, length };
}

/**
 * Decodes a variable-length integer as a `bigint`, covering the whole range up to 2^62 - 1.
 *
 * @example Decode a value beyond 2^53
 * ```ts
 * import { decodeVarintBigInt } from "./varint.ts";
 * const bytes = new Uint8Array([0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c]);
 * console.assert(decodeVarintBigInt(bytes, 0)?.value === 151_288_809_941_952_652n);
 * ```
 * @param buffer The bytes.
 * @param offset Where the integer starts.
 * @returns The value and its length, or `undefined` if `buffer` ends before the integer does.
 */
export function decodeVarintBigInt(buffer: Uint8Array, offset: number): Varint<bigint> | undefined {
  if (offset >= buffer.length) return undefined;
  const length = (1 << (buffer[offset] >> 6)) as 1 | 2 | 4 | 8;
  if (offset + length > buffer.length) return undefined;
  let value = BigInt(buffer[offset] & 0x3f);
  for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(buffer[offset + i]);
  return { value, length };
}

function outOfRange(value: number | bigint): RangeError {
  return new RangeError(
    `Cannot encode varint as 'value' must be an integer from 0 to 2^62 - 1: current value is ${value}`,
  );
}
