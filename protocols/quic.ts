/**
 * The `quic` protocol: every bidirectional stream of a QUIC connection is one forwarded
 * {@linkcode Conn}. Listening yields the streams of all accepted connections; dialing opens a new
 * stream on one cached connection per target (re-established when it closes).
 * @module
 */
import { isCancellation, raceAbort } from "./_abort.ts";
import { type QuicStreamListener, QuicStreamListenerImpl } from "./_quic_stream_listener.ts";
import { loadCa, loadKeyPair } from "./_tls_files.ts";
import { formatAddr, netAddr } from "./address.ts";
import { NetError, UnsupportedProtocolError } from "./errors.ts";
import {
  DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
  DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
  DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES,
  QUIC_CONGESTION_CONTROLS,
  type QuicConnection,
  type QuicTransportOptions,
} from "./quic_types.ts";
import { defaultRuntime, type Runtime } from "./runtime.ts";
import type { Conn, DialAddr, DialOptions, ListenAddr, ListenOptions, Protocol } from "./types.ts";

export type { QuicStreamListener };

/** Default ALPN protocol of the `quic` protocol (both sides must agree). */
export const DEFAULT_QUIC_ALPN_PROTOCOLS: readonly string[] = Object.freeze(["ts-tunnel-quic"]);
/** Default keep-alive interval of `quic` connections, in milliseconds; 0 sends none. */
export const DEFAULT_QUIC_KEEP_ALIVE_INTERVAL_MS = 0;

/** The listening side of {@linkcode QuicProtocol}. */
export interface QuicServerOptions {
  /** Certificate chain file (PEM, leaf first). Pair with `keyFile`. */
  certFile?: string;
  /** Private key file (PEM) of the leaf in `certFile`. */
  keyFile?: string;
  /** Certificate chain as a PEM string, instead of `certFile`. Pair with `key`. */
  cert?: string;
  /** Private key as a PEM string, instead of `keyFile`. */
  key?: string;
  /** Deadline of each QUIC handshake, in milliseconds. @default {10_000} */
  handshakeTimeoutMs?: number;
  /** Called with each failed handshake's error (for logs). */
  onHandshakeError?: (error: unknown) => void;
}

/** The dialing side of {@linkcode QuicProtocol}. */
export interface QuicClientOptions {
  /** Name sent (SNI) and checked against the server's certificate. @default {the dialed hostname} */
  serverName?: string;
  /** CA bundle file (PEM) to trust, added to the runtime's roots. @default {the runtime's roots} */
  caFile?: string;
  /** CA bundle as a PEM string, instead of `caFile`. */
  ca?: string;
  /** Skip verifying the server's certificate. Bun only (Deno always verifies). @default {false} */
  insecure?: boolean;
}

/** Options for {@linkcode QuicProtocol}. */
export interface QuicProtocolOptions extends Partial<Omit<QuicTransportOptions, "alpnProtocols">> {
  /** The runtime adapter to use. @default {the adapter for the running runtime} */
  runtime?: Runtime;
  /** How to listen; a certificate is required by {@linkcode QuicProtocol.listen}. */
  server?: QuicServerOptions;
  /** How to dial. @default {verify against the runtime's roots} */
  client?: QuicClientOptions;
  /**
   * ALPN protocols, most preferred first, for both sides. A Bun client offers only the first.
   * @default {["ts-tunnel-quic"]}
   */
  alpnProtocols?: readonly string[];
}

function fail(message: string): never {
  throw new TypeError(`Cannot create the quic protocol: ${message}`);
}

function checkOptions(options: QuicProtocolOptions): void {
  const s = options.server ?? {};
  if (s.certFile !== undefined && s.cert !== undefined) fail('set "server.certFile" or "server.cert", not both');
  if (s.keyFile !== undefined && s.key !== undefined) fail('set "server.keyFile" or "server.key", not both');
  if ((s.certFile ?? s.cert) !== undefined && (s.keyFile ?? s.key) === undefined) {
    fail('"server.certFile" needs a key: set "server.keyFile"');
  }
  if ((s.keyFile ?? s.key) !== undefined && (s.certFile ?? s.cert) === undefined) {
    fail('"server.keyFile" needs a certificate: set "server.certFile"');
  }
  const c = options.client ?? {};
  if (c.caFile !== undefined && c.ca !== undefined) fail('set "client.caFile" or "client.ca", not both');
  const alpn = options.alpnProtocols ?? DEFAULT_QUIC_ALPN_PROTOCOLS;
  if (alpn.length === 0) fail('"alpnProtocols" needs at least one protocol: QUIC requires ALPN');
  for (const p of alpn) {
    const bytes = typeof p === "string" ? new TextEncoder().encode(p).byteLength : 0;
    if (bytes === 0 || bytes > 255) {
      fail(`each of "alpnProtocols" must be a name of 1 to 255 bytes: current value is ${JSON.stringify(p)}`);
    }
  }
  const positive = ["maxIdleTimeoutMs", "maxConcurrentBidiStreams"] as const;
  const nonNegative = ["keepAliveIntervalMs", "udpReceiveBufferBytes"] as const;
  for (const key of [...positive, ...nonNegative]) {
    const value = options[key];
    const min = (positive as readonly string[]).includes(key) ? 1 : 0;
    if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
      throw new RangeError(
        `Cannot create the quic protocol as '${key}' must be ${
          min ? "a positive" : "a non-negative"
        } integer: current value is ${value}`,
      );
    }
  }
  const cc = options.congestionControl;
  if (cc !== undefined && !QUIC_CONGESTION_CONTROLS.includes(cc)) {
    throw new RangeError(
      `Cannot create the quic protocol as 'congestionControl' must be one of ${
        QUIC_CONGESTION_CONTROLS.map((name) => `"${name}"`).join(", ")
      }: current value is ${JSON.stringify(cc)}`,
    );
  }
  const handshake = s.handshakeTimeoutMs;
  if (handshake !== undefined && !(Number.isInteger(handshake) && handshake > 0)) {
    throw new RangeError(
      `Cannot create the quic protocol as 'server.handshakeTimeoutMs' must be a positive integer: current value is ${handshake}`,
    );
  }
}

