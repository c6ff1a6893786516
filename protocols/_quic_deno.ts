/**
 * Internal: QUIC on Deno (`Deno.QuicEndpoint`, `Deno.connectQuic`, under `--unstable-net`), behind
 * the runtime-neutral backends. Deno's objects arrive from the adapter typed by shape, so this file
 * never names the runtime global.
 *
 * Deno 2.9 limits, measured: reading any property of a `QuicIncoming` (`remoteAddr`, `localIp`)
 * invalidates it (the following `accept()` throws `BadResource`), so the peer's address is known
 * only after the handshake; a send stream cannot be reset (closing or aborting its writable sends
 * FIN), so an abortive close shows up at the peer as STOP_SENDING only; `closed` rejects with
 * `Error("timed out")` on an idle timeout; there is no way to know that sent data was acknowledged.
 * @module
 */
import { isCancellation } from "./_abort.ts";
import { QuicConnectionImpl } from "./_quic_connection.ts";
import {
  codeOf,
  DenoConnectionBackend,
  DenoListenerBackend,
  type DenoQuicApi,
  type DenoQuicEndpointLike,
  type DenoTransportLike,
  toNetAddr,
} from "./_quic_deno_session.ts";
import { DenoListenSocket, socketKey, takeParkedSocket } from "./_quic_deno_socket.ts";
import { type EndpointLease, SharedEndpoints } from "./_quic_endpoints.ts";
import { checkAlpn, quicHandshakeError } from "./_quic_handshake.ts";
import { QuicListenerImpl } from "./_quic_listener.ts";
import { raiseUdpReceiveBuffer } from "./_quic_rcvbuf.ts";
import { withHandshakeDeadline } from "./_tls_handshake.ts";
import { ANY_HOST, ANY_HOST_V4, formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, UnsupportedProtocolError, UnsupportedQuicOptionError } from "./errors.ts";
import {
  DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
  DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
  DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES,
  type QuicConnection,
  type QuicConnectOptions,
  type QuicListener,
  type QuicListenOptions,
  type QuicTransportOptions,
} from "./quic_types.ts";

export type { DenoQuicApi, DenoQuicConnLike, DenoQuicEndpointLike } from "./_quic_deno_session.ts";

/** Why QUIC is unavailable when Deno runs without the unstable net APIs. */
export const NO_UNSTABLE_NET = 'Deno\'s QUIC API needs --unstable-net (or "unstable": ["net"] in deno.json)';
const NO_INSECURE =
  "Deno's connectQuic always verifies the server's certificate; pass the server's CA (caCerts) instead";
function transport(options: QuicTransportOptions): DenoTransportLike {
  const {
    maxIdleTimeoutMs = DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
    keepAliveIntervalMs = 0,
    maxConcurrentBidiStreams = DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
    congestionControl = "default",
  } = options;
  return {
    maxIdleTimeout: maxIdleTimeoutMs,
    ...(keepAliveIntervalMs > 0 ? { keepAliveInterval: keepAliveIntervalMs } : {}),
    maxConcurrentBidirectionalStreams: maxConcurrentBidiStreams,
    ...(congestionControl === "default" ? {} : { congestionControl }),
  };
}

function unsupported(): UnsupportedProtocolError {
  return new UnsupportedProtocolError("quic", NO_UNSTABLE_NET);
}

function bind(api: DenoQuicApi, hostname: string, port: number): DenoQuicEndpointLike {
  try {
    return api.createEndpoint({ hostname, port });
  } catch (error) {
    const localAddr = netAddr(hostname, port, "udp");
    const code = codeOf(api, error);
    const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
    throw new NetError(code, `Cannot listen on "${formatAddr(localAddr)}" over quic: ${detail}`, {
      op: "listen",
      protocol: "quic",
      localAddr,
      cause: error,
    });
  }
}

/**
 * `Runtime.listenQuic` on Deno.
 *
 * @param api Deno's QUIC entry points, or `undefined` without `--unstable-net`.
 * @param options Where and how to listen.
 * @returns The listener, once bound (with its receive buffer raised).
 */
