/**
 * The runtime-neutral view of the libc calls the Linux fast path needs: a {@linkcode Libc}
 * interface (implemented once per runtime, see `load.ts`) and the Linux constants to call it with.
 * Values are those of Linux on x86_64 and aarch64 (the asm-generic numbering).
 * @module
 */

/** A socket address decoded from `getsockname(2)` / `getpeername(2)`. */
export interface SockAddr {
  /** `AF_INET`, `AF_INET6`, or another family (then `address` is `""` and `port` is 0). */
  readonly family: number;
  /** IPv4 dotted quad, or IPv6 in RFC 5952 form (`::1`, `::ffff:127.0.0.1`); no zone, no brackets. */
  readonly address: string;
  /** The port, in host order. */
  readonly port: number;
  /** The IPv6 scope id (0 when unscoped, always 0 for IPv4). */
  readonly scopeId: number;
}

/**
 * libc through FFI, the same on Deno and Bun. Calls are synchronous and cost ~0.5 µs.
 *
 * Conventions, as in C: calls return -1 on failure and leave the reason in {@linkcode Libc.errno}.
 * Lengths are clamped to the buffer passed, so no call writes past the end of a JS buffer.
 * `ssize_t` results (`splice`, `read`, `write`) are plain numbers: lengths are clamped to
 * 2^31 - 1 so the 32-bit result never overflows.
 */
export interface Libc {
  /** `"deno"` or `"bun"`. */
  readonly runtime: "deno" | "bun";
  /** The CPU architecture (`"x86_64"`, `"aarch64"`). */
  readonly arch: string;
  /** Bytes per `struct epoll_event`: 12 on x86_64 (packed), 16 elsewhere. */
  readonly epollEventSize: number;

  /**
   * The calling thread's `errno`, read through `__errno_location()` resolved on the thread that
   * loaded the bindings (a Worker must load its own). Valid right after a failed synchronous call.
   */
  errno(): number;
  /** glibc's English text for an errno value (`22` → `"Invalid argument"`); static, locale-independent. */
  strerror(code: number): string;

  /** `socket(2)`: a new socket fd, or -1. */
  socket(domain: number, type: number, protocol: number): number;
  /** `setsockopt(2)` with an `int` value: 0, or -1. */
  setIntOption(fd: number, level: number, name: number, value: number): number;
  /**
   * `getsockopt(2)` for an `int` option: the value, or -1 on error (with `errno` set). `errno` is
   * cleared first, so a -1 with `errno() === 0` is a stored value (an unsigned option at its maximum).
   */
  getIntOption(fd: number, level: number, name: number): number;
  /**
   * The port alone of `getsockname(2)` (`peer` false) or `getpeername(2)` (`peer` true), with no
   * decoding and no allocation: the port for an IPv4 or IPv6 socket, -1 for anything else (not a
   * socket, another family, not connected). A cheap first test when looking for a socket.
   */
  socketPort(fd: number, peer: boolean): number;
  /** `getsockname(2)`: the local address, or `undefined` (with `errno` set). */
  getsockname(fd: number): SockAddr | undefined;
  /** `getpeername(2)`: the peer's address, or `undefined` (`ENOTCONN` for listeners and unconnected sockets). */
  getpeername(fd: number): SockAddr | undefined;

  /** `pipe2(2)`: writes `[readFd, writeFd]` into `fds` (length ≥ 2); 0, or -1. */
  pipe2(fds: Int32Array, flags: number): number;
  /** `fcntl(2)` with an `int` argument (`F_SETPIPE_SZ`, `F_GETPIPE_SZ`, `F_GETFL`, …). */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `splice(2)` with no offsets (sockets and pipes): bytes moved, 0 at end of input, or -1. */
  splice(fdIn: number, fdOut: number, length: number, flags: number): number;
  /** `read(2)` into `buffer` (at most `length`, default all of it): bytes read, 0 at end, or -1. */
  read(fd: number, buffer: Uint8Array, length?: number): number;
  /** `write(2)` from `buffer` (at most `length`, default all of it): bytes written, or -1. */
  write(fd: number, buffer: Uint8Array, length?: number): number;
  /** `close(2)`: 0, or -1. Never close an fd a runtime still owns. */
  close(fd: number): number;
  /** `shutdown(2)` with `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`: 0, or -1. */
  shutdown(fd: number, how: number): number;

