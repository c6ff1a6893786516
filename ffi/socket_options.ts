/**
 * TCP socket options the runtimes do not offer (buffer sizes, keepalive timing, quick ACK, Fast
 * Open, `TCP_NOTSENT_LOWAT`, `SO_REUSEPORT`), set and read through libc, and go-tunnel's
 * `OptimizeTCPConn`.
 * @module
 */
import { errnoName } from "./_errno.ts";
import {
  IPPROTO_TCP,
  type Libc,
  SO_ACCEPTCONN,
  SO_KEEPALIVE,
  SO_RCVBUF,
  SO_REUSEPORT,
  SO_SNDBUF,
  SOL_SOCKET,
  TCP_FASTOPEN,
  TCP_FASTOPEN_CONNECT,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
  TCP_NODELAY,
  TCP_NOTSENT_LOWAT,
  TCP_QUICKACK,
} from "./libc.ts";
import { loadLibc } from "./load.ts";
import { findSocketFd, type SocketEnds } from "./socket_fd.ts";

/** Fast Open queue length used for `fastOpen: true` on a listening socket. */
export const DEFAULT_FAST_OPEN_QUEUE_LENGTH = 256;

/**
 * Socket options for {@linkcode applySocketOptions}. Each `undefined` option is left as it is.
 * Applied in the order listed; values are validated before the first one is set.
 */
export interface TcpSocketOptions {
  /** `SO_REUSEPORT`. Only meaningful before `bind`: on a bound or connected socket it is stored but changes nothing. */
  reusePort?: boolean;
  /**
   * `SO_SNDBUF`, in bytes. The kernel caps it at `net.core.wmem_max`, stores twice the value (for
   * its bookkeeping) and turns off send-buffer autotuning for the socket; reading it back gives the
   * doubled value (65536 reads back as 131072).
   */
  sendBufferSize?: number;
  /** `SO_RCVBUF`, in bytes; like `sendBufferSize` (capped at `net.core.rmem_max`, doubled, no autotuning). */
  recvBufferSize?: number;
  /** `TCP_NODELAY`: send small segments at once (no Nagle). */
  noDelay?: boolean;
  /** `TCP_QUICKACK`: acknowledge at once. Not sticky: the kernel leaves quick-ACK mode on its own. */
  quickAck?: boolean;
  /** `SO_KEEPALIVE`: send keepalive probes on an idle connection. */
  keepAlive?: boolean;
  /** `TCP_KEEPIDLE`: idle seconds before the first probe (the kernel accepts 1–32767). */
  keepAliveIdleSeconds?: number;
  /** `TCP_KEEPINTVL`: seconds between probes (1–32767). */
  keepAliveIntervalSeconds?: number;
  /** `TCP_KEEPCNT`: unanswered probes before the connection is dropped (1–127). */
  keepAliveCount?: number;
  /** `TCP_NOTSENT_LOWAT`: unsent bytes above which the socket stops polling writable (0: the system default). */
  notSentLowat?: number;
  /**
   * TCP Fast Open (go-tunnel's `TCPFastOpen`). On a listening socket: `TCP_FASTOPEN` with this
   * queue length (`true` means {@linkcode DEFAULT_FAST_OPEN_QUEUE_LENGTH}, `false` or 0 turns it
   * off); the server side also needs bit 2 of `net.ipv4.tcp_fastopen`. On any other socket:
   * `TCP_FASTOPEN_CONNECT` (on for `true` or a positive number), which the kernel accepts only
   * before `connect` (a connected socket refuses it with `EINVAL`).
   */
  fastOpen?: boolean | number;
}

/** What {@linkcode readSocketOptions} reports: the kernel's current values. */
export interface TcpSocketOptionValues {
  /** Whether the socket is listening (`SO_ACCEPTCONN`). */
  readonly listening: boolean;
  /** `SO_REUSEPORT`. */
  readonly reusePort: boolean;
  /** `SO_SNDBUF` as the kernel reports it: twice the value set. */
  readonly sendBufferSize: number;
  /** `SO_RCVBUF` as the kernel reports it: twice the value set. */
  readonly recvBufferSize: number;
  /** `TCP_NODELAY`. */
  readonly noDelay: boolean;
  /** `TCP_QUICKACK` (true on a fresh socket: it starts in quick-ACK mode). */
  readonly quickAck: boolean;
  /** `SO_KEEPALIVE`. */
  readonly keepAlive: boolean;
  /** `TCP_KEEPIDLE`, seconds. */
  readonly keepAliveIdleSeconds: number;
  /** `TCP_KEEPINTVL`, seconds. */
  readonly keepAliveIntervalSeconds: number;
  /** `TCP_KEEPCNT`. */
  readonly keepAliveCount: number;
  /** `TCP_NOTSENT_LOWAT`, bytes (0: the system default applies). */
  readonly notSentLowat: number;
  /** On a listener, the `TCP_FASTOPEN` queue length; otherwise 1 or 0 (`TCP_FASTOPEN_CONNECT`). */
  readonly fastOpen: number;
}

