/**
 * Finds the kernel file descriptor under a connection or a listener. Bun reveals it (the adapter
 * exposes it under `SOCKET_FD`); Deno 2 does not, so the open fds of the process are scanned and
 * the socket whose `getsockname`/`getpeername` match the conn's addresses is the one.
 *
 * The fd still belongs to the runtime: never close it, never read from it while the runtime
 * does, and use it only while the conn is open (fd numbers are reused at once after a close).
 * Nothing is cached, for the same reason: every call asks the kernel again.
 * @module
 */
import { SOCKET_FD } from "../protocols/_native_io.ts";
import type { NetAddr } from "../protocols/types.ts";
import { canonicalIp } from "./_ip.ts";
import {
  AF_INET,
  AF_INET6,
  type Libc,
  SO_ACCEPTCONN,
  SO_TYPE,
  SOCK_STREAM,
  type SockAddr,
  SOL_SOCKET,
} from "./libc.ts";

/** The parts of a `Conn` the lookup reads (any `Conn` fits). A conn whose runtime reveals its fd also carries it, internally. */
export interface SocketEnds {
  /** Our end. */
  readonly localAddr: NetAddr;
  /** The peer's end. */
  readonly remoteAddr: NetAddr;
}

interface Wanted {
  readonly port: number;
  /** Canonical IP, or `undefined` when the conn gives a host name (then the port alone decides). */
  readonly ip: string | undefined;
}

function wanted(addr: NetAddr): Wanted {
  return { port: addr.port, ip: canonicalIp(addr.hostname) };
}

function matches(got: SockAddr | undefined, want: Wanted): boolean {
  if (!got || got.port !== want.port || (got.family !== AF_INET && got.family !== AF_INET6)) return false;
  // Canonical forms make ::ffff:127.0.0.1 (a dual-stack socket's view) equal to 127.0.0.1.
  return want.ip === undefined || canonicalIp(got.address) === want.ip;
}

function isStream(fd: number, libc: Libc): boolean {
  return libc.getIntOption(fd, SOL_SOCKET, SO_TYPE) === SOCK_STREAM;
}

/**
 * Finds the fd of a connected TCP socket: the one `conn[SOCKET_FD]` names if it checks out,
 * otherwise the socket among the process's open fds whose local and peer addresses (IP and port)
 * equal `conn.localAddr` and `conn.remoteAddr`. Addresses compare in canonical form, so an
 * IPv4-mapped `::ffff:127.0.0.1` on a dual-stack listener matches a conn that says `127.0.0.1`.
 * When the conn gives host names instead of IPs, ports alone decide, and an ambiguous match
 * yields `undefined`.
 *
 * The fd is the kernel socket under whatever the conn is: for a TLS conn it carries ciphertext,
 * so only a plain TCP conn may be spliced through it.
 *
 * Cost when scanning (always on Deno): linear in the open fds, about 1 µs per fd visited (the
 * `/proc/self/fd` listing plus one `getsockname`); the scan stops at the match. Measured here:
 * ~0.06 ms with 40 open fds, ~1.5 ms with 2,000, ~5–7 ms with 6,000. With `SOCKET_FD` (Bun) it
 * is two checks, ~4 µs.
 *
 * @example Find the fd behind a TCP conn
 * ```ts ignore
 * import { findSocketFd, loadLibc } from "@ts-tunnel/tunnel/ffi";
 * const libc = await loadLibc();
 * const fd = libc && findSocketFd(conn, libc);
 * ```
 * @param conn The connection (its addresses, and `SOCKET_FD` when present).
 * @param libc The bindings from `loadLibc()`.
 * @returns The fd, or `undefined` when no open TCP socket matches (closed conn, not TCP, ambiguous).
 */
export function findSocketFd(conn: SocketEnds, libc: Libc): number | undefined {
  const local = conn.localAddr, remote = conn.remoteAddr;
  if (local.transport !== "tcp" || remote.transport !== "tcp") return undefined;
  const wantLocal = wanted(local), wantRemote = wanted(remote);
  const isConn = (fd: number) =>
    matches(libc.getsockname(fd), wantLocal) && matches(libc.getpeername(fd), wantRemote) && isStream(fd, libc);
  const hinted = (conn as { readonly [SOCKET_FD]?: unknown })[SOCKET_FD];
  if (typeof hinted === "number" && Number.isInteger(hinted) && hinted >= 0 && isConn(hinted)) return hinted;
  // Two IPs and two ports name one TCP connection, so the first match is the socket (a dup() of
  // it would be the same socket). With a host name in play, only a unique match is trusted.
  const exact = wantLocal.ip !== undefined && wantRemote.ip !== undefined;
  if (exact) return libc.scanFds(isConn);
  let found: number | undefined;
  let ambiguous = false;
  libc.scanFds((fd) => {
    if (!isConn(fd)) return false;
    ambiguous = found !== undefined;
    found = fd;
    return ambiguous; // a second match ends the scan
  });
  if (ambiguous) return undefined;
  return found;
}

/**
 * Finds the fd of a listening TCP socket bound to `listener.addr` (a `Listener`'s
 * address: `::` for a dual-stack listener, the real port when 0 was asked for). Neither runtime
 * reveals a listener's fd, so this always scans. Several listening sockets on the same address
 * (`SO_REUSEPORT`) are ambiguous and yield `undefined`.
 *
 * @param listener Anything with the bound address.
 * @param libc The bindings from `loadLibc()`.
 * @returns The fd, or `undefined`.
 */
export function findListenerFd(listener: { readonly addr: NetAddr }, libc: Libc): number | undefined {
  if (listener.addr.transport !== "tcp") return undefined;
  const want = wanted(listener.addr);
  let found: number | undefined;
  let ambiguous = false;
  libc.scanFds((fd) => {
    if (!matches(libc.getsockname(fd), want)) return false;
    if (libc.getIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1 || !isStream(fd, libc)) return false;
    ambiguous = found !== undefined;
    found = fd;
    return ambiguous;
  });
  if (ambiguous) return undefined;
  return found;
}
