/**
 * The opt-in Linux layer: libc through FFI (`Deno.dlopen` or `bun:ffi`, chosen at run time), TCP
 * socket options the runtimes do not offer, and go-tunnel's `optimizeTcpConn`.
 *
 * Nothing here runs when the module is imported: the bindings load on the first
 * {@linkcode loadLibc} call. On Deno they need `--allow-ffi`; without it, or off Linux,
 * {@linkcode loadLibc} resolves to `undefined`, {@linkcode optimizeTcpConn} resolves to `false`,
 * and {@linkcode libcUnavailableReason} says why. Nothing throws for a missing fast path.
 *
 * @example Tune a connection the go-tunnel way
 * ```ts ignore
 * import { TcpProtocol } from "@ts-tunnel/tunnel/protocols";
 * import { libcUnavailableReason, optimizeTcpConn } from "@ts-tunnel/tunnel/ffi";
 *
 * await using conn = await new TcpProtocol().dial({ hostname: "127.0.0.1", port: 8080 });
 * if (!await optimizeTcpConn(conn, { notSentLowat: 16_384 })) {
 *   console.log(`socket options not set: ${libcUnavailableReason() ?? "no socket under this conn"}`);
 * }
 * ```
 *
 * @example Read a socket's options back
 * ```ts ignore
 * import { findSocketFd, loadLibc, readSocketOptions } from "@ts-tunnel/tunnel/ffi";
 * const libc = await loadLibc();
 * const fd = libc && findSocketFd(conn, libc);
 * if (libc && fd !== undefined) console.log(readSocketOptions(fd, libc).sendBufferSize);
 * ```
 * @module
 */
export { libcUnavailableReason, loadLibc } from "./load.ts";
export type { Libc, SockAddr } from "./libc.ts";
export { findListenerFd, findSocketFd, type SocketEnds } from "./socket_fd.ts";
export type { NetAddr } from "../protocols/types.ts";
export {
  applySocketOptions,
  DEFAULT_FAST_OPEN_QUEUE_LENGTH,
  DEFAULT_OPTIMIZE_TCP_OPTIONS,
  optimizeTcpConn,
  readSocketOptions,
  SocketOptionError,
  type TcpSocketOptions,
  type TcpSocketOptionValues,
} from "./socket_options.ts";
