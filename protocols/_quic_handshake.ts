/**
 * Internal: what both adapters share for QUIC handshakes: one mapping of a failed handshake to a
 * {@linkcode NetError}, and the address shown for a peer whose address is not known yet.
 * @module
 */
import { isCancellation, isTimeoutReason } from "./_abort.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError } from "./errors.ts";
import type { NetAddr } from "./types.ts";

/** Shown as `Incoming.remoteAddr` until the handshake reveals the peer (neither runtime tells it earlier). */
export const UNKNOWN_UDP_ADDR: NetAddr = Object.freeze(netAddr("", 0, "udp"));

/** Where a QUIC handshake failed. */
export interface QuicHandshakeContext {
  /** `"dial"` for a client, `"accept"` for a server. */
  side: "dial" | "accept";
  /** The peer. */
  remoteAddr: NetAddr;
  /** Our address, when known. */
  localAddr?: NetAddr;
  /** The caller's signal: its (non-timeout) reason passes through unmapped. */
  signal?: AbortSignal;
  /** The deadline that applied, for the message. */
  timeoutMs?: number;
}

/**
 * Maps a failed QUIC handshake: `ETIMEDOUT` after the deadline, an already mapped NetError as it
 * is, `EHANDSHAKE` otherwise (the runtime's reason in the message and as `cause`). A cancellation
 * (the caller's signal) is returned unchanged.
 */
export function quicHandshakeError(error: unknown, context: QuicHandshakeContext): unknown {
  if (isCancellation(error, context.signal)) return error;
  if (error instanceof NetError && error.code !== "EUNKNOWN") return error;
  const target = formatAddr(context.remoteAddr);
  const where = context.side === "dial"
    ? `Cannot dial "${target}" over quic`
    : `Cannot handshake with "${target}" over quic`;
  const options = {
    op: "handshake" as const,
    protocol: "quic" as const,
    remoteAddr: context.remoteAddr,
    localAddr: context.localAddr,
    cause: error,
  };
  if (isTimeoutReason(error)) {
    const after = context.timeoutMs ? ` after ${context.timeoutMs} ms` : "";
    return new NetError("ETIMEDOUT", `${where}: handshake timed out${after}`, options);
  }
  const detail = error instanceof Error && error.message ? error.message : String(error);
  return new NetError("EHANDSHAKE", `${where}: ${NET_ERROR_TEXT.EHANDSHAKE}: ${detail}`, options);
}

/**
 * Checks the ALPN list a runtime is given (QUIC requires at least one protocol).
 * @throws {TypeError} For an empty list or a name outside 1..255 bytes.
 */
export function checkAlpn(what: string, protocols: readonly string[]): void {
  if (protocols.length === 0) throw new TypeError(`Cannot ${what} over quic: QUIC needs at least one ALPN protocol`);
  for (const p of protocols) {
    const bytes = typeof p === "string" ? new TextEncoder().encode(p).byteLength : 0;
    if (bytes === 0 || bytes > 255) {
      throw new TypeError(
        `Cannot ${what} over quic: an ALPN protocol must be 1 to 255 bytes: current value is ${JSON.stringify(p)}`,
      );
    }
  }
}
