/**
 * The runtime services the engine needs, one implementation per runtime, loaded lazily.
 * @module
 */
import type { ListenAddr, Listener, SocketOptions, TcpConn } from "./types.ts";

/** Options for {@linkcode Runtime.connectTcp}. */
export interface TcpConnectOptions extends SocketOptions {
  /** Host name or IP literal. */
  hostname: string;
  /** Port. */
  port: number;
  /** Cancels the connect. */
  signal?: AbortSignal;
  /** Fails the connect with ETIMEDOUT after this many milliseconds. */
  timeoutMs?: number;
}

/** Options for {@linkcode Runtime.listenTcp}. */
export interface TcpListenOptions extends ListenAddr, SocketOptions {}

/** Signals the CLI handles. */
export type ShutdownSignal = "SIGINT" | "SIGTERM";

/** Runtime services the engine needs; one implementation per runtime. */
export interface Runtime {
  /** `"deno"` or `"bun"` (or a test double's name). */
  readonly name: string;
  /** Opens a TCP connection. @throws {NetError} */
  connectTcp(options: TcpConnectOptions): Promise<TcpConn>;
  /** Binds a TCP listener. @throws {NetError} */
  listenTcp(options: TcpListenOptions): Promise<Listener<TcpConn>>;
  /** Calls `handler` on each delivery of `signal` until disposed. */
  onSignal(signal: ShutdownSignal, handler: () => void): Disposable;
  /** The command-line arguments after the script. */
  args(): string[];
  /** Ends the process. */
  exit(code: number): never;
}

let current: Promise<Runtime> | undefined;

/**
 * Resolves to the adapter for the runtime in use, loading only that adapter.
 *
 * @returns The Deno or Bun runtime adapter.
 */
export function defaultRuntime(): Promise<Runtime> {
  current ??= "Bun" in globalThis
    ? import("./_runtime_bun.ts").then((m) => m.createBunRuntime())
    : import("./_runtime_deno.ts").then((m) => m.createDenoRuntime());
  return current;
}