/**
 * QUIC with one forwarded connection per bidirectional stream. `listen()` yields every stream of
 * every accepted connection (go-tunnel forwarded only the first); `dial()` opens a stream on a
 * cached connection to the target, so TCP in and QUIC out works, and QUIC in and TCP out.
 *
 * The UDP receive buffer of each endpoint is raised to 4 MiB (`udpReceiveBufferBytes`) so bursts
 * of handshakes are not dropped; that needs FFI (Deno: `--allow-ffi`) and is skipped otherwise
 * (see `listener.receiveBuffer`). Deno needs `--unstable-net`; Bun uses its experimental `node:quic`.
 *
 * @example Expose a QUIC listener and dial it
 * ```ts ignore
 * import { QuicProtocol } from "@ts-tunnel/tunnel/protocols";
 * const quic = new QuicProtocol({
 *   server: { certFile: "fullchain.pem", keyFile: "key.pem" },
 *   client: { caFile: "ca.pem", serverName: "localhost" },
 * });
 * await using listener = await quic.listen({ hostname: "127.0.0.1", port: 4433 });
 * const stream = await quic.dial({ hostname: "127.0.0.1", port: 4433 }, { timeoutMs: 5_000 });
 * ```
 */
export class QuicProtocol implements Protocol, AsyncDisposable {
  /** Always `"quic"`. */
  readonly name = "quic" as const;
  readonly #runtime: Promise<Runtime>;
  readonly #options: QuicProtocolOptions;
  readonly #alpn: readonly string[];
  readonly #connections = new Map<string, Promise<QuicConnection>>();
  #caCerts?: Promise<string[] | undefined>;

  /**
   * Creates the protocol; files are read when listening or dialing.
   *
   * @param options The runtime, the server and client settings, ALPN and transport settings.
   * @throws {TypeError} For conflicting or incomplete options (e.g. `certFile` without `keyFile`).
   * @throws {RangeError} For a bad number, or a `congestionControl` that is not one of
   * `"default"`, `"throughput"`, `"low-latency"`.
   */
  constructor(options: QuicProtocolOptions = {}) {
    checkOptions(options);
    this.#options = options;
    this.#alpn = [...(options.alpnProtocols ?? DEFAULT_QUIC_ALPN_PROTOCOLS)];
    this.#runtime = options.runtime ? Promise.resolve(options.runtime) : defaultRuntime();
  }

