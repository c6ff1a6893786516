/**
 * The owned-sockets splice forwarder: a TCP listener whose sockets never become runtime objects.
 * A Worker accepts (`accept4`), connects to the target (nonblocking `connect`) and splices both
 * directions in the kernel through pooled pipes, all through libc; the main thread only starts
 * and stops it and reads its statistics from shared memory. Linux only; needs FFI.
 *
 * Compared with the splice fast path (`splicePath`, which takes the fds of conns the runtime
 * made), a connection costs no runtime conn object, no fd lookup and no message to the Worker; in
 * exchange the forwarder cannot run per-connection user code (TLS, inspection, per-target retries,
 * a per-connection listing): it forwards plain TCP from one listener to one target.
 * @module
 */
import { lookup } from "node:dns/promises";
import { clearInterval, setInterval } from "node:timers";
import { Worker } from "node:worker_threads";
import { workerModuleUrl } from "../forward/_worker_url.ts";
import { NET_ERROR_TEXT, NetError, type NetErrorCode } from "../protocols/errors.ts";
import type { NetAddr } from "../protocols/types.ts";
import { errnoName, errnoText } from "./_errno.ts";
import {
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  type Libc,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
} from "./libc.ts";
import { libcUnavailableReason, loadLibc } from "./load.ts";
import { applySocketOptions, type TcpSocketOptions } from "./socket_options.ts";
import {
  DEFAULT_SPLICE_PIPE_SIZE as DEFAULT_PIPE_SIZE,
  DEFAULT_SPLICE_POOLED_PIPES as DEFAULT_POOLED_PIPES,
} from "./splice_options.ts";
import {
  DEFAULT_OWNED_BACKLOG,
  DEFAULT_OWNED_CONNECT_TIMEOUT_MS,
  DEFAULT_OWNED_MAX_CONNECTIONS,
  DEFAULT_OWNED_RESOLVE_INTERVAL_MS,
  DEFAULT_OWNED_SOCKET_OPTIONS,
  type OwnedSpliceOptions,
  type OwnedSpliceStats,
} from "./owned_splice_options.ts";
import { type EncodedSockaddr, encodeSockaddr, SOCKADDR_MAX } from "./_owned_sockaddr.ts";
import {
  CMD_CLOSE,
  CMD_DRAIN,
  CONTROL_LENGTH,
  COUNTER_STRIDE,
  CTL_COMMAND,
  CTL_SLOTS_USED,
  CTL_STATS_SEQ,
  CTL_TARGET_LENGTH,
  CTL_TARGET_SEQ,
  type OwnedShared,
  readConsistent,
  ST_ACCEPT_ERRORS,
  ST_ACCEPTED,
  ST_ACTIVE,
  ST_BYTES_DOWN,
  ST_BYTES_UP,
  ST_CONNECT_ERRORS,
  ST_CONNECTING,
  ST_ERRORS,
  ST_IDLE_TIMEOUTS,
  ST_LAST_CONNECT_ERRNO,
  ST_LISTENING,
  ST_PIPES_IN_USE,
  ST_REFUSED,
  STATS_LENGTH,
} from "./_owned_shared.ts";

const WAKE_VALUE = new Uint8Array(new BigUint64Array([1n]).buffer);

