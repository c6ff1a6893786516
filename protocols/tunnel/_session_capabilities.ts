/**
 * Internal: which of a side's capabilities (docs/PROTOCOL.md section 2) a session can serve.
 * @module
 */
import { DATAGRAM_HEARTBEAT_CAPABILITY } from "./_session_heartbeat.ts";
import { STREAM_PACING_CAPABILITY } from "./stream_pacing.ts";
import type { TransportSession } from "./transport.ts";

/**
 * The capabilities of `offered` that `session` can serve: `datagram-heartbeat` needs datagrams,
 * `stream-pacing` a transport that paces QUIC streams.
 *
 * @param offered The capabilities of this side.
 * @param session The session they are for.
 * @returns `offered`, less what the session cannot carry.
 */
export function sessionCapabilities(offered: readonly string[], session: TransportSession): string[] {
  return offered.filter((c) =>
    (c !== DATAGRAM_HEARTBEAT_CAPABILITY || session.datagrams !== undefined) &&
    (c !== STREAM_PACING_CAPABILITY || session.pacing !== undefined)
  );
}
