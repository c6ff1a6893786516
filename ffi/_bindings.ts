/**
 * Internal: the libc symbols both runtimes bind (one table, mapped to each FFI's type names by
 * `_deno.ts` and `_bun.ts`), and {@linkcode createLibc}, which builds the runtime-neutral
 * {@linkcode Libc} on top of them: shared scratch buffers, length clamps, sockaddr decoding.
 * @module
 */
import { errnoText } from "./_errno.ts";
import { decodeSockaddr, SOCKADDR_STORAGE_SIZE } from "./_ip.ts";
import { AF_INET, AF_INET6, type Libc, O_CLOEXEC, type SockAddr } from "./libc.ts";

/** Where glibc lives on every Linux distribution the fast path targets. */
export const LIBC_PATH = "libc.so.6";

/** Argument and result types, named neutrally; `buffer` is a typed array passed by address, `pointer` is always `null` here. */
export type NativeType = "i32" | "u32" | "usize" | "buffer" | "pointer";

/** One C function: parameter types and result type. */
export interface SymbolSpec {
  readonly parameters: readonly NativeType[];
  readonly result: "i32" | "pointer";
}

// ssize_t results (splice, read, write, getdents64) are declared i32, the low half of the return
// register: lengths are clamped below 2^31 so they fit, and the result stays a number (no BigInt).
const I = "i32", U = "u32", SIZE = "usize", BUF = "buffer", PTR = "pointer";

/** The libc functions we bind, by C name. */
export const SYMBOLS = {
  socket: { parameters: [I, I, I], result: I },
  setsockopt: { parameters: [I, I, I, BUF, U], result: I },
  getsockopt: { parameters: [I, I, I, BUF, BUF], result: I },
  getsockname: { parameters: [I, BUF, BUF], result: I },
  getpeername: { parameters: [I, BUF, BUF], result: I },
  pipe2: { parameters: [BUF, I], result: I },
  fcntl: { parameters: [I, I, I], result: I },
  splice: { parameters: [I, PTR, I, PTR, SIZE, U], result: I },
  read: { parameters: [I, BUF, SIZE], result: I },
  write: { parameters: [I, BUF, SIZE], result: I },
  close: { parameters: [I], result: I },
  shutdown: { parameters: [I, I], result: I },
  epoll_create1: { parameters: [I], result: I },
  epoll_ctl: { parameters: [I, I, I, BUF], result: I },
  epoll_wait: { parameters: [I, BUF, I, I], result: I },
  getpid: { parameters: [], result: I },
  open: { parameters: [BUF, I], result: I },
  getdents64: { parameters: [I, BUF, SIZE], result: I },
  eventfd: { parameters: [U, I], result: I },
  accept4: { parameters: [I, PTR, PTR, I], result: I },
  bind: { parameters: [I, BUF, U], result: I },
  listen: { parameters: [I, I], result: I },
  connect: { parameters: [I, BUF, U], result: I },
  __errno_location: { parameters: [], result: PTR },
} as const satisfies Record<string, SymbolSpec>;

type Buf = Int32Array | Uint32Array | Uint8Array;

/** The bound functions, as both runtimes' FFIs present them. */
export interface LibcSymbols {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buf, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buf, length: Buf): number;
  getsockname(fd: number, addr: Buf, length: Buf): number;
  getpeername(fd: number, addr: Buf, length: Buf): number;
  pipe2(fds: Buf, flags: number): number;
  fcntl(fd: number, cmd: number, arg: number): number;
  splice(fdIn: number, offIn: null, fdOut: number, offOut: null, length: number, flags: number): number;
  read(fd: number, buffer: Buf, length: number): number;
  write(fd: number, buffer: Buf, length: number): number;
  close(fd: number): number;
  shutdown(fd: number, how: number): number;
  epoll_create1(flags: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, event: Buf): number;
  epoll_wait(epfd: number, events: Buf, maxEvents: number, timeoutMs: number): number;
  getpid(): number;
  open(path: Buf, flags: number): number;
  getdents64(fd: number, buffer: Buf, length: number): number;
  eventfd(initialValue: number, flags: number): number;
  accept4(fd: number, addr: null, length: null, flags: number): number;
  bind(fd: number, addr: Buf, length: number): number;
  listen(fd: number, backlog: number): number;
  connect(fd: number, addr: Buf, length: number): number;
}

