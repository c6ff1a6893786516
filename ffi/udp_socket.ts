/**
 * The UDP socket under a QUIC endpoint, and its receive buffer. Neither runtime reveals the fd of
 * a QUIC endpoint, so the open fds of the process are scanned for the datagram socket bound to the
 * endpoint's port (as {@linkcode findListenerFd} does for TCP listeners).
 *
 * Why the buffer matters: the kernel default (`net.core.rmem_default`, 212,992 bytes on most
 * distributions) overflows when more than ~64 QUIC handshakes arrive at once. Dropped Initial
 * packets are only recovered by retransmission timers, so a burst of 200 connects takes seconds
 * instead of milliseconds (`nstat UdpRcvbufErrors` counts the drops).
 * @module
 */
import { errnoName } from "./_errno.ts";
import { canonicalIp, isUnspecifiedIp } from "./_ip.ts";
import {
  AF_INET,
  AF_INET6,
  EPERM,
  type Libc,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_TYPE,
  SOCK_DGRAM,
  SOL_SOCKET,
} from "./libc.ts";

/** Where a UDP socket is bound: a host (IP literal, or empty for any) and a port. */
export interface UdpBinding {
  /** The bound IP (`"0.0.0.0"`, `"::"`, `"127.0.0.1"`, …); empty or a name: the port alone decides. */
  readonly hostname: string;
  /** The bound port (never 0: the real one). */
  readonly port: number;
}

/**
 * Finds the fd of the UDP socket bound to `binding` among the open fds of the process. A socket
 * bound to every interface (`::`, `0.0.0.0`) or a binding without an IP is matched by port alone;
 * more than one match (for example `SO_REUSEPORT` sockets) is ambiguous and yields `undefined`.
 *
 * The fd belongs to the runtime: never close it or read from it, and use it only while the
 * endpoint is open.
 *
 * @param binding The endpoint's local address.
 * @param libc The bindings from `loadLibc()`.
 * @returns The fd, or `undefined`.
 */
export function findUdpSocketFd(binding: UdpBinding, libc: Libc): number | undefined {
  const ip = canonicalIp(binding.hostname);
  const exactIp = ip !== undefined && !isUnspecifiedIp(ip) ? ip : undefined;
  let found: number | undefined;
  let ambiguous = false;
  libc.scanFds((fd) => {
    if (libc.socketPort(fd, false) !== binding.port) return false;
    const local = libc.getsockname(fd);
    if (!local || (local.family !== AF_INET && local.family !== AF_INET6)) return false;
    if (exactIp !== undefined && canonicalIp(local.address) !== exactIp) return false;
    if (libc.getIntOption(fd, SOL_SOCKET, SO_TYPE) !== SOCK_DGRAM) return false;
    ambiguous = found !== undefined;
    found = fd;
    return ambiguous;
  });
  return ambiguous ? undefined : found;
}

/** What {@linkcode setReceiveBuffer} did. */
export interface ReceiveBufferResult {
  /** True when the kernel accepted a new size. */
  readonly applied: boolean;
  /** `SO_RCVBUFFORCE` (not capped by `net.core.rmem_max`) when true, `SO_RCVBUF` when false. */
  readonly forced: boolean;
  /** `SO_RCVBUF` read back: what the kernel uses, twice the size set (it counts its bookkeeping). */
  readonly kernelBytes: number;
  /**
   * Why nothing was applied (the errno name and the call), or, with `applied`, that the kernel
   * capped the size (`net.core.rmem_max` without root).
   */
  readonly reason?: string;
}

/**
 * Sets a socket's receive buffer to `bytes`: with `SO_RCVBUFFORCE` first (root may exceed
 * `net.core.rmem_max`), then, if that is refused with `EPERM`, with `SO_RCVBUF` (which the kernel
 * caps at `net.core.rmem_max`). Reads the size back either way. A buffer already at least as large
 * is left alone.
 *
 * @param fd The socket.
 * @param bytes The size wanted, in bytes.
 * @param libc The bindings from `loadLibc()`.
 * @returns What was done, and the size the kernel reports afterwards.
 */
export function setReceiveBuffer(fd: number, bytes: number, libc: Libc): ReceiveBufferResult {
  const before = libc.getIntOption(fd, SOL_SOCKET, SO_RCVBUF);
  if (before >= 2 * bytes) return { applied: true, forced: false, kernelBytes: before };
  let forced = true;
  if (libc.setIntOption(fd, SOL_SOCKET, SO_RCVBUFFORCE, bytes) !== 0) {
    const errno = libc.errno();
    if (errno !== EPERM) {
      return {
        applied: false,
        forced: false,
        kernelBytes: before,
        reason: `SO_RCVBUFFORCE failed: ${errnoName(errno)}`,
      };
    }
    forced = false;
    if (libc.setIntOption(fd, SOL_SOCKET, SO_RCVBUF, bytes) !== 0) {
      const reason = `SO_RCVBUF failed: ${errnoName(libc.errno())}`;
      return { applied: false, forced: false, kernelBytes: before, reason };
    }
  }
  const kernelBytes = libc.getIntOption(fd, SOL_SOCKET, SO_RCVBUF);
  if (kernelBytes < 2 * bytes) {
    const reason = `the kernel capped the receive buffer at ${kernelBytes / 2} bytes (net.core.rmem_max); ` +
      "run as root, or raise net.core.rmem_max";
    return { applied: true, forced, kernelBytes, reason };
  }
  return { applied: true, forced, kernelBytes };
}
