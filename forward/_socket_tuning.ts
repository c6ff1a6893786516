/**
 * Internal: sets a tunnel's socket options ({@linkcode SocketOptionPlan}) on its listening socket
 * and on every client and upstream socket, through `../ffi/mod.ts`, which is imported only when a
 * tunnel sets one of these options. It never fails a connection: without FFI nothing is set and
 * {@linkcode SocketTuning.unavailableReason} says why; a socket the kernel refuses an option on
 * (or that has no fd of its own) is counted and reported, and forwarding goes on.
 * @module
 */
import type { Listener, NetAddr } from "../protocols/types.ts";
import type { SocketEnds } from "../ffi/socket_fd.ts";
import type { Libc } from "../ffi/libc.ts";
import type { SocketOptionPlan } from "./_config_socket.ts";

type Ffi = typeof import("../ffi/mod.ts");

/** Where a socket option was being set. */
export type SocketSide = "listener" | "client" | "upstream";

/** Counters of {@linkcode SocketTuning} (in `TunnelStats.socketOptions`). */
export interface SocketOptionStats {
  /** Sockets whose options were all set. */
  readonly applied: number;
  /** Sockets where setting failed (the kernel refused one, or no fd was found). */
  readonly failed: number;
  /** Why nothing is set at all (no FFI), when that is so. */
  readonly unavailable?: string;
}

/** Sets one tunnel's socket options. */
export class SocketTuning {
  readonly #plan: SocketOptionPlan;
  readonly #onError: (side: SocketSide, error: Error) => void;
  #ready?: Promise<{ ffi: Ffi; libc: Libc } | undefined>;
  #unavailable?: string;
  #applied = 0;
  #failed = 0;

  /**
   * @param plan What to set.
   * @param onError Told about each socket whose options could not be set.
   */
  constructor(plan: SocketOptionPlan, onError: (side: SocketSide, error: Error) => void) {
    this.#plan = plan;
    this.#onError = onError;
  }

  /** Loads FFI and libc once; resolves to `undefined` (with the reason kept) when unavailable. */
  #load(): Promise<{ ffi: Ffi; libc: Libc } | undefined> {
    return this.#ready ??= (async () => {
      let ffi: Ffi;
      try {
        ffi = await import("../ffi/mod.ts");
      } catch (error) {
        this.#unavailable = `the FFI module cannot be loaded: ${(error as Error).message}`;
        return undefined;
      }
      const libc = await ffi.loadLibc();
      if (!libc) {
        this.#unavailable = ffi.libcUnavailableReason() ?? "libc is unavailable";
        return undefined;
      }
      return { ffi, libc };
    })();
  }

  /** Why the options are not set, once known: no FFI (not Linux, Deno without `--allow-ffi`). */
  get unavailableReason(): string | undefined {
    return this.#unavailable;
  }

  /** The counters. */
  stats(): SocketOptionStats {
    return { applied: this.#applied, failed: this.#failed, unavailable: this.#unavailable };
  }

  /** Loads FFI now (at start), so the reason is known before the first connection. */
  async prepare(): Promise<void> {
    await this.#load();
  }

  /** Sets the listener's options (Fast Open queue, inherited buffer sizes). Never throws. */
  async tuneListener(listener: Listener): Promise<void> {
    if (Object.keys(this.#plan.listener).length === 0) return;
    const loaded = await this.#load();
    if (!loaded) return;
    const fd = loaded.ffi.findListenerFd(listener, loaded.libc);
    this.#set("listener", fd, this.#plan.listener, listener.addr, loaded);
  }

  /** Sets the connection options on a client or upstream socket. Never throws. */
  async tuneConn(side: "client" | "upstream", conn: SocketEnds): Promise<void> {
    if (Object.keys(this.#plan.conn).length === 0) return;
    const loaded = await this.#load();
    if (!loaded) return;
    let fd: number | undefined;
    try {
      fd = loaded.ffi.findSocketFd(conn, loaded.libc);
    } catch (error) {
      this.#failed++;
      this.#onError(side, error as Error);
      return;
    }
    this.#set(side, fd, this.#plan.conn, conn.localAddr, loaded);
  }

  #set(
    side: SocketSide,
    fd: number | undefined,
    options: SocketOptionPlan["listener"],
    addr: NetAddr,
    { ffi, libc }: { ffi: Ffi; libc: Libc },
  ): void {
    try {
      if (fd === undefined) {
        throw new Error(
          `Cannot set socket options on the ${side} socket at ${addr.hostname}:${addr.port}: no socket of its own was found (closed already, or not TCP)`,
        );
      }
      ffi.applySocketOptions(fd, options, libc);
      this.#applied++;
    } catch (error) {
      this.#failed++;
      this.#onError(side, error as Error);
    }
  }
}
