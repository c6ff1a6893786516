/**
 * Internal: finds the kernel fds under two TCP conns at once, for the splice path.
 *
 * Bun reveals a conn's fd (`SOCKET_FD`), which is checked and used. Deno does not, so fds are
 * probed upward from 0 with `getsockname` (the kernel hands out the lowest free number, and one
 * call per fd costs about a third of listing `/proc/self/fd`, which takes ~0.9 µs per entry); the
 * probe stops after a run of {@linkcode MAX_GAP} closed fds, and a listing then covers the rest.
 * Three things keep it cheap while thousands of pairs are spliced: fds the splice engine already
 * owns are skipped without a system call, the local port is compared before anything is decoded,
 * and one pass serves both conns.
 * @module
 */
import { SOCKET_FD } from "../protocols/_native_io.ts";
import { canonicalIp } from "./_ip.ts";
import { AF_INET, AF_INET6, EBADF, type Libc, SO_TYPE, SOCK_STREAM, type SockAddr, SOL_SOCKET } from "./libc.ts";
import { findSocketFd, type SocketEnds } from "./socket_fd.ts";

/** Consecutive closed fds after which the upward probe gives way to a listing of /proc/self/fd. */
const MAX_GAP = 128;
/** Upper bound on the probe (the listing covers anything above). */
const MAX_PROBE_FD = 1 << 20;

interface Wanted {
  readonly localPort: number;
  readonly remotePort: number;
  readonly localIp: string;
  readonly remoteIp: string;
}

function wanted(conn: SocketEnds): Wanted | undefined {
  const local = conn.localAddr, remote = conn.remoteAddr;
  if (local.transport !== "tcp" || remote.transport !== "tcp") return undefined;
  const localIp = canonicalIp(local.hostname), remoteIp = canonicalIp(remote.hostname);
  if (localIp === undefined || remoteIp === undefined) return undefined;
  return { localPort: local.port, remotePort: remote.port, localIp, remoteIp };
}

function sameEnd(got: SockAddr | undefined, port: number, ip: string): boolean {
  return got !== undefined && got.port === port && (got.family === AF_INET || got.family === AF_INET6) &&
    canonicalIp(got.address) === ip;
}

function isConn(fd: number, want: Wanted, libc: Libc, local: SockAddr | undefined): boolean {
  return sameEnd(local, want.localPort, want.localIp) &&
    sameEnd(libc.getpeername(fd), want.remotePort, want.remoteIp) &&
    libc.getIntOption(fd, SOL_SOCKET, SO_TYPE) === SOCK_STREAM;
}

function hinted(conn: SocketEnds, want: Wanted, libc: Libc): number | undefined {
  const fd = (conn as { readonly [SOCKET_FD]?: unknown })[SOCKET_FD];
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0) return undefined;
  return isConn(fd, want, libc, libc.getsockname(fd)) ? fd : undefined;
}

/**
 * The fds of two connected TCP conns, or `undefined` when either cannot be found (closed, not TCP).
 *
 * @param a One conn.
 * @param b The other conn.
 * @param libc The bindings.
 * @param skip Fds known not to be either conn (a live spliced pair's), skipped by the probe without a
 * system call. Only an optimization: a socket's addresses are unique among open TCP sockets.
 */
export function findPairFds(
  a: SocketEnds,
  b: SocketEnds,
  libc: Libc,
  skip: (fd: number) => boolean,
): [number, number] | undefined {
  // A closed conn may no longer know its addresses (Bun): then there is nothing to find.
  for (const conn of [a, b]) {
    if (typeof conn.localAddr?.hostname !== "string" || typeof conn.remoteAddr?.hostname !== "string") return undefined;
  }
  const wantA = wanted(a), wantB = wanted(b);
  if (!wantA || !wantB) {
    // Host names instead of IPs (not what our adapters produce): the general lookup decides.
    const fdA = findSocketFd(a, libc), fdB = findSocketFd(b, libc);
    return fdA !== undefined && fdB !== undefined && fdA !== fdB ? [fdA, fdB] : undefined;
  }
  let fdA = hinted(a, wantA, libc), fdB = hinted(b, wantB, libc);
  const visit = (fd: number, port: number): boolean => {
    if (port !== wantA.localPort && port !== wantB.localPort) return false;
    const local = libc.getsockname(fd);
    if (fdA === undefined && isConn(fd, wantA, libc, local)) fdA = fd;
    else if (fdB === undefined && isConn(fd, wantB, libc, local)) fdB = fd;
    return fdA !== undefined && fdB !== undefined;
  };
  if (fdA === undefined || fdB === undefined) {
    // Probe upward, from 0 (a daemon started without stdio gets sockets there): one getsockname
    // per fd, about 3x cheaper than listing /proc/self/fd, and the kernel hands out the lowest
    // free numbers. A long run of closed fds ends the probe.
    let gap = 0;
    for (let fd = 0; fd < MAX_PROBE_FD && gap < MAX_GAP; fd++) {
      if (skip(fd) || fd === fdA || fd === fdB) {
        gap = 0;
        continue;
      }
      const port = libc.socketPort(fd, false);
      if (port < 0) {
        gap = libc.errno() === EBADF ? gap + 1 : 0;
        continue;
      }
      gap = 0;
      if (visit(fd, port)) break;
    }
  }
  if (fdA === undefined || fdB === undefined) {
    // Not found below a gap: list what is open (correct whatever the layout of the fd table).
    // No fd is skipped here: a number the engine released a moment ago may already be reused.
    libc.scanFds((fd) => {
      if (fd === fdA || fd === fdB) return false;
      const port = libc.socketPort(fd, false);
      return port >= 0 && visit(fd, port);
    });
  }
  return fdA !== undefined && fdB !== undefined ? [fdA, fdB] : undefined;
}
