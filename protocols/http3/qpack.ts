/**
 * QPACK field sections (RFC 9204 §4.5) with the static table only. We advertise
 * `SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0`, so the decoder treats any dynamic table reference as
 * `QPACK_DECOMPRESSION_FAILED`, and the encoder never emits one, needing no encoder or decoder stream.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { isValidValue, latin1Encode, nameProblem, quote } from "./_fields.ts";
import { WireReader, WireWriter } from "./_qpack_wire.ts";
import { findStatic, QPACK_STATIC_TABLE } from "./qpack_static_table.ts";

/** One field line: a lowercase name and a value, both byte strings (characters up to 0xff). */
export interface HeaderField {
  /** The field name, lowercase; pseudo-headers start with `:`. */
  name: string;
  /** The field value. */
  value: string;
  /**
   * The N bit: intermediaries must not put this field into a compression table (RFC 9204 §4.5.4).
   * The decoder sets it only when the bit is set. @default {false}
   */
  neverIndex?: boolean;
}

/** Default largest decoded field section, counted as RFC 9114 §4.2.2 does: 64 KiB. */
export const DEFAULT_MAX_FIELD_SECTION_SIZE = 65_536;

/** Options for {@linkcode decodeFieldSection}. */
export interface QpackDecodeOptions {
  /**
   * Largest decoded size (the sum of name length + value length + 32 over the fields); advertise the
   * same in `SETTINGS_MAX_FIELD_SECTION_SIZE`.
   * @default {65_536}
   */
  maxFieldSectionSize?: number;
}

/** Options for {@linkcode encodeFieldSection}. */
export interface QpackEncodeOptions {
  /** Huffman-code a string when that makes it shorter. @default {true} */
  huffman?: boolean;
}

/**
 * The size of a field section as `SETTINGS_MAX_FIELD_SECTION_SIZE` counts it (RFC 9114 §4.2.2):
 * name length + value length + 32 per field. Check it against the peer's setting before sending.
 *
 * @example Size
 * ```ts
 * import { fieldSectionSize } from "./qpack.ts";
 * console.assert(fieldSectionSize([{ name: ":status", value: "200" }]) === 42);
 * ```
 * @param fields The fields.
 * @returns The size in bytes.
 */
export function fieldSectionSize(fields: Iterable<HeaderField>): number {
  let size = 0;
  for (const { name, value } of fields) size += name.length + value.length + 32;
  return size;
}

/**
 * Decodes a field section (the payload of a HEADERS frame).
 *
 * @example RFC 9204 Appendix B.1
 * ```ts
 * import { decodeFieldSection } from "./qpack.ts";
 * const bytes = [0x00, 0x00, 0x51, 0x0b, 0x2f, 0x69, 0x6e, 0x64, 0x65, 0x78, 0x2e, 0x68, 0x74, 0x6d, 0x6c];
 * const [field] = decodeFieldSection(new Uint8Array(bytes));
 * console.assert(field.name === ":path" && field.value === "/index.html");
 * ```
 * @param data The encoded field section.
 * @param options The size limit.
 * @returns The fields in order.
 * @throws {Http3Error} `QPACK_DECOMPRESSION_FAILED` (a connection error) for a reference to the
 * dynamic table, a non-zero Required Insert Count, a bad index, bad Huffman data or truncated input;
 * `H3_EXCESSIVE_LOAD` when the section is larger than `maxFieldSectionSize` (a server may answer 431);
 * `H3_MESSAGE_ERROR` (a stream error) for a field name that is empty, has uppercase letters or
 * non-token characters, or a value with NUL, CR or LF. Decoding errors take precedence.
 */
