/**
 * {@linkcode TunnelStream}: what a stream of a {@linkcode MuxSession} offers beyond a
 * {@linkcode Conn}.
 *
 * Semantics, as for a TCP socket:
 * - `closeWrite()` sends FIN after the data already written; the peer reads to the end.
 * - `close()` with unread data resets at once; otherwise it stops reading, flushes what was
 *   written, sends FIN, then `RST` (0), so the peer reads everything and its writes fail.
 * - `reset(code)` aborts both directions at once and tells the peer why.
 * - A peer's `RST` fails writes with `NetError` `ECONNRESET` (the code as a {@linkcode TunnelError}
 *   cause); reads fail too unless the peer had finished sending.
 * @module
 */
import type { Conn } from "../types.ts";
import type { TunnelErrorCode } from "./errors.ts";

/** A stream of a tunnel session: a {@linkcode Conn} that can also be reset with a code. */
export interface TunnelStream extends Conn {
  /** The stream id (0 is the control stream; the server's streams are even, from 2). */
  readonly id: number;
  /** The code of the peer's reset, once the peer reset the stream with one. */
  readonly resetCode: TunnelErrorCode | undefined;
  /**
   * Aborts the stream in both directions, telling the peer why (an `RST` frame). Idempotent.
   *
   * @param code The reason, e.g. `"unknown_service"` or `"local_unreachable"`.
   */
  reset(code: TunnelErrorCode): void;
}
