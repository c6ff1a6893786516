/**
 * Internal: the {@linkcode NetError} for a failed splice.
 * @module
 */
import { NET_ERROR_TEXT, NetError, type NetErrorCode } from "../protocols/errors.ts";
import { errnoName, errnoText } from "./_errno.ts";
import { ECONNABORTED, ECONNRESET, EPIPE, ETIMEDOUT } from "./libc.ts";

function codeOf(errno: number): NetErrorCode {
  if (errno === ECONNRESET || errno === ECONNABORTED) return "ECONNRESET";
  if (errno === EPIPE) return "EPIPE";
  if (errno === ETIMEDOUT) return "ETIMEDOUT";
  return "EUNKNOWN";
}

/** The error for a failed splice on `fd`: `Cannot forward on fd 12: connection reset by peer`. */
export function spliceError(errno: number, fd: number, op: "read" | "write"): NetError {
  const code = codeOf(errno);
  const text = code === "EUNKNOWN" ? `${errnoText(errno)} (${errnoName(errno)})` : NET_ERROR_TEXT[code];
  return new NetError(code, `Cannot forward on fd ${fd}: ${text}`, { op, protocol: "tcp" });
}
