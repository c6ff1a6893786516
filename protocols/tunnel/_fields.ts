/**
 * Internal: strict readers for the fields of a control message. Each failure throws
 * `TunnelError("protocol")` with a message naming the message type and the field path.
 * @module
 */
import { TunnelError } from "./errors.ts";

/** A JSON object from the wire, read field by field. */
export class Fields {
  readonly type: string;
  readonly path: string;
  readonly #object: Record<string, unknown>;

  constructor(type: string, object: Record<string, unknown>, path = "") {
    this.type = type;
    this.#object = object;
    this.path = path;
  }

  /** Throws the protocol error for `field`. */
  fail(field: string, expectation: string): never {
    throw new TunnelError("protocol", `Invalid "${this.type}" message: "${this.path}${field}" must be ${expectation}`);
  }

  /** The raw value (own properties only: `__proto__` or `toString` are just absent fields). */
  raw(field: string): unknown {
    return Object.hasOwn(this.#object, field) ? this.#object[field] : undefined;
  }

  has(field: string): boolean {
    return this.raw(field) !== undefined;
  }

  string(field: string, maxChars: number, pattern?: RegExp, patternText?: string): string {
    const value = this.raw(field);
    if (typeof value !== "string") this.fail(field, `a string`);
    if (pattern) {
      if (!pattern.test(value)) this.fail(field, patternText ?? `a string matching ${pattern}`);
    } else if (value.length > maxChars) {
      this.fail(field, `a string of at most ${maxChars} characters`);
    }
    return value;
  }

  /** A string of 1 to `maxBytes` bytes of UTF-8 (a service name). */
  name(field: string, maxBytes: number): string {
    const value = this.raw(field);
    if (typeof value !== "string" || value.length === 0 || utf8Length(value, maxBytes) > maxBytes) {
      this.fail(field, `a string of 1 to ${maxBytes} bytes`);
    }
    return value;
  }

  integer(field: string, min: number, max: number): number {
    const value = this.raw(field);
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `an integer from ${min} to ${max}`);
    }
    return value;
  }

  number(field: string, min: number, max: number): number {
    const value = this.raw(field);
    if (typeof value !== "number" || !(value >= min && value <= max)) {
      this.fail(field, `a number from ${min} to ${max}`);
    }
    return value;
  }

  boolean(field: string): boolean {
    const value = this.raw(field);
    if (typeof value !== "boolean") this.fail(field, "a boolean");
    return value;
  }

  oneOf<T extends string>(field: string, values: readonly T[]): T {
    const value = this.raw(field);
    if (typeof value !== "string" || !values.includes(value as T)) {
      this.fail(field, `one of ${values.map((v) => `"${v}"`).join(", ")}`);
    }
    return value as T;
  }

  /** A nested object, read with the returned {@linkcode Fields}. */
  object(field: string): Fields {
    const value = this.raw(field);
    if (!isPlainObject(value)) this.fail(field, "an object");
    return new Fields(this.type, value, `${this.path}${field}.`);
  }

  /** An array of at most `maxItems` items, each read by `item`. */
  array<T>(field: string, maxItems: number, item: (index: number, value: unknown, path: string) => T): T[] {
    const value = this.raw(field);
    if (!Array.isArray(value) || value.length > maxItems) this.fail(field, `an array of at most ${maxItems} items`);
    return value.map((v, i) => item(i, v, `${this.path}${field}[${i}]`));
  }

  /** An array of strings matching `pattern`. */
  strings(field: string, maxItems: number, pattern: RegExp, patternText: string): string[] {
    return this.array(field, maxItems, (i, value) => {
      if (typeof value !== "string" || !pattern.test(value)) this.fail(`${field}[${i}]`, patternText);
      return value;
    });
  }

  /** Reads an array item that must be an object. */
  itemObject(value: unknown, path: string): Fields {
    if (!isPlainObject(value)) throw this.#failPath(path, "an object");
    return new Fields(this.type, value, `${path}.`);
  }

  #failPath(path: string, expectation: string): TunnelError {
    return new TunnelError("protocol", `Invalid "${this.type}" message: "${path}" must be ${expectation}`);
  }
}

/** True for a JSON object (not an array, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The UTF-8 length of `text`, counting stops early once past `limit`. */
export function utf8Length(text: string, limit = Infinity): number {
  let n = 0;
  for (let i = 0; i < text.length && n <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