  /** `epoll_create1(2)`: an epoll fd, or -1. */
  epoll_create1(flags: number): number;
  /**
   * `epoll_ctl(2)`: registers (`EPOLL_CTL_ADD`), changes (`EPOLL_CTL_MOD`) or removes
   * (`EPOLL_CTL_DEL`) `fd` with an event mask and a 32-bit `data` value returned by `epoll_wait`.
   */
  epoll_ctl(epfd: number, op: number, fd: number, events: number, data: number): number;
  /**
   * `epoll_wait(2)`, blocking the calling thread up to `timeoutMs` (0 polls, -1 waits forever):
   * the number of ready events written into `events` (read them with {@linkcode EpollEvents}), or -1.
   */
  epoll_wait(epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number): number;
  /**
   * Deno only (`undefined` on Bun, whose FFI is synchronous: wait in a Worker there): `epoll_wait`
   * on a runtime thread, leaving the event loop free. Resolves like `epoll_wait`; on -1 the error
   * code is **not** available (errno belongs to the other thread). `events` must stay untouched
   * until it settles, and a pending call keeps the process alive, so use a bounded timeout.
   */
  readonly epollWaitAsync?: (epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number) => Promise<number>;

  /** `getpid(2)`. */
  getpid(): number;
  /**
   * `eventfd(2)`: a counter fd that a `write` of 8 bytes increments and a `read` of 8 bytes resets;
   * readable while nonzero, so it wakes an `epoll_wait` from another thread. The fd, or -1.
   */
  eventfd(initialValue: number, flags: number): number;
  /**
   * `accept4(2)` without the peer's address: the accepted socket's fd, or -1 (`EAGAIN` when the
   * queue is empty on a nonblocking listener). `flags`: `SOCK_NONBLOCK | SOCK_CLOEXEC`.
   */
  accept4(fd: number, flags: number): number;
  /** `bind(2)` to an encoded `struct sockaddr_in`/`sockaddr_in6` (`length` bytes of `addr`): 0, or -1. */
  bind(fd: number, addr: Uint8Array, length: number): number;
  /** `listen(2)`: 0, or -1. The kernel caps `backlog` at `net.core.somaxconn`. */
  listen(fd: number, backlog: number): number;
  /**
   * `connect(2)` to an encoded socket address: 0, or -1 (`EINPROGRESS` on a nonblocking socket:
   * wait for `EPOLLOUT`, then read `SO_ERROR`).
   */
  connect(fd: number, addr: Uint8Array, length: number): number;
  /** The open file descriptors of this process, ascending (from `/proc/self/fd`, read with `getdents64`). */
  listFds(): number[];
  /**
   * Calls `visit` for each open file descriptor, ascending, while reading `/proc/self/fd` batch by
   * batch; stops as soon as `visit` returns `true` (so an early match skips the rest of the listing).
   * @returns The fd `visit` accepted, or `undefined`.
   */
  scanFds(visit: (fd: number) => boolean): number | undefined;
}

// Address families and socket types (<sys/socket.h>).
/** Unix domain sockets. */
export const AF_UNIX = 1;
/** IPv4. */
export const AF_INET = 2;
/** IPv6 (also IPv4-mapped, on dual-stack sockets). */
export const AF_INET6 = 10;
/** Stream socket (TCP). */
export const SOCK_STREAM = 1;
/** Datagram socket (UDP). */
export const SOCK_DGRAM = 2;
/** `socket(2)` type flag: nonblocking. */
export const SOCK_NONBLOCK = 0o4000;
/** `socket(2)` type flag: close on exec. */
export const SOCK_CLOEXEC = 0o2000000;

// Socket option levels and names.
/** Level for `SO_*` options. */
export const SOL_SOCKET = 1;
/** Level for `TCP_*` options. */
export const IPPROTO_TCP = 6;
/** The socket type (`SOCK_STREAM`, …); read-only. */
export const SO_TYPE = 3;
/** Pending socket error, cleared on read (completion of a nonblocking connect). */
export const SO_ERROR = 4;
/** Send buffer size. The kernel stores (and reads back) twice the value set, capped by `net.core.wmem_max`. */
export const SO_SNDBUF = 7;
/** Receive buffer size. The kernel stores (and reads back) twice the value set, capped by `net.core.rmem_max`. */
export const SO_RCVBUF = 8;
/** TCP keepalive probes on/off. */
export const SO_KEEPALIVE = 9;
/**
 * Like `SO_RCVBUF`, but not capped by `net.core.rmem_max`; needs `CAP_NET_ADMIN` (root), otherwise
 * `EPERM`.
 */