function checkInteger(key: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot start the owned splice forwarder as '${key}' must be an integer from ${min} to ${max}: current value is ${value}`,
    );
  }
}

/** Resolves a target to an encoded address: IP literals directly, host names with `getaddrinfo`. */
async function resolveTarget(hostname: string, port: number): Promise<EncodedSockaddr> {
  const literal = encodeSockaddr(hostname, port);
  if (literal) return literal;
  let address: string | undefined;
  try {
    address = (await lookup(hostname)).address;
  } catch (error) {
    throw new NetError("ENOTFOUND", `Cannot resolve "${hostname}" for the owned splice forwarder: host not found`, {
      op: "dial",
      protocol: "tcp",
      cause: error,
    });
  }
  return encodeSockaddr(address, port)!;
}

const LISTEN_CODES: Record<number, NetErrorCode> = {
  [EADDRINUSE]: "EADDRINUSE",
  [EACCES]: "EACCES",
  [EADDRNOTAVAIL]: "EADDRNOTAVAIL",
};

/** Creates, binds and listens on a nonblocking socket; returns the fd and the bound port. */
function openListener(
  libc: Libc,
  addr: EncodedSockaddr,
  backlog: number,
  reusePort: boolean,
  options: TcpSocketOptions,
) {
  const where = addr.address.includes(":") ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  const fail = (errno: number): never => {
    const code = LISTEN_CODES[errno] ?? "EUNKNOWN";
    const text = code === "EUNKNOWN" ? `${errnoText(errno)} (${errnoName(errno)})` : NET_ERROR_TEXT[code];
    throw new NetError(code, `Cannot listen on "${where}" over tcp: ${text}`, { op: "listen", protocol: "tcp" });
  };
  const fd = libc.socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(libc.errno());
  try {
    if (libc.setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) !== 0) fail(libc.errno());
    if (reusePort && libc.setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) !== 0) fail(libc.errno());
    if (libc.bind(fd, addr.bytes, addr.bytes.byteLength) !== 0) fail(libc.errno());
    if (libc.listen(fd, backlog) !== 0) fail(libc.errno());
    applySocketOptions(fd, options, libc); // after listen: fastOpen then sets the listener's queue
    const port = libc.getsockname(fd)?.port ?? addr.port;
    return { fd, port };
  } catch (error) {
    libc.close(fd);
    throw error;
  }
}

/**
 * A running owned-sockets forwarder, made by {@linkcode listenOwnedSplice}.
 * `close()` is idempotent; `await using` closes it.
 */
export class OwnedSpliceForwarder implements AsyncDisposable {
  /** The address it listens on (the port chosen when 0 was asked for). */
  readonly addr: NetAddr;
  #libc: Libc;
  #worker: Worker;
  #shared: OwnedShared;
  #control: Int32Array;
  #stats: Float64Array;
  #counters: Float64Array;
  #targetBytes: Uint8Array;
  #target: EncodedSockaddr;
  #drained = Promise.withResolvers<void>();
  #stopped = Promise.withResolvers<void>();
  #closing: Promise<void> | undefined;
  #resolveTimer: ReturnType<typeof setInterval> | undefined;

  /** @internal Use {@linkcode listenOwnedSplice}. */
  constructor(libc: Libc, worker: Worker, shared: OwnedShared, addr: NetAddr, target: EncodedSockaddr) {
    this.#libc = libc;
    this.#worker = worker;
    this.#shared = shared;
    this.addr = addr;
    this.#control = new Int32Array(shared.control);
    this.#stats = new Float64Array(shared.stats);
    this.#counters = new Float64Array(shared.counters);
    this.#targetBytes = new Uint8Array(shared.target);
    this.#target = target;
    this.#writeTarget(target);
    worker.on("message", (message: { type: string }) => {
      if (message.type === "drained") this.#drained.resolve();
      else if (message.type === "stopped" || message.type === "failed") this.#stopped.resolve();
    });
    worker.on("error", () => this.#stopped.resolve());
    worker.on("exit", () => this.#stopped.resolve());
  }

  /** The target address in use (resolved), like `127.0.0.1:8080`. */
  get target(): NetAddr {
    return { transport: "tcp", hostname: this.#target.address, port: this.#target.port };
  }

  /** Live totals, read from shared memory: no message, no wait. Bytes are exact once connections end. */
  get stats(): OwnedSpliceStats {
    const stats = this.#stats, counters = this.#counters, control = this.#control;
    const [bytesUp, bytesDown] = readConsistent(control, CTL_STATS_SEQ, () => {
      let up = stats[ST_BYTES_UP], down = stats[ST_BYTES_DOWN];
      const used = Atomics.load(control, CTL_SLOTS_USED);
      for (let slot = 0; slot < used; slot++) {
        up += counters[slot * COUNTER_STRIDE];
        down += counters[slot * COUNTER_STRIDE + 1];
      }
      return [up, down];
    });
    const lastErrno = stats[ST_LAST_CONNECT_ERRNO];
    return {
      active: stats[ST_ACTIVE],
      connecting: stats[ST_CONNECTING],
      accepted: stats[ST_ACCEPTED],
      refused: stats[ST_REFUSED],
      errors: stats[ST_ERRORS],
      connectErrors: stats[ST_CONNECT_ERRORS],
      lastConnectError: lastErrno > 0 ? errnoName(lastErrno) : undefined,
      idleTimeouts: stats[ST_IDLE_TIMEOUTS],
      acceptErrors: stats[ST_ACCEPT_ERRORS],
      bytesUp,
      bytesDown,
      pipesInUse: stats[ST_PIPES_IN_USE],
      listening: stats[ST_LISTENING] === 1,
    };
  }

  /** @internal Re-resolves a host-name target every `intervalMs`. */
  watchTarget(hostname: string, port: number, intervalMs: number): void {
    this.#resolveTimer = setInterval(() => {
      resolveTarget(hostname, port).then((next) => {
        if (this.#closing === undefined) this.#writeTarget(next);
      }, () => {}); // keep the last address
    }, intervalMs);
    this.#resolveTimer.unref();
  }

  /**
   * Graceful stop: closes the listening socket at once (new clients are refused by the kernel),
   * lets the open connections end by themselves, and closes those still open when `signal` aborts.
   * Resolves once every socket is closed.
   *
   * @param options `signal`: when to stop waiting for the connections (none: wait for all).
   * @returns Resolves when the forwarder is stopped.
   */
  async shutdown(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const { signal } = options;
    this.#command(CMD_DRAIN);
    if (!signal?.aborted) {
      const aborted = Promise.withResolvers<void>();
      const onAbort = () => aborted.resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await Promise.race([this.#drained.promise, this.#stopped.promise, aborted.promise]);
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    }
    return this.close();
  }

  /** Stops at once: closes the listening socket and every connection. Idempotent. */
  close(): Promise<void> {
    return this.#closing ??= (async () => {
      if (this.#resolveTimer) clearInterval(this.#resolveTimer);
      this.#command(CMD_CLOSE);
      await this.#stopped.promise;
      this.#worker.removeAllListeners();
      await this.#worker.terminate();
      this.#libc.close(this.#shared.wakeFd);
    })();
  }

  /** Same as {@linkcode OwnedSpliceForwarder.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #command(command: number): void {
    const current = Atomics.load(this.#control, CTL_COMMAND);
    if (command > current) Atomics.store(this.#control, CTL_COMMAND, command);
    this.#libc.write(this.#shared.wakeFd, WAKE_VALUE, 8);
  }

  #writeTarget(target: EncodedSockaddr): void {
    const control = this.#control;
    Atomics.add(control, CTL_TARGET_SEQ, 1); // odd: being written
    this.#targetBytes.fill(0);
    this.#targetBytes.set(target.bytes);
    Atomics.store(control, CTL_TARGET_LENGTH, target.bytes.byteLength);
    Atomics.add(control, CTL_TARGET_SEQ, 1);
    this.#target = target;
  }
}

/**
 * Starts an owned-sockets forwarder: listens on `hostname:port` through libc and forwards each
 * client to `target` inside the kernel, from a Worker, until `shutdown()` or `close()`.
 *
 * Each connection: the client is accepted with `accept4`, a target socket is connected without
 * blocking, both are registered edge-triggered in one epoll set, and bytes move with
 * `splice(socket → pipe → socket)`; end of stream on one side becomes `shutdown(SHUT_WR)` on the
 * other (half-close), and the connection ends when both directions did. A reset, a refused or
 * timed-out target connect, or the idle timeout closes both sockets and is counted in `stats`.
 *
 * @example Forward a port
 * ```ts ignore
 * import { listenOwnedSplice } from "@ts-tunnel/tunnel/ffi";
 * await using forwarder = await listenOwnedSplice({ port: 8080, target: { hostname: "10.0.0.2", port: 80 } });
 * console.log(forwarder.addr.port, forwarder.stats.active);
 * await forwarder.shutdown({ signal: AbortSignal.timeout(10_000) });
 * ```
 * @param options Where to listen and forward, limits, socket options.
 * @returns The running forwarder.
 * @throws {Error} If libc cannot be used (not Linux, no `--allow-ffi` on Deno; the reason is given).
 * @throws {RangeError} If a number is out of range, or `hostname` is not an IP literal.
 * @throws {NetError} `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL` when it cannot listen; `ENOTFOUND` when the target does not resolve.
 */
export async function listenOwnedSplice(options: OwnedSpliceOptions): Promise<OwnedSpliceForwarder> {
  const {
    hostname = "0.0.0.0",
    port,
    target,
    reusePort = false,
    backlog = DEFAULT_OWNED_BACKLOG,
    maxConnections = DEFAULT_OWNED_MAX_CONNECTIONS,
    idleTimeoutMs = 0,
    connectTimeoutMs = DEFAULT_OWNED_CONNECT_TIMEOUT_MS,
    resolveIntervalMs = DEFAULT_OWNED_RESOLVE_INTERVAL_MS,
    pipeSize = DEFAULT_PIPE_SIZE,
    maxPooledPipes = DEFAULT_POOLED_PIPES,
    socketOptions = DEFAULT_OWNED_SOCKET_OPTIONS,
  } = options;
  checkInteger("port", port, 0, 65535);
  checkInteger("target.port", target.port, 1, 65535);
  checkInteger("backlog", backlog, 1, 0x7fffffff);
  checkInteger("maxConnections", maxConnections, 1, 1 << 20);
  checkInteger("idleTimeoutMs", idleTimeoutMs, 0, 0x7fffffff);
  checkInteger("connectTimeoutMs", connectTimeoutMs, 1, 0x7fffffff);
  checkInteger("resolveIntervalMs", resolveIntervalMs, 1, 0x7fffffff);
  checkInteger("pipeSize", pipeSize, 0, 1 << 30);
  checkInteger("maxPooledPipes", maxPooledPipes, 0, 1 << 16);
  const listenAddr = encodeSockaddr(hostname, port);
  if (!listenAddr) {
    throw new RangeError(
      `Cannot start the owned splice forwarder as 'hostname' must be an IP literal such as "0.0.0.0" or "::": current value is "${hostname}"`,
    );
  }
  const libc = await loadLibc();
  if (!libc) throw new Error(`Cannot start the owned splice forwarder: ${libcUnavailableReason()}`);
  const resolved = await resolveTarget(target.hostname, target.port);
  const { fastOpen: _tfo, reusePort: _rp, ...connectOptions } = socketOptions;
  const listener = openListener(libc, listenAddr, backlog, reusePort, socketOptions);
  const wakeFd = libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd < 0) {
    libc.close(listener.fd);
    throw new Error(`Cannot create the owned splice forwarder's eventfd: ${errnoText(libc.errno())}`);
  }
  const shared: OwnedShared = {
    listenFd: listener.fd,
    wakeFd,
    maxConnections,
    idleTimeoutMs,
    connectTimeoutMs,
    pipeSize,
    maxPooledPipes,
    connectOptions,
    control: new SharedArrayBuffer(CONTROL_LENGTH * 4),
    target: new SharedArrayBuffer(SOCKADDR_MAX),
    stats: new SharedArrayBuffer(STATS_LENGTH * 8),
    counters: new SharedArrayBuffer(maxConnections * COUNTER_STRIDE * 8),
  };
  const worker = new Worker(workerModuleUrl("./_owned_worker.ts", import.meta.url, "ffi/_owned_worker.ts"), {
    workerData: shared,
  });
  const addr: NetAddr = { transport: "tcp", hostname: listenAddr.address, port: listener.port };
  const forwarder = new OwnedSpliceForwarder(libc, worker, shared, addr, resolved);
  const ready = await new Promise<string | undefined>((resolve) => {
    worker.on("message", (message: { type: string; message?: string }) => {
      if (message.type === "ready") resolve(undefined);
      else if (message.type === "failed") resolve(message.message);
    });
    worker.on("error", (error: unknown) => resolve(error instanceof Error ? error.message : String(error)));
  });
  if (ready !== undefined) {
    worker.removeAllListeners();
    await worker.terminate();
    libc.close(listener.fd);
    libc.close(wakeFd);
    throw new Error(`Cannot start the owned splice forwarder's Worker: ${ready}`);
  }
  if (encodeSockaddr(target.hostname, target.port) === undefined) {
    forwarder.watchTarget(target.hostname, target.port, resolveIntervalMs);
  }
  return forwarder;
}
