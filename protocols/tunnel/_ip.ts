/**
 * Internal: IPv4 and IPv6 literals to bytes and back (RFC 5952 text for IPv6).
 * @module
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** Parses a dotted IPv4 literal into 4 bytes, or returns `undefined`. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseGroups(part: string, out: number[]): boolean {
  if (part === "") return true;
  const groups = part.split(":");
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i];
    if (i === groups.length - 1 && g.includes(".")) {
      const v4 = parseIPv4(g);
      if (!v4) return false;
      out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (HEX_GROUP.test(g)) {
      out.push(parseInt(g, 16));
    } else {
      return false;
    }
  }
  return true;
}

/** Parses an IPv6 literal (brackets and a `%zone` allowed) into 16 bytes, or returns `undefined`. */
export function parseIPv6(text: string): Uint8Array | undefined {
  let value = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = value.indexOf("%");
  if (zone >= 0) value = value.slice(0, zone);
  if (value.length > 45 || !value.includes(":")) return undefined;
  const halves = value.split("::");
  if (halves.length > 2) return undefined;
  const head: number[] = [];
  const tail: number[] = [];
  if (!parseGroups(halves[0], head)) return undefined;
  if (halves.length === 2 && !parseGroups(halves[1], tail)) return undefined;
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** True if the 16 bytes are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
export function isMappedIPv4(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Formats 4 bytes as a dotted IPv4 literal. */
export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** Formats 16 bytes as an RFC 5952 IPv6 literal; an IPv4-mapped address comes out as plain IPv4. */
export function formatIPv6(bytes: Uint8Array): string {
  if (isMappedIPv4(bytes)) return formatIPv4(bytes.subarray(12, 16));
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  let bestStart = -1;
  let bestLength = 1; // RFC 5952: a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

/** An address as bytes: `v4` is set for IPv4 and IPv4-mapped IPv6, `v6` always. */
export interface IpBytes {
  readonly v4: Uint8Array | undefined;
  readonly v6: Uint8Array;
}

/** Parses an IPv4 or IPv6 literal, or returns `undefined`. */
export function parseIp(text: string): IpBytes | undefined {
  const v4 = parseIPv4(text);
  if (v4) {
    const v6 = new Uint8Array(16);
    v6[10] = 0xff;
    v6[11] = 0xff;
    v6.set(v4, 12);
    return { v4, v6 };
  }
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  return { v4: isMappedIPv4(v6) ? v6.slice(12, 16) : undefined, v6 };
}