export const SO_RCVBUFFORCE = 33;
/** A listener may bind an address whose old connections linger in `TIME_WAIT` (set before `bind`). */
export const SO_REUSEADDR = 2;
/** Several sockets may bind the same address and port (only meaningful before `bind`). */
export const SO_REUSEPORT = 15;
/** 1 when the socket is listening; read-only. */
export const SO_ACCEPTCONN = 30;
/** Disables Nagle's algorithm. */
export const TCP_NODELAY = 1;
/** Seconds of idleness before the first keepalive probe (1–32767). */
export const TCP_KEEPIDLE = 4;
/** Seconds between keepalive probes (1–32767). */
export const TCP_KEEPINTVL = 5;
/** Unanswered probes before the connection is dropped (1–127). */
export const TCP_KEEPCNT = 6;
/** `struct tcp_info` (read-only); its first byte is the connection state (`TCP_CLOSE` is 7). */
export const TCP_INFO = 11;
/** Acknowledge at once instead of delaying ACKs (not sticky: the kernel may leave quickack mode). */
export const TCP_QUICKACK = 12;
/** Server TCP Fast Open: the queue length of pending TFO requests (listening or unbound sockets). */
export const TCP_FASTOPEN = 23;
/** Bytes of unsent data above which the socket stops reporting writable (0 = `net.ipv4.tcp_notsent_lowat`). */
export const TCP_NOTSENT_LOWAT = 25;
/** Client TCP Fast Open: send data in the SYN (set before `connect`). */
export const TCP_FASTOPEN_CONNECT = 30;

// shutdown(2).
/** Shut down reading. */
export const SHUT_RD = 0;
/** Shut down writing (half-close: the peer reads end of stream). */
export const SHUT_WR = 1;
/** Shut down both directions. */
export const SHUT_RDWR = 2;

// fcntl(2) and open flags.
/** `fcntl` command: read the file status flags. */
export const F_GETFL = 3;
/** `fcntl` command: set the file status flags. */
export const F_SETFL = 4;
/** `fcntl` command: duplicate an fd onto the lowest free number ≥ `arg`, with close-on-exec set. */
export const F_DUPFD_CLOEXEC = 1030;
/** `fcntl` command: resize a pipe (rounded up to a power-of-two number of pages); returns the new size. */
export const F_SETPIPE_SZ = 1031;
/** `fcntl` command: a pipe's capacity in bytes. */
export const F_GETPIPE_SZ = 1032;
/** Nonblocking I/O (`pipe2`, `F_SETFL`). */
export const O_NONBLOCK = 0o4000;
/** Close on exec (`pipe2`, `epoll_create1` as `EPOLL_CLOEXEC`). */
export const O_CLOEXEC = 0o2000000;

// eventfd(2).
/** `eventfd` flag: nonblocking reads and writes. */
export const EFD_NONBLOCK = 0o4000;
/** `eventfd` flag: close on exec. */
export const EFD_CLOEXEC = 0o2000000;

// splice(2).
/** Hint: move pages instead of copying. */
export const SPLICE_F_MOVE = 1;
/** Do not block on the pipe (the socket side follows its own `O_NONBLOCK`). */
export const SPLICE_F_NONBLOCK = 2;
/** More data will follow (like `MSG_MORE`). */
export const SPLICE_F_MORE = 4;

// epoll(7).
/** `epoll_create1` flag: close on exec. */
export const EPOLL_CLOEXEC = 0o2000000;
/** `epoll_ctl` op: register an fd. */
export const EPOLL_CTL_ADD = 1;
/** `epoll_ctl` op: unregister an fd. */
export const EPOLL_CTL_DEL = 2;
/** `epoll_ctl` op: change an fd's events. */
export const EPOLL_CTL_MOD = 3;
/** Readable. */
export const EPOLLIN = 0x001;
/** Urgent data. */
export const EPOLLPRI = 0x002;
/** Writable. */
export const EPOLLOUT = 0x004;
/** Error (always reported). */
export const EPOLLERR = 0x008;
/** Hang-up (always reported). */
export const EPOLLHUP = 0x010;
/** The peer shut down its write side. */
export const EPOLLRDHUP = 0x2000;
/** Wake only one of several epoll sets waiting on the fd. */
export const EPOLLEXCLUSIVE = 1 << 28;
/** Disable the fd after one event (re-arm with `EPOLL_CTL_MOD`). */
export const EPOLLONESHOT = 1 << 30;
/** Edge-triggered (as an unsigned 32-bit mask). */
export const EPOLLET = 0x80000000;

