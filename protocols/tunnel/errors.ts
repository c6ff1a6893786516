/**
 * Typed errors of the reverse tunnel: {@linkcode TunnelError} with the error codes of PROTOCOL.md
 * section 7, and their numeric form used in stream resets.
 * @module
 */

/** The error codes of PROTOCOL.md section 7. Callers branch on these, never on message text. */
export type TunnelErrorCode =
  | "protocol"
  | "auth_failed"
  | "version"
  | "port_out_of_range"
  | "port_in_use"
  | "too_many_services"
  | "too_many_connections"
  | "unknown_service"
  | "local_unreachable"
  | "shutting_down"
  | "internal";

/**
 * The numeric form of each {@linkcode TunnelErrorCode}, carried by `RST` frames (PROTOCOL.md section 7).
 * Number 0 is not a code: an `RST` carrying 0 means "closed without an error".
 */
export const TUNNEL_ERROR_NUMBERS: Readonly<Record<TunnelErrorCode, number>> = Object.freeze({
  protocol: 1,
  auth_failed: 2,
  version: 3,
  port_out_of_range: 4,
  port_in_use: 5,
  too_many_services: 6,
  too_many_connections: 7,
  unknown_service: 8,
  local_unreachable: 9,
  shutting_down: 10,
  internal: 11,
});

const CODES_BY_NUMBER: ReadonlyMap<number, TunnelErrorCode> = new Map(
  (Object.entries(TUNNEL_ERROR_NUMBERS) as [TunnelErrorCode, number][]).map(([code, n]) => [n, code]),
);

/**
 * Returns the code for a numeric error (the reverse of {@linkcode TUNNEL_ERROR_NUMBERS}). A number
 * this version does not know (a newer peer's code) maps to `"internal"`.
 *
 * @example Decode a stream reset
 * ```ts
 * import assert from "node:assert/strict";
 * import { tunnelErrorCodeOf } from "./errors.ts";
 * assert.equal(tunnelErrorCodeOf(8), "unknown_service");
 * assert.equal(tunnelErrorCodeOf(999), "internal");
 * ```
 * @param n The number from the wire.
 * @returns The matching code, or `"internal"` for an unknown number.
 */
export function tunnelErrorCodeOf(n: number): TunnelErrorCode {
  return CODES_BY_NUMBER.get(n) ?? "internal";
}

/** True if `value` is one of the {@linkcode TunnelErrorCode}s. */
export function isTunnelErrorCode(value: unknown): value is TunnelErrorCode {
  return typeof value === "string" && Object.hasOwn(TUNNEL_ERROR_NUMBERS, value);
}

/**
 * A tunnel-level failure: a malformed message or frame, a refused authentication, a policy limit.
 * Branch on `code`, never on `message`.
 *
 * @example Branch on the code
 * ```ts
 * import assert from "node:assert/strict";
 * import { TunnelError } from "./errors.ts";
 * const error = new TunnelError("auth_failed", "authentication failed");
 * assert.equal(error.code, "auth_failed");
 * assert.equal(error.number, 2);
 * ```
 */
export class TunnelError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: TunnelErrorCode;

  /**
   * Creates a tunnel error.
   *
   * @param code What went wrong.
   * @param message A sentence naming what failed and why.
   * @param options An optional `cause`.
   */
  constructor(code: TunnelErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TunnelError";
    this.code = code;
  }

  /** The numeric form of {@linkcode TunnelError.code}, as carried by `RST` frames. */
  get number(): number {
    return TUNNEL_ERROR_NUMBERS[this.code];
  }
}
