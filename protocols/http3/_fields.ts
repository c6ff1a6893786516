/**
 * Internal: field name and value checks (RFC 9114 §4.2, RFC 9110 §5.1) and Latin-1 byte strings,
 * shared by the QPACK codec and the request helpers.
 * @module
 */

/** Per byte: 1 for a lowercase token character, 2 for an uppercase letter, 0 otherwise. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 2;

/** What is wrong with a field name, if anything. */
export type NameProblem = "empty" | "uppercase" | "invalid" | undefined;

/** Checks a field name: a lowercase token, or `:` and a lowercase token for a pseudo-header. */
export function nameProblem(name: string): NameProblem {
  const start = name.charCodeAt(0) === 0x3a ? 1 : 0;
  if (name.length === start) return "empty";
  let upper = false;
  for (let i = start; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const kind = c < 256 ? TOKEN[c] : 0;
    if (kind === 0) return "invalid";
    if (kind === 2) upper = true;
  }
  return upper ? "uppercase" : undefined;
}

/** True if a value holds none of NUL, CR, LF, nor a character above 0xff. */
export function isValidValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) return false;
  }
  return true;
}

/** Bytes to a string, one character per byte (HTTP fields are byte strings). */
export function latin1Decode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** A string of characters up to 0xff to bytes; the caller has checked the range. */
export function latin1Encode(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A name quoted for an error message, with control characters escaped. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
