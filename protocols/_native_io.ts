/**
 * Internal: the runtime's own I/O behind a {@linkcode Conn}, for the forward engine's native pumps.
 * Deno offers pull I/O (`read(buffer)` / `write(data)`), Bun offers push I/O (`data`/`drain` callbacks).
 * A conn exposes at most one of them under {@linkcode NATIVE_IO}; whoever takes it must not use the
 * conn's web streams as well.
 * @module
 */
import type { Conn } from "./types.ts";

/** Pull-style I/O: the caller owns the buffer (Deno). */
export interface PullIO {
  readonly kind: "pull";
  /** Reads into `buffer`; resolves to the byte count, or `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `data`; resolves to the byte count written (at least 1). */
  write(data: Uint8Array): Promise<number>;
  /** Half-closes the write side. */
  closeWrite(): Promise<void>;
}

/** Receives a push-style socket's events. */
export interface PushSink {
  /** Bytes arrived; `chunk` may be reused by the runtime after the call returns. */
  data(chunk: Uint8Array): void;
  /** The socket can take more writes. */
  drain(): void;
  /** The peer half-closed. */
  end(): void;
  /** The socket closed; `error` is a NetError when it failed. */
  close(error?: unknown): void;
}

/** Push-style I/O: the runtime calls back (Bun). Starts paused; `resume()` lets data flow. */
export interface PushIO {
  readonly kind: "push";
  /** Routes the socket's events to `sink` (replacing any earlier sink). */
  attach(sink: PushSink): void;
  /** Stops reading from the kernel (the peer sees backpressure). */
  pause(): void;
  /** Resumes reading. */
  resume(): void;
  /** Writes what the socket takes now; returns the count (0 when full), or -1 once closed. */
  write(data: Uint8Array): number;
  /** Half-closes the write side once queued bytes are flushed. */
  end(): void;
}

/** Either kind of native I/O. */
export type NativeIO = PullIO | PushIO;

/** Symbol under which a conn exposes its {@linkcode NativeIO}. */
export const NATIVE_IO: unique symbol = Symbol.for("ts-tunnel.nativeIO");
/** Symbol under which a conn exposes its kernel file descriptor, when the runtime reveals it. */
export const SOCKET_FD: unique symbol = Symbol.for("ts-tunnel.socketFd");

/** Symbol set to `true` on conns that are plain kernel TCP sockets (no TLS or framing in between), so bytes may be spliced. */
export const PLAIN_TCP: unique symbol = Symbol.for("ts-tunnel.plainTcp");

/** A conn that may carry native I/O. */
export interface NativeConn extends Conn {
  /** The runtime's own I/O, if this conn offers it. */
  readonly [NATIVE_IO]?: NativeIO;
  /** The socket's kernel fd, if known. */
  readonly [SOCKET_FD]?: number;
}

/** Returns the conn's native I/O, or `undefined`. */
export function nativeIO(conn: Conn): NativeIO | undefined {
  return (conn as NativeConn)[NATIVE_IO];
}
