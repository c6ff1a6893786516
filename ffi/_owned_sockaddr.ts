/**
 * Internal: `struct sockaddr_in` / `sockaddr_in6` for `bind(2)` and `connect(2)`, encoded from an
 * IP literal and a port (the owned-sockets forwarder never resolves names in the loop).
 * @module
 */
import { canonicalIp, parseIpv6 } from "./_ip.ts";
import { AF_INET, AF_INET6 } from "./libc.ts";

/** `sizeof(struct sockaddr_in6)`, the larger of the two. */
export const SOCKADDR_MAX = 28;

/** An encoded socket address. */
export interface EncodedSockaddr {
  /** `AF_INET` or `AF_INET6`. */
  readonly family: number;
  /** The `struct sockaddr_*` bytes (16 or 28 of them). */
  readonly bytes: Uint8Array;
  /** The canonical IP text (`127.0.0.1`, `::1`). */
  readonly address: string;
  /** The port. */
  readonly port: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes `hostname` (an IPv4 or IPv6 literal; brackets and a zone are accepted, the zone is
 * dropped) and `port`, or returns `undefined` when `hostname` is not an IP literal.
 */
export function encodeSockaddr(hostname: string, port: number): EncodedSockaddr | undefined {
  const address = canonicalIp(hostname);
  if (address === undefined) return undefined;
  const v6 = address.includes(":");
  const bytes = new Uint8Array(v6 ? SOCKADDR_MAX : 16);
  const view = new DataView(bytes.buffer);
  const family = v6 ? AF_INET6 : AF_INET;
  view.setUint16(0, family, LITTLE_ENDIAN);
  view.setUint16(2, port, false); // network order
  if (v6) bytes.set(parseIpv6(address)!, 8);
  else bytes.set(address.split(".").map(Number), 4);
  return { family, bytes, address, port };
}
