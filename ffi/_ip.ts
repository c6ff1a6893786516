/**
 * Internal: decoding `struct sockaddr_in`/`sockaddr_in6`, and IP text in one canonical form so a
 * kernel address and a runtime's address string compare equal.
 * @module
 */
import { AF_INET, AF_INET6, type SockAddr } from "./libc.ts";

/** `sizeof(struct sockaddr_storage)`. */
export const SOCKADDR_STORAGE_SIZE = 128;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes the address `getsockname`/`getpeername` wrote into `bytes` (`length` bytes valid). */
export function decodeSockaddr(bytes: Uint8Array, length: number): SockAddr {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = length >= 2 ? view.getUint16(0, LITTLE_ENDIAN) : 0;
  if (family === AF_INET && length >= 8) {
    return { family, address: bytes.subarray(4, 8).join("."), port: view.getUint16(2, false), scopeId: 0 };
  }
  if (family === AF_INET6 && length >= 24) {
    const scopeId = length >= 28 ? view.getUint32(24, LITTLE_ENDIAN) : 0;
    return { family, address: formatIpv6(bytes.subarray(8, 24)), port: view.getUint16(2, false), scopeId };
  }
  return { family, address: "", port: 0, scopeId: 0 };
}

/** Formats 16 bytes as RFC 5952 text: lowercase, longest zero run as `::`, `::ffff:a.b.c.d` for mapped IPv4. */
export function formatIpv6(b: Uint8Array): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b.subarray(12, 16).join(".")}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let bestStart = -1, bestLength = 1; // RFC 5952: never compress a single zero group
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): number[] | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** Parses IPv6 text (with an embedded IPv4 tail allowed) into 16 bytes, or `undefined`. */
export function parseIpv6(text: string): Uint8Array | undefined {
  let head = text;
  const tail: number[] = [];
  const lastColon = head.lastIndexOf(":");
  if (head.includes(".")) {
    const v4 = parseIpv4(head.slice(lastColon + 1));
    if (!v4) return undefined;
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const group = (s: string) => (/^[0-9a-f]{1,4}$/i.test(s) ? parseInt(s, 16) : NaN);
  const left = halves[0] === "" ? [] : halves[0].split(":").map(group);
  const right = halves.length === 2 && halves[1] !== "" ? halves[1].split(":").map(group) : [];
  const given = left.length + right.length + tail.length;
  if ([...left, ...right].some(Number.isNaN)) return undefined;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * Canonical text for an IP literal, for comparisons: IPv4 as a dotted quad, IPv4-mapped IPv6
 * (`::ffff:127.0.0.1`) as plain IPv4, other IPv6 in RFC 5952 form without zone or brackets.
 * `undefined` when `text` is not an IP literal (a host name).
 */
export function canonicalIp(text: string): string | undefined {
  let host = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = host.indexOf("%");
  if (zone >= 0) host = host.slice(0, zone);
  const v4 = parseIpv4(host);
  if (v4) return v4.join(".");
  if (!host.includes(":")) return undefined;
  const bytes = parseIpv6(host);
  if (!bytes) return undefined;
  const text6 = formatIpv6(bytes);
  return text6.startsWith("::ffff:") && text6.includes(".") ? text6.slice(7) : text6;
}

/** True for `0.0.0.0`, `::` (and its mapped form): a socket bound to every interface. */
export function isUnspecifiedIp(canonical: string): boolean {
  return canonical === "0.0.0.0" || canonical === "::";
}
