/**
 * Typed network errors. Callers branch on {@linkcode NetError.code}, never on message text.
 * @module
 */
import type { NetAddr, ProtocolName } from "./types.ts";

/** Error codes a {@linkcode NetError} can carry. */
export type NetErrorCode =
  | "ECONNREFUSED"
  | "ECONNRESET"
  | "ETIMEDOUT"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EACCES"
  | "ENOTFOUND"
  | "EPIPE"
  | "ECLOSED"
  | "EHANDSHAKE"
  | "EUNKNOWN";

/** Where a {@linkcode NetError} happened. */
export interface NetErrorOptions extends ErrorOptions {
  /** The operation that failed. */
  op: "dial" | "listen" | "accept" | "handshake" | "read" | "write" | "close";
  /** The protocol in use. */
  protocol: ProtocolName;
  /** The peer's address, when known. */
  remoteAddr?: NetAddr;
  /** The local address, when known. */
  localAddr?: NetAddr;
}

/**
 * A network operation failed. Branch on `code`, never on `message`.
 *
 * @example Branch on the code
 * ```ts
 * import { NetError } from "./errors.ts";
 * const error = new NetError("ECONNREFUSED", 'Cannot dial "127.0.0.1:1" over tcp: connection refused', { op: "dial", protocol: "tcp" });
 * if (error.code === "ECONNREFUSED") console.assert(!error.timeout);
 * ```
 */
export class NetError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: NetErrorCode;
  /** The operation that failed. */
  readonly op: NetErrorOptions["op"];
  /** The protocol in use. */
  readonly protocol: ProtocolName;
  /** The peer's address, when known. */
  readonly remoteAddr: NetAddr | undefined;
  /** The local address, when known. */
  readonly localAddr: NetAddr | undefined;

  /**
   * Creates a network error.
   *
   * @param code What went wrong.
   * @param message A sentence in the form `Cannot dial "host:port" over tcp: connection refused`.
   * @param options Operation context and an optional `cause`.
   */
  constructor(code: NetErrorCode, message: string, options: NetErrorOptions) {
    super(message, options);
    this.name = "NetError";
    this.code = code;
    this.op = options.op;
    this.protocol = options.protocol;
    this.remoteAddr = options.remoteAddr;
    this.localAddr = options.localAddr;
  }

  /** True when the operation hit a deadline, like Go's `net.Error.Timeout()`. */
  get timeout(): boolean {
    return this.code === "ETIMEDOUT";
  }
}

/** Thrown by {@linkcode createProtocol} for a protocol this build or runtime cannot provide. */
export class UnsupportedProtocolError extends Error {
  /** The protocol that was asked for. */
  readonly protocol: string;
  /**
   * Creates the error for an unavailable protocol.
   *
   * @param protocol The protocol name that was asked for.
   * @param reason Why it is unavailable, and what to use instead.
   */
  constructor(protocol: string, reason: string) {
    super(`Cannot use protocol "${protocol}": ${reason}`);
    this.name = "UnsupportedProtocolError";
    this.protocol = protocol;
  }
}

/**
 * Thrown when the running runtime cannot provide a TLS option (for example client certificates on
 * Deno, whose `Deno.listenTls` cannot request them). A subclass of {@linkcode UnsupportedProtocolError},
 * so code that handles an unavailable protocol handles this too.
 *
 * @example Fall back when client certificates are unavailable
 * ```ts
 * import { UnsupportedTlsOptionError } from "./errors.ts";
 * const error = new UnsupportedTlsOptionError("clientAuth", "deno", "Deno.listenTls cannot request client certificates");
 * console.assert(error.option === "clientAuth" && error.runtime === "deno");
 * ```
 */
export class UnsupportedTlsOptionError extends UnsupportedProtocolError {
  /** The option that cannot be honoured, e.g. `"clientAuth"`. */
  readonly option: string;
  /** The runtime that cannot honour it (`"deno"` or `"bun"`). */
  readonly runtime: string;
  /**
   * Creates the error.
   *
   * @param option The option name.
   * @param runtime The runtime's name.
   * @param reason Why, and what to do instead.
   */
  constructor(option: string, runtime: string, reason: string) {
    super("tls", `option "${option}" is not available on ${runtime}: ${reason}`);
    this.name = "UnsupportedTlsOptionError";
    this.option = option;
    this.runtime = runtime;
  }
}

/**
 * Thrown when the running runtime cannot provide a QUIC option (for example `insecure` on Deno,
 * whose QUIC client always verifies the server). A subclass of {@linkcode UnsupportedProtocolError}.
 *
 * @example Tell the option and the runtime apart
 * ```ts
 * import { UnsupportedQuicOptionError } from "./errors.ts";
 * const error = new UnsupportedQuicOptionError("insecure", "deno", "Deno.connectQuic always verifies the server");
 * console.assert(error.protocol === "quic" && error.option === "insecure");
 * ```
 */
export class UnsupportedQuicOptionError extends UnsupportedProtocolError {
  /** The option that cannot be honoured, e.g. `"insecure"`. */
  readonly option: string;
  /** The runtime that cannot honour it (`"deno"` or `"bun"`). */
  readonly runtime: string;
  /**
   * Creates the error.
   *
   * @param option The option name.
   * @param runtime The runtime's name.
   * @param reason Why, and what to do instead.
   */
  constructor(option: string, runtime: string, reason: string) {
    super("quic", `option "${option}" is not available on ${runtime}: ${reason}`);
    this.name = "UnsupportedQuicOptionError";
    this.option = option;
    this.runtime = runtime;
  }
}

/** Thrown by operations on a listener or engine that was already closed (Go's `ErrServerClosed`). */
export class ServerClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted.
   */
  constructor(message = "Cannot continue: the server is closed") {
    super(message);
    this.name = "ServerClosedError";
  }
}

/** True for errors that mean "the peer or we closed the connection", which forwarding treats as a normal end. */
export function isCleanClose(error: unknown): boolean {
  if (!(error instanceof NetError)) return false;
  return error.code === "ECLOSED" || error.code === "ECONNRESET" || error.code === "EPIPE";
}

/** Human text for each code, used in messages. */
export const NET_ERROR_TEXT: Readonly<Record<NetErrorCode, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  ETIMEDOUT: "timed out",
  EADDRINUSE: "address already in use",
  EADDRNOTAVAIL: "address not available",
  EACCES: "permission denied",
  ENOTFOUND: "host not found",
  EPIPE: "broken pipe",
  ECLOSED: "connection is closed",
  EHANDSHAKE: "handshake failed",
  EUNKNOWN: "unexpected error",
};
