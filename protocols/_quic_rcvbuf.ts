/**
 * Internal: raises the receive buffer of a QUIC endpoint's UDP socket through the FFI layer, which
 * is loaded only here, lazily, on the first endpoint (never when the module is imported).
 * @module
 */
import type { UdpReceiveBufferStatus } from "./quic_types.ts";

/** The status when nothing was asked for. */
export const RECEIVE_BUFFER_NOT_ASKED: UdpReceiveBufferStatus = Object.freeze({
  requestedBytes: 0,
  applied: false,
  reason: "not asked for (udpReceiveBufferBytes is 0)",
});

/**
 * Finds the UDP socket bound to `binding` and sets its receive buffer to `bytes`. Never throws:
 * without FFI (Deno without `--allow-ffi`, not Linux) or without a matching socket, nothing is
 * changed and the status says why.
 *
 * @param binding The endpoint's bound address (the real port).
 * @param bytes The size wanted; 0 changes nothing.
 * @returns What was done.
 */
export async function raiseUdpReceiveBuffer(
  binding: { hostname: string; port: number },
  bytes: number,
): Promise<UdpReceiveBufferStatus> {
  if (!(bytes > 0)) return RECEIVE_BUFFER_NOT_ASKED;
  try {
    const [load, udp] = await Promise.all([import("../ffi/load.ts"), import("../ffi/udp_socket.ts")]);
    const libc = await load.loadLibc();
    if (!libc) {
      return { requestedBytes: bytes, applied: false, reason: load.libcUnavailableReason() ?? "FFI is unavailable" };
    }
    const fd = udp.findUdpSocketFd(binding, libc);
    if (fd === undefined) {
      return { requestedBytes: bytes, applied: false, reason: `no single UDP socket is bound to port ${binding.port}` };
    }
    const result = udp.setReceiveBuffer(fd, bytes, libc);
    return {
      requestedBytes: bytes,
      applied: result.applied,
      kernelBytes: result.kernelBytes,
      forced: result.forced,
      ...(result.reason !== undefined ? { reason: result.reason } : {}),
    };
  } catch (error) {
    const reason = `Cannot set the UDP receive buffer: ${error instanceof Error ? error.message : String(error)}`;
    return { requestedBytes: bytes, applied: false, reason };
  }
}
