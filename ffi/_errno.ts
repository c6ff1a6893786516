/**
 * Internal: errno names and glibc's English messages, so error texts do not depend on the locale
 * or on a libc call. Covers what socket, pipe, splice and epoll calls return; other codes print as
 * glibc does (`Unknown error N`).
 * @module
 */

const TABLE: readonly (readonly [number, string, string])[] = [
  [1, "EPERM", "Operation not permitted"],
  [2, "ENOENT", "No such file or directory"],
  [4, "EINTR", "Interrupted system call"],
  [5, "EIO", "Input/output error"],
  [9, "EBADF", "Bad file descriptor"],
  [11, "EAGAIN", "Resource temporarily unavailable"],
  [12, "ENOMEM", "Cannot allocate memory"],
  [13, "EACCES", "Permission denied"],
  [14, "EFAULT", "Bad address"],
  [16, "EBUSY", "Device or resource busy"],
  [17, "EEXIST", "File exists"],
  [19, "ENODEV", "No such device"],
  [20, "ENOTDIR", "Not a directory"],
  [21, "EISDIR", "Is a directory"],
  [22, "EINVAL", "Invalid argument"],
  [23, "ENFILE", "Too many open files in system"],
  [24, "EMFILE", "Too many open files"],
  [28, "ENOSPC", "No space left on device"],
  [29, "ESPIPE", "Illegal seek"],
  [32, "EPIPE", "Broken pipe"],
  [38, "ENOSYS", "Function not implemented"],
  [71, "EPROTO", "Protocol error"],
  [75, "EOVERFLOW", "Value too large for defined data type"],
  [77, "EBADFD", "File descriptor in bad state"],
  [88, "ENOTSOCK", "Socket operation on non-socket"],
  [89, "EDESTADDRREQ", "Destination address required"],
  [90, "EMSGSIZE", "Message too long"],
  [91, "EPROTOTYPE", "Protocol wrong type for socket"],
  [92, "ENOPROTOOPT", "Protocol not available"],
  [93, "EPROTONOSUPPORT", "Protocol not supported"],
  [94, "ESOCKTNOSUPPORT", "Socket type not supported"],
  [95, "EOPNOTSUPP", "Operation not supported"],
  [97, "EAFNOSUPPORT", "Address family not supported by protocol"],
  [98, "EADDRINUSE", "Address already in use"],
  [99, "EADDRNOTAVAIL", "Cannot assign requested address"],
  [100, "ENETDOWN", "Network is down"],
  [101, "ENETUNREACH", "Network is unreachable"],
  [103, "ECONNABORTED", "Software caused connection abort"],
  [104, "ECONNRESET", "Connection reset by peer"],
  [105, "ENOBUFS", "No buffer space available"],
  [106, "EISCONN", "Transport endpoint is already connected"],
  [107, "ENOTCONN", "Transport endpoint is not connected"],
  [108, "ESHUTDOWN", "Cannot send after transport endpoint shutdown"],
  [110, "ETIMEDOUT", "Connection timed out"],
  [111, "ECONNREFUSED", "Connection refused"],
  [113, "EHOSTUNREACH", "No route to host"],
  [114, "EALREADY", "Operation already in progress"],
  [115, "EINPROGRESS", "Operation now in progress"],
  [125, "ECANCELED", "Operation canceled"],
];

const NAMES = new Map<number, string>(TABLE.map(([code, name]) => [code, name]));
const TEXTS = new Map<number, string>(TABLE.map(([code, , text]) => [code, text]));

/** The symbolic name of an errno value (`22` → `"EINVAL"`), or `"E<code>"` when unknown. */
export function errnoName(code: number): string {
  return NAMES.get(code) ?? `E${code}`;
}

/** glibc's message for an errno value (`22` → `"Invalid argument"`). */
export function errnoText(code: number): string {
  return TEXTS.get(code) ?? `Unknown error ${code}`;
}
