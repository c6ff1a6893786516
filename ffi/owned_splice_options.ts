/**
 * Options, defaults and statistics of the owned-sockets splice forwarder
 * ({@linkcode listenOwnedSplice} in `owned_splice.ts`).
 * @module
 */
import type { TcpSocketOptions } from "./socket_options.ts";

/** Default listen backlog (the kernel caps it at `net.core.somaxconn`). */
export const DEFAULT_OWNED_BACKLOG = 4096;
/** Default most connections at once; each holds 2 fds, and up to 4 more while bytes are in flight. */
export const DEFAULT_OWNED_MAX_CONNECTIONS = 4096;
/** Default time a target connect may take, in milliseconds. */
export const DEFAULT_OWNED_CONNECT_TIMEOUT_MS = 10_000;
/** Default interval between resolutions of a target given by host name, in milliseconds. */
export const DEFAULT_OWNED_RESOLVE_INTERVAL_MS = 30_000;
/** Default socket options of client and target sockets. */
export const DEFAULT_OWNED_SOCKET_OPTIONS: Readonly<TcpSocketOptions> = Object.freeze({ noDelay: true });

/** Where the forwarder connects each client. */
export interface OwnedSpliceTarget {
  /**
   * An IP literal (`127.0.0.1`, `::1`), or a host name: resolved before the start (with the
   * system resolver, `getaddrinfo`), the first address taken, and resolved again every
   * `resolveIntervalMs` (a failed resolution keeps the last address).
   */
  readonly hostname: string;
  /** The port, 1 to 65535. */
  readonly port: number;
}

/** Options for {@linkcode listenOwnedSplice}. */
export interface OwnedSpliceOptions {
  /** The address to listen on: an IPv4 or IPv6 literal. @default {"0.0.0.0"} */
  hostname?: string;
  /** The port to listen on; 0 picks a free one (read it from `addr`). */
  port: number;
  /** Where each client is connected. */
  target: OwnedSpliceTarget;
  /** Sets `SO_REUSEPORT` on the listening socket (several processes share the port). @default {false} */
  reusePort?: boolean;
  /** The listen backlog. @default {4096} */
  backlog?: number;
  /** Most connections at once; a client past it is closed as soon as it is accepted (counted as `refused`). @default {4096} */
  maxConnections?: number;
  /** Closes a connection after this long without a byte either way; 0 never. @default {0} */
  idleTimeoutMs?: number;
  /** Closes the client when its target connect takes longer. @default {10_000} */
  connectTimeoutMs?: number;
  /** Re-resolves a target host name this often (ignored for an IP literal). @default {30_000} */
  resolveIntervalMs?: number;
  /** Pipe size to ask for, in bytes (0 keeps the kernel default); adapted down on refusals. @default {1_048_576} */
  pipeSize?: number;
  /** Empty pipes kept for reuse. @default {16} */
  maxPooledPipes?: number;
  /**
   * Socket options for both sockets of each connection: set on the listening socket (accepted
   * sockets inherit them from it, so no call is spent per client) and on each target socket before
   * it connects. `reusePort` and `fastOpen` act on the listener only.
   * @default {{ noDelay: true }}
   */
  socketOptions?: TcpSocketOptions;
}

/** Totals of an owned-sockets forwarder, read from shared memory (no message, no wait). */
export interface OwnedSpliceStats {
  /** Connections being connected or forwarded. */
  readonly active: number;
  /** Of `active`, those whose target connect is in progress. */
  readonly connecting: number;
  /** Connections accepted, refused ones included. */
  readonly accepted: number;
  /** Clients closed at once because `maxConnections` were active or no target address was known. */
  readonly refused: number;
  /** Connections that ended with an error (reset, broken pipe, failed target connect). */
  readonly errors: number;
  /** Of `errors`, target connects that failed (refused, unreachable, timed out). */
  readonly connectErrors: number;
  /** The errno name of the last failed target connect (`"ECONNREFUSED"`), or `undefined`. */
  readonly lastConnectError: string | undefined;
  /** Connections closed by the idle timeout. */
  readonly idleTimeouts: number;
  /** Failed `accept4` calls (`EMFILE`, `ENFILE`, …; the listener backs off 50 ms). */
  readonly acceptErrors: number;
  /** Bytes client → target, live connections included (exact once they end). */
  readonly bytesUp: number;
  /** Bytes target → client, live connections included. */
  readonly bytesDown: number;
  /** Pipes holding bytes in flight. */
  readonly pipesInUse: number;
  /** True while the listening socket is open (false once `shutdown()` or `close()` closed it). */
  readonly listening: boolean;
}
