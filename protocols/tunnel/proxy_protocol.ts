/**
 * PROXY protocol headers (HAProxy's spec, versions 1 and 2) that the tunnel client writes towards
 * a local service, so the service sees the public client's address instead of the tunnel's.
 * @module
 */
import { formatIPv4, formatIPv6, type IpBytes, parseIp } from "./_ip.ts";

/** Which PROXY protocol header to send. */
export type ProxyProtocolVersion = "v1" | "v2";

/** The two ends of the proxied connection. */
export interface ProxiedAddrs {
  /** The original client (source). */
  readonly source: { readonly hostname: string; readonly port: number };
  /** The address the client connected to (destination). */
  readonly destination: { readonly hostname: string; readonly port: number };
}

/** The 12-byte signature that starts every v2 header. */
export const PROXY_V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

function ipOf(host: string): IpBytes {
  const ip = parseIp(host);
  if (!ip) throw new TypeError(`Cannot write a PROXY header: "${host}" is not an IP address`);
  return ip;
}

/**
 * Encodes a PROXY protocol header.
 *
 * @example A v1 header
 * ```ts
 * import { encodeProxyHeader } from "./proxy_protocol.ts";
 * const header = encodeProxyHeader("v1", {
 *   source: { hostname: "203.0.113.7", port: 51234 },
 *   destination: { hostname: "198.51.100.1", port: 15432 },
 * });
 * new TextDecoder().decode(header); // "PROXY TCP4 203.0.113.7 198.51.100.1 51234 15432\r\n"
 * ```
 * @param version `"v1"` (text) or `"v2"` (binary).
 * @param addrs Source and destination.
 * @returns The header bytes, to be written before any payload.
 * @throws {TypeError} If an address is not an IP literal.
 */
export function encodeProxyHeader(version: ProxyProtocolVersion, addrs: ProxiedAddrs): Uint8Array {
  const source = ipOf(addrs.source.hostname);
  const destination = ipOf(addrs.destination.hostname);
  // Both addresses in one family: IPv4 when both are (or map to) IPv4, else IPv6.
  const v4 = source.v4 !== undefined && destination.v4 !== undefined;
  const bytesOf = (ip: IpBytes) => v4 ? ip.v4! : ip.v6;
  if (version === "v1") {
    const text = (ip: IpBytes) => v4 ? formatIPv4(ip.v4!) : ip.v4 ? `::ffff:${formatIPv4(ip.v4)}` : formatIPv6(ip.v6);
    const line = `PROXY ${v4 ? "TCP4" : "TCP6"} ${text(source)} ${
      text(destination)
    } ${addrs.source.port} ${addrs.destination.port}\r\n`;
    return new TextEncoder().encode(line);
  }
  const size = v4 ? 4 : 16;
  const out = new Uint8Array(16 + 2 * size + 4);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = v4 ? 0x11 : 0x21; // AF_INET or AF_INET6, STREAM
  const view = new DataView(out.buffer);
  view.setUint16(14, 2 * size + 4);
  out.set(bytesOf(source), 16);
  out.set(bytesOf(destination), 16 + size);
  view.setUint16(16 + 2 * size, addrs.source.port);
  view.setUint16(18 + 2 * size, addrs.destination.port);
  return out;
}