/**
 * The kernel refused to set or read a socket option. `errno`/`code` say why; the message names
 * the option, the value and the fd: `Cannot set TCP_KEEPCNT=1000 on fd 12: Invalid argument`.
 */
export class SocketOptionError extends Error {
  /** `"set"` or `"get"`. */
  readonly op: "set" | "get";
  /** The option's C name, like `"TCP_NOTSENT_LOWAT"`. */
  readonly option: string;
  /** The value being set (`undefined` for a read). */
  readonly value: number | undefined;
  /** The socket. */
  readonly fd: number;
  /** The errno value. */
  readonly errno: number;
  /** The errno name, like `"EINVAL"`. */
  readonly code: string;

  /**
   * Creates the error; its message is built from the fields.
   *
   * @param op Setting or reading.
   * @param option The option's C name.
   * @param value The value being set, or `undefined`.
   * @param fd The socket.
   * @param errno The errno value.
   * @param errnoText The errno's text, like `"Invalid argument"`.
   */
  constructor(
    op: "set" | "get",
    option: string,
    value: number | undefined,
    fd: number,
    errno: number,
    errnoText: string,
  ) {
    const what = op === "set" ? `set ${option}=${value}` : `get ${option}`;
    super(`Cannot ${what} on fd ${fd}: ${errnoText}`);
    this.name = "SocketOptionError";
    this.op = op;
    this.option = option;
    this.value = value;
    this.fd = fd;
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

type Key = Exclude<keyof TcpSocketOptions, "fastOpen">;
type Spec = readonly [key: Key, level: number, name: number, label: string, kind: "flag" | "count"];

/** Application order: buffers before the socket carries data, keepalive switch before its timing. */
const SPECS: readonly Spec[] = [
  ["reusePort", SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", "flag"],
  ["sendBufferSize", SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", "count"],
  ["recvBufferSize", SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", "count"],
  ["noDelay", IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", "flag"],
  ["quickAck", IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK", "flag"],
  ["keepAlive", SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", "flag"],
  ["keepAliveIdleSeconds", IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", "count"],
  ["keepAliveIntervalSeconds", IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", "count"],
  ["keepAliveCount", IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", "count"],
  ["notSentLowat", IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", "count"],
];

const INT_MAX = 0x7fffffff;

function validateCount(key: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > INT_MAX) {
    throw new RangeError(
      `Cannot apply socket option '${key}' as it must be an integer from 0 to ${INT_MAX}: current value is ${
        typeof value === "string" ? `"${value}"` : value
      }`,
    );
  }
}

function validateFlag(key: string, value: unknown): void {
  if (typeof value !== "boolean") {
    throw new TypeError(
      `Cannot apply socket option '${key}' as it must be a boolean: current value is ${
        typeof value === "string" ? `"${value}"` : value
      }`,
    );
  }
}

function validateFd(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0) {
    throw new RangeError(`Cannot use fd as it must be a non-negative integer: current value is ${fd}`);
  }
}

function set(libc: Libc, fd: number, level: number, name: number, label: string, value: number): void {
  if (libc.setIntOption(fd, level, name, value) !== 0) {
    const errno = libc.errno();
    throw new SocketOptionError("set", label, value, fd, errno, libc.strerror(errno));
  }
}

function get(libc: Libc, fd: number, level: number, name: number, label: string): number {
  const value = libc.getIntOption(fd, level, name);
  const errno = value === -1 ? libc.errno() : 0;
  if (errno !== 0) throw new SocketOptionError("get", label, undefined, fd, errno, libc.strerror(errno));
  return value;
}

/**
 * Sets socket options on `fd`, in the order {@linkcode TcpSocketOptions} lists them, skipping
 * `undefined` ones. All values are checked before the first is set; a kernel refusal stops at that
 * option (the earlier ones stay set).
 *
 * @example Tune a socket
 * ```ts ignore
 * applySocketOptions(fd, { noDelay: true, keepAlive: true, keepAliveIdleSeconds: 30 }, libc);
 * ```
 * @param fd The socket.
 * @param options The options to set.
 * @param libc The bindings from `loadLibc()`.
 * @throws {RangeError} If `fd` or a numeric value is not an integer from 0 to 2^31 - 1.
 * @throws {TypeError} If a boolean option is not a boolean.
 * @throws {SocketOptionError} If the kernel refuses an option (the message has the errno text).
 */
export function applySocketOptions(fd: number, options: TcpSocketOptions, libc: Libc): void {
  validateFd(fd);
  for (const [key, , , , kind] of SPECS) {
    const value = options[key];
    if (value !== undefined) (kind === "flag" ? validateFlag : validateCount)(key, value);
  }
  const { fastOpen } = options;
  if (typeof fastOpen === "number") validateCount("fastOpen", fastOpen);
  else if (fastOpen !== undefined) validateFlag("fastOpen", fastOpen);

  for (const [key, level, name, label] of SPECS) {
    const value = options[key];
    if (value !== undefined) set(libc, fd, level, name, label, Number(value));
  }
  if (fastOpen === undefined) return;
  if (get(libc, fd, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") === 1) {
    const queue = fastOpen === true ? DEFAULT_FAST_OPEN_QUEUE_LENGTH : Number(fastOpen);
    set(libc, fd, IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", queue);
  } else {
    set(libc, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "TCP_FASTOPEN_CONNECT", Number(fastOpen) > 0 ? 1 : 0);
  }
}

/**
 * Reads the options {@linkcode applySocketOptions} sets, as the kernel reports them (buffer sizes
 * doubled; see {@linkcode TcpSocketOptions.sendBufferSize}).
 *
 * @param fd The socket.
 * @param libc The bindings from `loadLibc()`.
 * @returns The current values.
 * @throws {SocketOptionError} If the kernel refuses a read (`EBADF`, `ENOTSOCK`, `EOPNOTSUPP` for a non-TCP socket).
 */
export function readSocketOptions(fd: number, libc: Libc): TcpSocketOptionValues {
  validateFd(fd);
  const listening = get(libc, fd, SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN") === 1;
  const values: Record<string, number | boolean> = { listening };
  for (const [key, level, name, label, kind] of SPECS) {
    const value = get(libc, fd, level, name, label);
    values[key] = kind === "flag" ? value !== 0 : value >>> 0; // counts are unsigned in the kernel
  }
  values.fastOpen = listening
    ? get(libc, fd, IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN")
    : get(libc, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "TCP_FASTOPEN_CONNECT");
  return values as unknown as TcpSocketOptionValues;
}

/** What {@linkcode optimizeTcpConn} sets by default: go-tunnel's `OptimizeTCPConn` (NoDelay, KeepAlive 30 s). */
export const DEFAULT_OPTIMIZE_TCP_OPTIONS: Readonly<TcpSocketOptions> = Object.freeze({
  noDelay: true,
  keepAlive: true,
  keepAliveIdleSeconds: 30, // Go's SetKeepAlivePeriod sets both the idle time and the interval
  keepAliveIntervalSeconds: 30,
});

/**
 * go-tunnel's `OptimizeTCPConn`: finds the conn's socket (see {@linkcode findSocketFd}) and sets
 * {@linkcode DEFAULT_OPTIMIZE_TCP_OPTIONS} with `options` on top (an option set to `undefined`
 * there is left alone).
 *
 * It does nothing and resolves to `false` when libc is unavailable (not Linux, Deno without
 * `--allow-ffi`; `libcUnavailableReason()` says why) or when the conn has no socket of its own
 * (a QUIC or tunnel stream). Only a plain TCP or TLS-over-TCP conn has one.
 *
 * @example Tune an accepted connection
 * ```ts ignore
 * import { optimizeTcpConn } from "@ts-tunnel/tunnel/ffi";
 * const conn = await incoming.handshake();
 * await optimizeTcpConn(conn, { sendBufferSize: 256 * 1024 });
 * ```
 * @param conn The connection; it must stay open during the call.
 * @param options Options to set instead of, or in addition to, the defaults.
 * @returns `true` when the options were set, `false` when nothing was done.
 * @throws {RangeError} If a value is out of range.
 * @throws {TypeError} If a boolean option is not a boolean.
 * @throws {SocketOptionError} If the kernel refuses an option.
 */
export async function optimizeTcpConn(conn: SocketEnds, options: TcpSocketOptions = {}): Promise<boolean> {
  const libc = await loadLibc();
  if (!libc) return false;
  const fd = findSocketFd(conn, libc);
  if (fd === undefined) return false;
  applySocketOptions(fd, { ...DEFAULT_OPTIMIZE_TCP_OPTIONS, ...options }, libc);
  return true;
}
