/**
 * Internal: what both runtime adapters share for TLS: a handshake deadline that closes the socket
 * it gave up on, and one mapping of handshake failures to {@linkcode NetError}s.
 * @module
 */
import { isCancellation, isTimeoutReason } from "./_abort.ts";
import { formatAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError } from "./errors.ts";
import type { NetAddr } from "./types.ts";

/** Options for {@linkcode withHandshakeDeadline}. */
export interface HandshakeDeadlineOptions {
  /** Aborting cancels the handshake; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Cancels the handshake after this many milliseconds with a `TimeoutError`. */
  timeoutMs?: number;
}

/**
 * Awaits `pending` under `signal` and `timeoutMs`. When either fires first, `cancel()` closes the
 * socket the handshake runs on (so `pending` settles and nothing leaks) and the promise rejects with
 * the reason. One clearable timer, no listener left behind.
 */
export async function withHandshakeDeadline<T>(
  pending: Promise<T>,
  cancel: () => void,
  options: HandshakeDeadlineOptions = {},
): Promise<T> {
  const { signal, timeoutMs } = options;
  if (!signal && !(timeoutMs !== undefined && timeoutMs > 0)) return await pending;
  const { promise: stopped, reject } = Promise.withResolvers<never>();
  const stop = (reason: unknown) => {
    reject(reason); // first, so the race reports the deadline, not the close that cancel() causes
    cancel();
  };
  if (signal?.aborted) {
    pending.catch(() => {});
    stop(signal.reason);
  }
  const onAbort = () => stop(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeoutMs !== undefined && timeoutMs > 0
    ? setTimeout(() => stop(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError")), timeoutMs)
    : undefined;
  try {
    return await Promise.race([pending, stopped]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    pending.catch(() => {}); // settles after cancel(); nobody waits for it any more
  }
}

/** Where a handshake failed, for {@linkcode handshakeError}. */
export interface HandshakeErrorContext {
  /** `"dial"` for a client, `"accept"` for a server. */
  side: "dial" | "accept";
  /** The peer. */
  remoteAddr: NetAddr;
  /** The local address, when known. */
  localAddr?: NetAddr;
  /** The caller's signal: its (non-timeout) reason passes through unmapped. */
  signal?: AbortSignal;
  /** The deadline that applied, for the message. */
  timeoutMs?: number;
}

/**
 * Maps a failed handshake to a {@linkcode NetError}: `ETIMEDOUT` when the deadline passed,
 * `EHANDSHAKE` otherwise (with the runtime's reason in the message and as `cause`). A
 * cancellation (the caller's signal) is returned as it is.
 */
export function handshakeError(error: unknown, context: HandshakeErrorContext): unknown {
  if (isCancellation(error, context.signal)) return error;
  if (error instanceof NetError && (error.code === "EHANDSHAKE" || error.code === "ETIMEDOUT")) return error;
  const target = formatAddr(context.remoteAddr);
  const where = context.side === "dial"
    ? `Cannot dial "${target}" over tls`
    : `Cannot handshake with "${target}" over tls`;
  const options = {
    op: "handshake" as const,
    protocol: "tls" as const,
    remoteAddr: context.remoteAddr,
    localAddr: context.localAddr,
    cause: error,
  };
  if (isTimeoutReason(error) || (error instanceof NetError && error.code === "ETIMEDOUT")) {
    const after = context.timeoutMs ? ` after ${context.timeoutMs} ms` : "";
    return new NetError("ETIMEDOUT", `${where}: handshake timed out${after}`, options);
  }
  const detail = error instanceof NetError && error.code !== "EUNKNOWN"
    ? NET_ERROR_TEXT[error.code]
    : error instanceof Error && error.message
    ? error.message
    : String(error);
  return new NetError("EHANDSHAKE", `${where}: ${NET_ERROR_TEXT.EHANDSHAKE}: ${detail}`, options);
}

/** An {@linkcode NetError} for a peer that closed before the handshake finished. */
export function closedDuringHandshake(): Error {
  return new Error("the peer closed the connection during the handshake");
}
