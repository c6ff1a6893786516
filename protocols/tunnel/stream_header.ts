/**
 * The stream header of PROTOCOL.md section 6, the first bytes of every forwarded stream: the
 * service name and the original client and public addresses (for PROXY protocol towards the
 * local service).
 *
 * ```
 * version (u8 = 1) | name length (u8) | name | family (u8: 4 or 6) |
 * client address (4 or 16) | client port (u16) | public address (4 or 16) | public port (u16)
 * ```
 * @module
 */
import { formatIPv4, formatIPv6, parseIp } from "./_ip.ts";
import { TunnelError } from "./errors.ts";

/** The stream header version this module writes and reads. */
export const STREAM_HEADER_VERSION = 1;
/** Longest stream header: a 255-byte name and two IPv6 addresses. */
export const MAX_STREAM_HEADER_BYTES: number = 1 + 1 + 255 + 1 + 2 * (16 + 2);

/** An IP address and port, as carried by the stream header. */
export interface StreamHeaderAddr {
  /** An IPv4 or IPv6 literal. */
  hostname: string;
  /** 0 to 65535. */
  port: number;
}

/** What the server tells the client about a forwarded connection. */
export interface StreamHeader {
  /** The service the connection belongs to (1 to 255 bytes of UTF-8). */
  service: string;
  /** The user's address, as the server saw it. */
  clientAddr: StreamHeaderAddr;
  /** The public address the user connected to. */
  publicAddr: StreamHeaderAddr;
}

/** The result of {@linkcode decodeStreamHeader}. */
export interface DecodedStreamHeader {
  /** The header. */
  header: StreamHeader;
  /** Bytes the header took; anything after it is stream data. */
  length: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function addressBytes(addr: StreamHeaderAddr, name: string) {
  const ip = parseIp(addr.hostname);
  if (!ip) {
    throw new TypeError(
      `Cannot encode stream header as '${name}.hostname' must be an IPv4 or IPv6 literal: current value is "${addr.hostname}"`,
    );
  }
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
    throw new RangeError(
      `Cannot encode stream header as '${name}.port' must be an integer from 0 to 65535: current value is ${addr.port}`,
    );
  }
  return ip;
}

/**
 * Encodes a stream header. Both addresses share one family: IPv4 when both are IPv4 (or
 * IPv4-mapped IPv6), otherwise IPv6 with any IPv4 address mapped (`::ffff:a.b.c.d`).
 *
 * @example Encode and decode
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStreamHeader, encodeStreamHeader } from "./stream_header.ts";
 * const header = {
 *   service: "db",
 *   clientAddr: { hostname: "203.0.113.7", port: 51000 },
 *   publicAddr: { hostname: "198.51.100.1", port: 15432 },
 * };
 * const bytes = encodeStreamHeader(header);
 * assert.equal(bytes.byteLength, 17);
 * assert.deepEqual(decodeStreamHeader(bytes), { header, length: 17 });
 * ```
 * @param header The header.
 * @returns The encoded bytes.
 * @throws {TypeError} If a hostname is not an IP literal.
 * @throws {RangeError} If the name is empty or longer than 255 bytes, or a port is out of range.
 */
export function encodeStreamHeader(header: StreamHeader): Uint8Array {
  const name = encoder.encode(header.service);
  if (name.byteLength < 1 || name.byteLength > 255) {
    throw new RangeError(
      `Cannot encode stream header as 'service' must be 1 to 255 bytes of UTF-8: current length is ${name.byteLength}`,
    );
  }
  const client = addressBytes(header.clientAddr, "clientAddr");
  const pub = addressBytes(header.publicAddr, "publicAddr");
  const v4 = client.v4 !== undefined && pub.v4 !== undefined;
  const size = v4 ? 4 : 16;
  const out = new Uint8Array(3 + name.byteLength + 2 * (size + 2));
  const view = new DataView(out.buffer);
  out[0] = STREAM_HEADER_VERSION;
  out[1] = name.byteLength;
  out.set(name, 2);
  let at = 2 + name.byteLength;
  out[at++] = v4 ? 4 : 6;
  out.set(v4 ? client.v4! : client.v6, at);
  view.setUint16(at + size, header.clientAddr.port);
  at += size + 2;
  out.set(v4 ? pub.v4! : pub.v6, at);
  view.setUint16(at + size, header.publicAddr.port);
  return out;
}

function invalid(detail: string): TunnelError {
  return new TunnelError("protocol", `Invalid stream header: ${detail}`);
}

/**
 * Decodes a stream header from the start of `bytes`. Checks each field as soon as its bytes are
 * there, so a bad version or family fails without waiting for the rest.
 *
 * @param bytes The first bytes of a stream (more may follow the header).
 * @returns The header and its length, or `undefined` when more bytes are needed.
 * @throws {TunnelError} Coded `protocol` for a bad version, an empty or non-UTF-8 name, or a bad family.
 */
export function decodeStreamHeader(bytes: Uint8Array): DecodedStreamHeader | undefined {
  if (bytes.byteLength < 1) return undefined;
  if (bytes[0] !== STREAM_HEADER_VERSION) {
    throw invalid(`version ${bytes[0]} is not supported (expected ${STREAM_HEADER_VERSION})`);
  }
  if (bytes.byteLength < 2) return undefined;
  const nameLength = bytes[1];
  if (nameLength === 0) throw invalid("the service name is empty");
  const familyAt = 2 + nameLength;
  if (bytes.byteLength <= familyAt) return undefined;
  const family = bytes[familyAt];
  if (family !== 4 && family !== 6) throw invalid(`address family ${family} is not 4 or 6`);
  const size = family === 4 ? 4 : 16;
  const length = familyAt + 1 + 2 * (size + 2);
  if (bytes.byteLength < length) return undefined;
  let service: string;
  try {
    service = decoder.decode(bytes.subarray(2, familyAt));
  } catch {
    throw invalid("the service name is not valid UTF-8");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = size === 4 ? formatIPv4 : formatIPv6;
  const clientAt = familyAt + 1;
  const publicAt = clientAt + size + 2;
  return {
    header: {
      service,
      clientAddr: {
        hostname: format(bytes.subarray(clientAt, clientAt + size)),
        port: view.getUint16(clientAt + size),
      },
      publicAddr: {
        hostname: format(bytes.subarray(publicAt, publicAt + size)),
        port: view.getUint16(publicAt + size),
      },
    },
    length,
  };
}
