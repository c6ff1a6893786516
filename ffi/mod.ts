/**
 * The opt-in Linux layer: libc through FFI (`Deno.dlopen` or `bun:ffi`, chosen at run time), TCP
 * socket options the runtimes do not offer, go-tunnel's `optimizeTcpConn`, the splice engine
 * ({@linkcode splicePath}), which forwards plain TCP pairs inside the kernel, and the owned-socket
 * forwarder ({@linkcode listenOwnedSplice}), whose Worker accepts, connects and splices through libc.
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
 * @example Splice TCP pairs in the kernel, falling back to the pumps
 * ```ts ignore
 * import { DEFAULT_FAST_PATHS, forward } from "@ts-tunnel/tunnel/forward";
 * import { splicePath } from "@ts-tunnel/tunnel/ffi";
 * const stats = await forward(client, upstream, { fastPaths: [splicePath, ...DEFAULT_FAST_PATHS] });
 * console.log(stats.path); // "splice" on Linux with FFI, a pump elsewhere
 * ```
 *
 * @example Forward a port with sockets the runtime never sees
 * ```ts ignore
 * import { listenOwnedSplice } from "@ts-tunnel/tunnel/ffi";
 * await using forwarder = await listenOwnedSplice({ port: 8080, target: { hostname: "127.0.0.1", port: 80 } });
 * console.log(forwarder.stats.accepted, forwarder.stats.bytesUp);
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
export { findUdpSocketFd, type ReceiveBufferResult, setReceiveBuffer, type UdpBinding } from "./udp_socket.ts";
export type { Conn, NetAddr } from "../protocols/types.ts";
export type { FastPath, FastPathResult, ForwardCounters, ForwardEnd, PumpOptions } from "../forward/types.ts";
export { closeSpliceEngine, createSpliceEngine, SpliceEngine, spliceEngine } from "./splice_engine.ts";
export {
  DEFAULT_SPLICE_MAX_PAIRS,
  DEFAULT_SPLICE_PIPE_SIZE,
  DEFAULT_SPLICE_POOLED_PIPES,
  DEFAULT_SPLICE_SYNC_INTERVAL_MS,
  type SpliceEngineOptions,
  type SpliceEngineStats,
  type SpliceForwardOptions,
  type SpliceLoopMode,
  type SpliceResult,
} from "./splice_options.ts";
export {
  createSplicePath,
  type SpliceFastPath,
  splicePath,
  type SplicePathConfig,
  type SplicePathOptions,
  type SplicePathResult,
} from "./splice_path.ts";
export { listenOwnedSplice, OwnedSpliceForwarder } from "./owned_splice.ts";
export {
  DEFAULT_OWNED_BACKLOG,
  DEFAULT_OWNED_CONNECT_TIMEOUT_MS,
  DEFAULT_OWNED_MAX_CONNECTIONS,
  DEFAULT_OWNED_RESOLVE_INTERVAL_MS,
  DEFAULT_OWNED_SOCKET_OPTIONS,
  type OwnedSpliceOptions,
  type OwnedSpliceStats,
  type OwnedSpliceTarget,
} from "./owned_splice_options.ts";
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