export function decodeFieldSection(data: Uint8Array, options: QpackDecodeOptions = {}): HeaderField[] {
  const { maxFieldSectionSize = DEFAULT_MAX_FIELD_SECTION_SIZE } = options;
  const r = new WireReader(data, "field section");
  const requiredInsertCount = r.int(8);
  if (requiredInsertCount !== 0) {
    throw r.fail(`its Required Insert Count is ${requiredInsertCount}, but the dynamic table is disabled`);
  }
  if (r.done) throw r.truncated();
  const negativeBase = (data[r.pos] & 0x80) !== 0;
  r.int(7); // Delta Base: with a Required Insert Count of 0, Base only matters if it is negative
  if (negativeBase) throw r.fail("its Base is negative (Sign bit set with a Required Insert Count of 0)");

  const fields: HeaderField[] = [];
  let size = 0;
  let malformed: Http3Error | undefined;
  while (!r.done) {
    const at = r.pos;
    const first = data[at];
    let name: string;
    let value: string;
    let neverIndex = false;
    if (first & 0x80) { // Indexed Field Line: 1 T index(6+)
      const index = r.int(6);
      if ((first & 0x40) === 0) throw dynamicReference(r, at, index);
      [name, value] = staticEntry(r, at, index);
    } else if (first & 0x40) { // Literal Field Line with Name Reference: 01 N T index(4+)
      neverIndex = (first & 0x20) !== 0;
      const index = r.int(4);
      if ((first & 0x10) === 0) throw dynamicReference(r, at, index);
      name = staticEntry(r, at, index)[0];
      value = r.string(7);
    } else if (first & 0x20) { // Literal Field Line with Literal Name: 001 N H length(3+)
      neverIndex = (first & 0x10) !== 0;
      name = r.string(3);
      value = r.string(7);
      const problem = nameProblem(name);
      if (problem) malformed ??= nameError(name, problem);
    } else {
      const form = first & 0x10
        ? "an Indexed Field Line with Post-Base Index"
        : "a Literal Field Line with Post-Base Name Reference";
      throw r.fail(`byte ${at} is ${form}, which needs the dynamic table, but it is disabled`);
    }
    if (!isValidValue(value)) {
      malformed ??= new Http3Error(
        Http3ErrorCode.H3_MESSAGE_ERROR,
        `Malformed field section: the value of field ${quote(name)} contains NUL, CR or LF`,
      );
    }
    size += name.length + value.length + 32;
    if (size > maxFieldSectionSize) {
      throw new Http3Error(
        Http3ErrorCode.H3_EXCESSIVE_LOAD,
        `Cannot decode field section: it is larger than the limit of ${maxFieldSectionSize} bytes`,
      );
    }
    fields.push(neverIndex ? { name, value, neverIndex } : { name, value });
  }
  if (malformed) throw malformed;
  return fields;
}

/**
 * Encodes a field section with the static table only: an exact static match becomes an indexed field
 * line, a static name match a literal with name reference, and anything else a literal with a literal
 * name. Uppercase letters in names are lowercased.
 *
 * @example Encode a response head
 * ```ts
 * import { encodeFieldSection } from "./qpack.ts";
 * const bytes = encodeFieldSection([{ name: ":status", value: "200" }, { name: "content-type", value: "text/plain" }]);
 * console.assert(bytes.join() === [0x00, 0x00, 0xc0 | 25, 0xc0 | 53].join());
 * ```
 * @param fields The fields in order; `neverIndex` sets the N bit and forces a literal.
 * @param options Whether to use Huffman coding.
 * @returns The encoded field section.
 * @throws {TypeError} For a name that is not a token (or `:` and a token), or a value holding NUL, CR,
 * LF or a character above 0xff.
 */
export function encodeFieldSection(fields: Iterable<HeaderField>, options: QpackEncodeOptions = {}): Uint8Array {
  const { huffman = true } = options;
  const w = new WireWriter();
  w.int(0, 8, 0); // Required Insert Count 0
  w.int(0, 7, 0); // Sign 0, Delta Base 0
  for (const field of fields) {
    let name = field.name;
    const problem = nameProblem(name);
    if (problem === "uppercase") name = name.toLowerCase();
    else if (problem) {
      throw new TypeError(`Cannot encode field section: field name ${quote(name)} is not a valid token`);
    }
    if (!isValidValue(field.value)) {
      throw new TypeError(
        `Cannot encode field section: the value of field ${quote(name)} contains NUL, CR, LF or a character above 0xff`,
      );
    }
    const never = field.neverIndex === true;
    const match = findStatic(name, field.value);
    if (match?.index !== undefined && !never) {
      w.int(0xc0, 6, match.index); // 1 T=1 index
      continue;
    }
    if (match) {
      w.int(0x50 | (never ? 0x20 : 0), 4, match.nameIndex); // 01 N T=1 index
    } else {
      w.string(0x20 | (never ? 0x10 : 0), 3, latin1Encode(name), huffman); // 001 N H length
    }
    w.string(0, 7, latin1Encode(field.value), huffman);
  }
  return w.finish();
}

function staticEntry(r: WireReader, at: number, index: number): readonly [string, string] {
  const entry = QPACK_STATIC_TABLE[index];
  if (!entry) {
    throw r.fail(`byte ${at} references static table index ${index}, which is out of range (0-98)`);
  }
  return entry;
}

function dynamicReference(r: WireReader, at: number, index: number): Http3Error {
  return r.fail(`byte ${at} references dynamic table entry ${index}, but the dynamic table is disabled`);
}

function nameError(name: string, problem: "empty" | "uppercase" | "invalid"): Http3Error {
  const reason = problem === "empty"
    ? "a field name is empty"
    : problem === "uppercase"
    ? `field name ${quote(name)} has uppercase letters`
    : `field name ${quote(name)} has characters that are not allowed`;
  return new Http3Error(Http3ErrorCode.H3_MESSAGE_ERROR, `Malformed field section: ${reason}`);
}