export async function listenDenoQuic(api: DenoQuicApi | undefined, options: QuicListenOptions): Promise<QuicListener> {
  if (!api) throw unsupported();
  checkAlpn("listen", options.alpnProtocols);
  options.signal?.throwIfAborted();
  const open = (hostname: string): DenoListenSocket => {
    const parked = options.port === 0 ? undefined : takeParkedSocket(socketKey(hostname, options.port));
    if (parked) return parked;
    const endpoint = bind(api, hostname, options.port);
    return new DenoListenSocket(endpoint, socketKey(hostname, endpoint.addr.port));
  };
  let socket: DenoListenSocket;
  if (options.hostname) {
    socket = open(options.hostname);
  } else {
    try {
      socket = open(ANY_HOST);
    } catch (error) {
      if (!(error instanceof NetError && (error.code === "EADDRNOTAVAIL" || error.code === "EUNKNOWN"))) throw error;
      socket = open(ANY_HOST_V4);
    }
  }
  try {
    socket.listen({
      cert: options.cert,
      key: options.key,
      alpnProtocols: [...options.alpnProtocols],
      ...transport(options),
    });
    const receiveBuffer = await raiseUdpReceiveBuffer(
      socket.endpoint.addr,
      options.udpReceiveBufferBytes ?? DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES,
    );
    return new QuicListenerImpl(new DenoListenerBackend(api, socket), receiveBuffer);
  } catch (error) {
    socket.park();
    const localAddr = toNetAddr(socket.endpoint.addr);
    throw new NetError(
      "EUNKNOWN",
      `Cannot listen on "${formatAddr(localAddr)}" over quic: ${error instanceof Error ? error.message : error}`,
      { op: "listen", protocol: "quic", localAddr, cause: error },
    );
  }
}

const clientEndpoints = new SharedEndpoints<DenoQuicEndpointLike>((endpoint) => {
  try {
    endpoint.close();
  } catch { /* already closed */ }
});

/** A dual-stack client endpoint (IPv4 and IPv6 targets), or an IPv4 one where IPv6 is missing. */
function clientEndpoint(api: DenoQuicApi): DenoQuicEndpointLike {
  try {
    return api.createEndpoint({ hostname: ANY_HOST, port: 0 });
  } catch {
    return api.createEndpoint({ hostname: ANY_HOST_V4, port: 0 });
  }
}

/**
 * `Runtime.connectQuic` on Deno: dials from a shared client endpoint (its receive buffer raised
 * once) and resolves after the handshake.
 *
 * @param api Deno's QUIC entry points, or `undefined` without `--unstable-net`.
 * @param options The server, trust, ALPN, transport settings and deadline.
 * @returns The connection.
 */
export async function connectDenoQuic(
  api: DenoQuicApi | undefined,
  options: QuicConnectOptions,
): Promise<QuicConnection> {
  if (!api) throw unsupported();
  checkAlpn("dial", options.alpnProtocols);
  if (options.insecure) throw new UnsupportedQuicOptionError("insecure", "deno", NO_INSECURE);
  const { signal, timeoutMs = DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS } = options;
  signal?.throwIfAborted();
  const remoteAddr = netAddr(options.hostname, options.port, "udp");
  const bytes = options.udpReceiveBufferBytes ?? DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES;
  let lease: EndpointLease<DenoQuicEndpointLike>;
  try {
    lease = clientEndpoints.acquire(`any/${bytes}`, () => clientEndpoint(api));
  } catch (error) {
    throw new NetError(codeOf(api, error), `Cannot dial "${formatAddr(remoteAddr)}" over quic: ${error}`, {
      op: "dial",
      protocol: "quic",
      remoteAddr,
      cause: error,
    });
  }
  const endpoint = lease.endpoint;
  let cancelled = false;
  try {
    const receiveBuffer = await lease.receiveBuffer(() => raiseUdpReceiveBuffer(endpoint.addr, bytes));
    const pending = api.connect({
      hostname: options.hostname,
      port: options.port,
      serverName: options.serverName,
      caCerts: options.caCerts ? [...options.caCerts] : undefined,
      alpnProtocols: [...options.alpnProtocols],
      endpoint,
      ...transport(options),
    });
    pending.then((conn) => {
      conn.closed.catch(() => {});
      if (cancelled) conn.close({ closeCode: 0, reason: "connect abandoned" });
    }, () => {});
    const conn = await withHandshakeDeadline(pending, () => cancelled = true, { signal, timeoutMs });
    return new QuicConnectionImpl(new DenoConnectionBackend(api, conn), receiveBuffer, () => lease.release());
  } catch (error) {
    cancelled = true;
    lease.release();
    if (isCancellation(error, signal)) throw error;
    const code = codeOf(api, error);
    if (code === "ENOTFOUND" || code === "EADDRNOTAVAIL" || code === "EACCES") {
      throw new NetError(code, `Cannot dial "${formatAddr(remoteAddr)}" over quic: ${NET_ERROR_TEXT[code]}`, {
        op: "dial",
        protocol: "quic",
        remoteAddr,
        cause: error,
      });
    }
    throw quicHandshakeError(code === "ETIMEDOUT" ? new DOMException("timed out", "TimeoutError") : error, {
      side: "dial",
      remoteAddr,
      signal,
      timeoutMs,
    });
  }
}
