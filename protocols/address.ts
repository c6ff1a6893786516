/**
 * Parsing and formatting of `host:port` addresses in the forms go-tunnel users write.
 * @module
 */
import type { DialAddr, ListenAddr, NetAddr } from "./types.ts";

/** Formats an address as `host:port`, with brackets around IPv6 literals. */
export function formatAddr(addr: { hostname?: string; port: number }): string {
  const host = addr.hostname ?? "";
  return `${host.includes(":") ? `[${host}]` : host}:${addr.port}`;
}

function splitHostPort(text: string, what: string): { hostname: string; portText: string } {
  const value = text.trim();
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close < 0 || value[close + 1] !== ":") {
      throw new TypeError(`Cannot parse ${what} "${text}": expected "[ipv6]:port", for example "[::1]:8080"`);
    }
    return { hostname: value.slice(1, close), portText: value.slice(close + 2) };
  }
  const colon = value.lastIndexOf(":");
  if (colon < 0) {
    throw new TypeError(`Cannot parse ${what} "${text}": expected "host:port", for example "127.0.0.1:8080"`);
  }
  const hostname = value.slice(0, colon);
  if (hostname.includes(":")) {
    throw new TypeError(`Cannot parse ${what} "${text}": put IPv6 addresses in brackets, for example "[::1]:8080"`);
  }
  return { hostname, portText: value.slice(colon + 1) };
}

function parsePort(portText: string, text: string, what: string, min: number): number {
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw new RangeError(
      `Cannot parse ${what} "${text}": port must be an integer from ${min} to 65535: current value is "${portText}"`,
    );
  }
  return port;
}

/**
 * Parses a listen address: `":8080"`, `"0.0.0.0:8080"`, `"[::1]:8080"`, `"localhost:0"`.
 * An empty host means every interface.
 *
 * @example Go's ":8080" form
 * ```ts
 * import { parseListenAddr } from "./address.ts";
 * console.assert(parseListenAddr(":8080").port === 8080);
 * ```
 * @param text The address.
 * @returns The parsed address.
 * @throws {TypeError} If the text is not `host:port`.
 * @throws {RangeError} If the port is outside 0–65535.
 */
export function parseListenAddr(text: string): ListenAddr {
  const { hostname, portText } = splitHostPort(text, "listen address");
  return { hostname: hostname === "" ? undefined : hostname, port: parsePort(portText, text, "listen address", 0) };
}

/**
 * Parses a dial address: `"127.0.0.1:80"`, `"[::1]:80"`, `"example.com:443"`. A missing host means localhost.
 *
 * @param text The address.
 * @returns The parsed address.
 * @throws {TypeError} If the text is not `host:port`.
 * @throws {RangeError} If the port is outside 1–65535.
 */
export function parseDialAddr(text: string): DialAddr {
  const { hostname, portText } = splitHostPort(text, "target address");
  return { hostname: hostname === "" ? "localhost" : hostname, port: parsePort(portText, text, "target address", 1) };
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/**
 * Builds a {@linkcode NetAddr}. An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack
 * listener reports for IPv4 peers) is shown as the IPv4 address, as Go does.
 */
export function netAddr(hostname: string, port: number, transport: "tcp" | "udp" = "tcp"): NetAddr {
  const mapped = MAPPED_IPV4.exec(hostname);
  return { transport, hostname: mapped ? mapped[1] : hostname, port };
}

/** Host a listener binds when the address has none (`":8080"`): every interface, IPv6 and IPv4. */
export const ANY_HOST = "::";
/** Fallback when the machine has no IPv6: every IPv4 interface. */
export const ANY_HOST_V4 = "0.0.0.0";