  #transport(): Omit<QuicTransportOptions, "alpnProtocols"> {
    const {
      maxIdleTimeoutMs = DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
      keepAliveIntervalMs = DEFAULT_QUIC_KEEP_ALIVE_INTERVAL_MS,
      maxConcurrentBidiStreams = DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
      udpReceiveBufferBytes = DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES,
      congestionControl = "default",
    } = this.#options;
    return {
      maxIdleTimeoutMs,
      keepAliveIntervalMs,
      maxConcurrentBidiStreams,
      udpReceiveBufferBytes,
      congestionControl,
    };
  }

  async #quicRuntime(): Promise<Required<Pick<Runtime, "listenQuic" | "connectQuic">> & Runtime> {
    const runtime = await this.#runtime;
    if (!runtime.listenQuic || !runtime.connectQuic) {
      throw new UnsupportedProtocolError("quic", `the "${runtime.name}" runtime adapter has no QUIC support`);
    }
    return runtime as Required<Pick<Runtime, "listenQuic" | "connectQuic">> & Runtime;
  }

  /**
   * Binds a UDP endpoint and accepts QUIC connections; yields each of their bidirectional streams.
   *
   * @param addr Where to listen; no hostname means every interface.
   * @param options Cancellation (socket options do not apply to QUIC).
   * @returns The listener; `close()` drains, `closeNow()` closes at once.
   * @throws {TypeError} If no server certificate is configured.
   * @throws {Error} If the certificate or key is unreadable or invalid (the message names it).
   * @throws {UnsupportedProtocolError} When the runtime has no QUIC.
   * @throws {NetError} EADDRINUSE and the like.
   */
  async listen(addr: ListenAddr, options: ListenOptions = {}): Promise<QuicStreamListener> {
    const server = this.#options.server;
    if (!server || (server.certFile === undefined && server.cert === undefined)) {
      throw new TypeError(
        'Cannot listen over quic: set "server.certFile" and "server.keyFile" (or "server.cert" and "server.key")',
      );
    }
    const runtime = await this.#quicRuntime();
    const pair = await loadKeyPair(server);
    options.signal?.throwIfAborted();
    const listener = await runtime.listenQuic({
      hostname: addr.hostname,
      port: addr.port,
      cert: pair.cert,
      key: pair.key,
      alpnProtocols: this.#alpn,
      signal: options.signal,
      ...this.#transport(),
    });
    return new QuicStreamListenerImpl(listener, {
      handshakeTimeoutMs: server.handshakeTimeoutMs ?? DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
      onHandshakeError: server.onHandshakeError,
    });
  }

  #ca(): Promise<string[] | undefined> {
    const client = this.#options.client ?? {};
    if (client.caFile === undefined && client.ca === undefined) return Promise.resolve(undefined);
    const pending = loadCa({ file: client.caFile, pem: client.ca }, "CA bundle").then((pem) => [pem]);
    pending.catch(() => this.#caCerts = undefined); // a fixed file is read again on the next dial
    return this.#caCerts = pending;
  }

  /** The cached connection to `addr`, or a new one (shared by concurrent dials). */
  #connection(addr: DialAddr, timeoutMs: number): Promise<QuicConnection> {
    const key = formatAddr(addr);
    const cached = this.#connections.get(key);
    if (cached) return cached;
    const pending = (async () => {
      const runtime = await this.#quicRuntime();
      const caCerts = await (this.#caCerts ?? this.#ca());
      const client = this.#options.client ?? {};
      const conn = await runtime.connectQuic({
        hostname: addr.hostname,
        port: addr.port,
        serverName: client.serverName,
        caCerts,
        insecure: client.insecure === true,
        alpnProtocols: this.#alpn,
        timeoutMs,
        ...this.#transport(),
      });
      void conn.closed.then(() => {
        if (this.#connections.get(key) === pending) this.#connections.delete(key);
      });
      return conn;
    })();
    this.#connections.set(key, pending);
    pending.catch(() => {
      if (this.#connections.get(key) === pending) this.#connections.delete(key);
    });
    return pending;
  }

  /**
   * Opens a bidirectional stream to `addr`, on the cached QUIC connection to it (connecting, or
   * reconnecting once when the cached one turns out to be gone).
   *
   * @param addr The server.
   * @param options Cancellation and a deadline covering the connect and the wait for stream credit.
   * @returns The stream, as a conn.
   * @throws {NetError} EHANDSHAKE (untrusted certificate, no common ALPN), ETIMEDOUT, ENOTFOUND, ECLOSED.
   * @throws {UnsupportedQuicOptionError} For an option this runtime cannot honour (`insecure` on Deno).
   */
  async dial(addr: DialAddr, options: DialOptions = {}): Promise<Conn> {
    const { signal, timeoutMs } = options;
    signal?.throwIfAborted();
    const deadline = new AbortController();
    const timer = timeoutMs !== undefined && timeoutMs > 0
      ? setTimeout(
        () => deadline.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError")),
        timeoutMs,
      )
      : undefined;
    const both = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
    try {
      for (let attempt = 1;; attempt++) {
        const pending = this.#connection(addr, timeoutMs ?? DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS);
        const conn = await raceAbort(pending, both); // the shared attempt carries on for others
        try {
          return await conn.openStream({ signal: both });
        } catch (error) {
          // The cached connection died under us (idle timeout, peer closed): connect again, once.
          if (attempt === 1 && conn.closeInfo !== undefined && !both.aborted) {
            const key = formatAddr(addr);
            if (this.#connections.get(key) === pending) this.#connections.delete(key);
            continue;
          }
          throw error;
        }
      }
    } catch (error) {
      if (isCancellation(error, signal)) throw error;
      if (error === deadline.signal.reason) {
        throw new NetError(
          "ETIMEDOUT",
          `Cannot dial "${formatAddr(addr)}" over quic: timed out after ${timeoutMs} ms`,
          {
            op: "dial",
            protocol: "quic",
            remoteAddr: netAddr(addr.hostname, addr.port, "udp"),
            cause: error,
          },
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every cached client connection (CONNECTION_CLOSE, code 0); later dials connect again. */
  close(): void {
    const all = [...this.#connections.values()];
    this.#connections.clear();
    for (const pending of all) pending.then((conn) => conn.close(), () => {});
  }

  /** Closes the cached client connections and waits until they are gone. */
  async [Symbol.asyncDispose](): Promise<void> {
    const all = [...this.#connections.values()];
    this.close();
    await Promise.allSettled(all.map((pending) => pending.then((conn) => conn.closed)));
  }
}