// errno values (<asm-generic/errno-base.h>, <asm-generic/errno.h>).
/** Operation not permitted. */
export const EPERM = 1;
/** No such file or directory. */
export const ENOENT = 2;
/** Interrupted system call. */
export const EINTR = 4;
/** Input/output error. */
export const EIO = 5;
/** Bad file descriptor. */
export const EBADF = 9;
/** Resource temporarily unavailable (`EWOULDBLOCK`). */
export const EAGAIN = 11;
/** Cannot allocate memory. */
export const ENOMEM = 12;
/** Permission denied. */
export const EACCES = 13;
/** Bad address. */
export const EFAULT = 14;
/** Invalid argument. */
export const EINVAL = 22;
/** Too many open files in system. */
export const ENFILE = 23;
/** Too many open files. */
export const EMFILE = 24;
/** Broken pipe. */
export const EPIPE = 32;
/** Socket operation on non-socket. */
export const ENOTSOCK = 88;
/** Protocol not available (unknown socket option). */
export const ENOPROTOOPT = 92;
/** Operation not supported. */
export const EOPNOTSUPP = 95;
/** Address already in use. */
export const EADDRINUSE = 98;
/** Cannot assign requested address. */
export const EADDRNOTAVAIL = 99;
/** Network is unreachable. */
export const ENETUNREACH = 101;
/** Software caused connection abort. */
export const ECONNABORTED = 103;
/** Connection reset by peer. */
export const ECONNRESET = 104;
/** No buffer space available. */
export const ENOBUFS = 105;
/** Transport endpoint is already connected. */
export const EISCONN = 106;
/** Transport endpoint is not connected. */
export const ENOTCONN = 107;
/** Connection timed out. */
export const ETIMEDOUT = 110;
/** Connection refused. */
export const ECONNREFUSED = 111;
/** No route to host. */
export const EHOSTUNREACH = 113;
/** Operation now in progress (nonblocking connect). */
export const EINPROGRESS = 115;

/**
 * Reads the results of {@linkcode Libc.epoll_wait} from its buffer, for either `struct epoll_event`
 * layout (12 packed bytes on x86_64, 16 elsewhere).
 *
 * @example Wait for a readable fd
 * ```ts ignore
 * const ready = new EpollEvents(64, libc.epollEventSize);
 * const n = libc.epoll_wait(ep, ready.bytes, ready.capacity, 1000);
 * for (let i = 0; i < n; i++) handle(ready.data(i), ready.events(i));
 * ```
 */
export class EpollEvents {
  /** The buffer to pass to `epoll_wait`. */
  readonly bytes: Uint8Array;
  /** How many events fit. */
  readonly capacity: number;
  #view: DataView;
  #size: number;
  #dataOffset: number;

  /**
   * Allocates room for `capacity` events.
   *
   * @param capacity Events per wait, at least 1.
   * @param eventSize {@linkcode Libc.epollEventSize}.
   * @throws {RangeError} If `capacity` is not a positive integer or `eventSize` is not 12 or 16.
   */
  constructor(capacity: number, eventSize: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create EpollEvents as 'capacity' must be a positive integer: current value is ${capacity}`,
      );
    }
    if (eventSize !== 12 && eventSize !== 16) {
      throw new RangeError(`Cannot create EpollEvents as 'eventSize' must be 12 or 16: current value is ${eventSize}`);
    }
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity * eventSize);
    this.#view = new DataView(this.bytes.buffer);
    this.#size = eventSize;
    this.#dataOffset = eventSize === 12 ? 4 : 8;
  }

  /** The event mask of event `index` (`EPOLLIN | …`), unsigned. */
  events(index: number): number {
    return this.#view.getUint32(index * this.#size, LITTLE_ENDIAN);
  }

  /** The 32-bit `data` value registered with `epoll_ctl` for event `index`. */
  data(index: number): number {
    return this.#view.getUint32(index * this.#size + this.#dataOffset, LITTLE_ENDIAN);
  }
}

/** True on little-endian hosts (every Linux target the fast path supports). */
const LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