/** What an adapter adds to the symbols. */
export interface NativeParts {
  readonly runtime: "deno" | "bun";
  /** `"x86_64"` or `"aarch64"` (normalized). */
  readonly arch: string;
  /** A 4-byte view of this thread's `errno` (from `__errno_location()`). */
  readonly errnoCell: Int32Array;
  /** Deno's `nonblocking` `epoll_wait`, if the runtime has one. */
  readonly epollWaitAsync?: (epfd: number, events: Uint8Array, maxEvents: number, timeoutMs: number) => Promise<number>;
}

const MAX_IO = 0x7fffffff;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const DIRENT_RECLEN = 16, DIRENT_NAME = 19; // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name
/** Upper bound on getdents64 batches per listing: 4096 × 32 KiB covers millions of fds. */
const MAX_DIR_BATCHES = 4096;

function clampLength(length: number, capacity: number): number {
  const n = length < capacity ? length : capacity;
  return n > MAX_IO ? MAX_IO : n > 0 ? n : 0;
}

/** Builds the runtime-neutral {@linkcode Libc} over an adapter's bound symbols. */
export function createLibc(s: LibcSymbols, native: NativeParts): Libc {
  const errnoCell = native.errnoCell;
  const eventSize = native.arch === "x86_64" ? 12 : 16;
  const dataOffset = eventSize === 12 ? 4 : 8;
  // Scratch buffers, reused by every call on this thread (calls are synchronous).
  const intValue = new Int32Array(1);
  const length = new Uint32Array(1);
  const addr = new Uint8Array(SOCKADDR_STORAGE_SIZE);
  const event = new Uint8Array(16);
  const eventView = new DataView(event.buffer);
  const fdDir = new TextEncoder().encode("/proc/self/fd\0");

  function sockaddr(fd: number, peer: boolean): SockAddr | undefined {
    length[0] = SOCKADDR_STORAGE_SIZE;
    const rc = peer ? s.getpeername(fd, addr, length) : s.getsockname(fd, addr, length);
    return rc === 0 ? decodeSockaddr(addr, Math.min(length[0], SOCKADDR_STORAGE_SIZE)) : undefined;
  }

  const dirents = new Uint8Array(32 * 1024);
  let scanning = false;

  /** Visits the fds in one getdents64 batch; returns the accepted fd, -1 to go on, -2 when malformed. */
  function visitBatch(bytes: Uint8Array, filled: number, skip: number, visit: (fd: number) => boolean): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let off = 0; off < filled;) {
      const reclen = view.getUint16(off + DIRENT_RECLEN, LITTLE_ENDIAN);
      if (reclen === 0) return -2;
      let fd = 0, digits = 0;
      for (let i = off + DIRENT_NAME; i < off + reclen && bytes[i] !== 0; i++) {
        const d = bytes[i] - 48;
        if (d < 0 || d > 9) {
          digits = -1; // "." and ".."
          break;
        }
        fd = fd * 10 + d;
        digits++;
      }
      if (digits > 0 && fd !== skip && visit(fd)) return fd;
      off += reclen;
    }
    return -1;
  }

  function scanFds(visit: (fd: number) => boolean): number | undefined {
    // A visitor may scan again (nested): it gets a buffer of its own.
    const bytes = scanning ? new Uint8Array(dirents.byteLength) : dirents;
    const outer = scanning;
    scanning = true;
    const dir = s.open(fdDir, O_CLOEXEC); // O_RDONLY is 0
    try {
      if (dir < 0) return undefined;
      for (let batch = 0; batch < MAX_DIR_BATCHES; batch++) {
        const filled = s.getdents64(dir, bytes, bytes.byteLength);
        if (filled <= 0) return undefined;
        const found = visitBatch(bytes, filled, dir, visit);
        if (found >= 0) return found;
        if (found === -2) return undefined;
      }
      return undefined;
    } finally {
      if (dir >= 0) s.close(dir);
      scanning = outer;
    }
  }

  return {
    runtime: native.runtime,
    arch: native.arch,
    epollEventSize: eventSize,
    errno: () => errnoCell[0],
    strerror: errnoText,
    socket: (domain, type, protocol) => s.socket(domain, type, protocol),
    setIntOption(fd, level, name, value) {
      intValue[0] = value;
      return s.setsockopt(fd, level, name, intValue, 4);
    },
    getIntOption(fd, level, name) {
      intValue[0] = 0;
      length[0] = 4;
      errnoCell[0] = 0; // so that a stored -1 (errno 0) can be told from a failure
      return s.getsockopt(fd, level, name, intValue, length) === 0 ? intValue[0] : -1;
    },
    socketPort(fd, peer) {
      length[0] = SOCKADDR_STORAGE_SIZE;
      const rc = peer ? s.getpeername(fd, addr, length) : s.getsockname(fd, addr, length);
      if (rc !== 0 || length[0] < 4) return -1;
      const family = LITTLE_ENDIAN ? addr[0] | (addr[1] << 8) : (addr[0] << 8) | addr[1];
      return family === AF_INET || family === AF_INET6 ? (addr[2] << 8) | addr[3] : -1;
    },
    getsockname: (fd) => sockaddr(fd, false),
    getpeername: (fd) => sockaddr(fd, true),
    pipe2(fds, flags) {
      if (fds.length < 2) {
        throw new RangeError(`Cannot call pipe2 as 'fds' must hold 2 values: current length is ${fds.length}`);
      }
      return s.pipe2(fds, flags);
    },
    fcntl: (fd, cmd, arg) => s.fcntl(fd, cmd, arg),
    splice: (fdIn, fdOut, len, flags) => s.splice(fdIn, null, fdOut, null, clampLength(len, MAX_IO), flags),
    read: (fd, buffer, len = buffer.byteLength) => s.read(fd, buffer, clampLength(len, buffer.byteLength)),
    write: (fd, buffer, len = buffer.byteLength) => s.write(fd, buffer, clampLength(len, buffer.byteLength)),
    close: (fd) => s.close(fd),
    shutdown: (fd, how) => s.shutdown(fd, how),
    epoll_create1: (flags) => s.epoll_create1(flags),
    epoll_ctl(epfd, op, fd, events, data) {
      eventView.setUint32(0, events >>> 0, LITTLE_ENDIAN);
      eventView.setUint32(dataOffset, data >>> 0, LITTLE_ENDIAN);
      eventView.setUint32(dataOffset + 4, 0, LITTLE_ENDIAN);
      return s.epoll_ctl(epfd, op, fd, event);
    },
    epoll_wait(epfd, events, maxEvents, timeoutMs) {
      return s.epoll_wait(epfd, events, Math.min(maxEvents, Math.floor(events.byteLength / eventSize)), timeoutMs);
    },
    epollWaitAsync: native.epollWaitAsync &&
      ((epfd, events, maxEvents, timeoutMs) =>
        native.epollWaitAsync!(
          epfd,
          events,
          Math.min(maxEvents, Math.floor(events.byteLength / eventSize)),
          timeoutMs,
        )),
    getpid: () => s.getpid(),
    eventfd: (initialValue, flags) => s.eventfd(initialValue >>> 0, flags),
    accept4: (fd, flags) => s.accept4(fd, null, null, flags),
    bind: (fd, addr, len) => s.bind(fd, addr, clampLength(len, addr.byteLength)),
    listen: (fd, backlog) => s.listen(fd, backlog),
    connect: (fd, addr, len) => s.connect(fd, addr, clampLength(len, addr.byteLength)),
    listFds() {
      const fds: number[] = [];
      scanFds((fd) => {
        fds.push(fd);
        return false;
      });
      return fds;
    },
    scanFds,
  };
}
