/**
 * Internal: QUIC on Bun through its experimental `node:quic` (Bun 1.4), behind the runtime-neutral
 * backends. Imported only by the Bun adapter; `node:quic` itself is loaded on first use (importing
 * it prints Node's ExperimentalWarning once).
 *
 * Bun 1.4.5 facts this relies on (measured): `writer.writeSync` keeps a reference to the chunk
 * until the peer acknowledges it (so chunks are copied first); `writer.write` throws instead of
 * waiting when the buffer is full (so writes wait on `Stream.drainableProtocol`); a client offers a
 * single ALPN protocol; `session.path` must not be read before the handshake (it caches
 * `undefined`); `transportParams.maxIdleTimeout` is in seconds and `keepAlive` in milliseconds; an
 * endpoint binds on first use and one bound to `::` does not reach IPv4 peers; a listening
 * endpoint accepts 100 connections per host unless told otherwise.
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey } from "node:crypto";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { isCancellation } from "./_abort.ts";
import {
  BunConnectionBackend,
  BunIncomingBackend,
  BunListenerBackend,
  codeOf,
  destroyQuietly,
  type NodeQuic,
  type QuicEndpointLike,
  type QuicErrorLike,
  type QuicSessionLike,
  toNetAddr,
} from "./_quic_bun_session.ts";
import { QuicConnectionImpl } from "./_quic_connection.ts";
import { type EndpointFamily, type EndpointLease, SharedEndpoints } from "./_quic_endpoints.ts";
import { checkAlpn, quicHandshakeError } from "./_quic_handshake.ts";
import { QuicListenerImpl } from "./_quic_listener.ts";
import { raiseUdpReceiveBuffer } from "./_quic_rcvbuf.ts";
import { withHandshakeDeadline } from "./_tls_handshake.ts";
import { ANY_HOST, ANY_HOST_V4, formatAddr, netAddr } from "./address.ts";
import { NET_ERROR_TEXT, NetError, UnsupportedProtocolError } from "./errors.ts";
import {
  DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
  DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
  DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES,
  type QuicCongestionControl,
  type QuicConnection,
  type QuicConnectOptions,
  type QuicListener,
  type QuicListenOptions,
  type QuicTransportOptions,
} from "./quic_types.ts";

let loading: Promise<NodeQuic> | undefined;

/** Loads `node:quic` once (a variable specifier: Deno's type check has no types for it). */
function nodeQuic(): Promise<NodeQuic> {
  const specifier = "node:quic";
  loading ??= (import(specifier) as Promise<NodeQuic>).catch((error) => {
    loading = undefined;
    throw new UnsupportedProtocolError(
      "quic",
      `this Bun has no node:quic (it ships experimentally from Bun 1.4): ${
        error instanceof Error ? error.message : error
      }`,
    );
  });
  return loading;
}

/** Connections a listening endpoint accepts per peer host and in total (`node:quic` defaults to 100 per host). */
const MAX_CONNECTIONS = 65_535;
/**
 * Initial flow-control window of every bidirectional stream, in bytes, the same for locally and
 * peer-initiated ones. Bun 1.4.5 mixes the two parameters up for streams the peer opened (measured:
 * `...BidiLocal` above `...BidiRemote` ends server-initiated streams with "flow control violation",
 * below it stalls them), so both are set alike. Windows grow from here as the reader keeps up.
 */
const STREAM_WINDOW_BYTES = 256 * 1024;

/** Largest DATAGRAM frame we accept (RFC 9221 `max_datagram_frame_size`); node:quic takes none without it. */
const MAX_DATAGRAM_FRAME_BYTES = 65_535;

/**
 * Bidirectional streams Bun 1.4.5's `node:quic` lets the peer have open at once, whatever
 * `initialMaxStreamsBidi` advertises: advertising more lets the peer open stream 101, and the
 * session then aborts ("incoming stream 401 exceeds allowed max of 400"). So Bun never advertises
 * more; further streams wait for credit on the opening side.
 */
const BUN_MAX_INCOMING_BIDI_STREAMS = 100;

/**
 * Fewest incoming bidirectional streams a Bun dialer advertises: Bun 1.4.5's `node:quic` client
 * returns stream credit (MAX_STREAMS) only once 50 of the peer's streams have ended, so a smaller
 * limit stalls the connection for good after that many streams.
 */
const BUN_MIN_DIALER_BIDI_STREAMS = 50;

/** `node:quic`'s `cc` for each {@linkcode QuicCongestionControl} (`default` sets none: ngtcp2's CUBIC). */
const BUN_CONGESTION_CONTROL: Record<Exclude<QuicCongestionControl, "default">, string> = {
  "low-latency": "bbr",
  throughput: "cubic",
};

function transport(options: QuicTransportOptions): Record<string, unknown> {
  const {
    maxIdleTimeoutMs = DEFAULT_QUIC_MAX_IDLE_TIMEOUT_MS,
    keepAliveIntervalMs = 0,
    maxConcurrentBidiStreams = DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
    congestionControl = "default",
  } = options;
  return {
    ...(congestionControl === "default" ? {} : { cc: BUN_CONGESTION_CONTROL[congestionControl] }),
    transportParams: {
      maxIdleTimeout: Math.max(1, Math.ceil(maxIdleTimeoutMs / 1000)), // seconds in node:quic
      initialMaxStreamsBidi: Math.min(maxConcurrentBidiStreams, BUN_MAX_INCOMING_BIDI_STREAMS),
      initialMaxStreamDataBidiLocal: STREAM_WINDOW_BYTES,
      initialMaxStreamDataBidiRemote: STREAM_WINDOW_BYTES,
      initialMaxStreamDataUni: STREAM_WINDOW_BYTES,
      maxDatagramFrameSize: MAX_DATAGRAM_FRAME_BYTES,
    },
    ...(keepAliveIntervalMs > 0 ? { keepAlive: keepAliveIntervalMs } : {}),
  };
}

function socketAddress(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * `Runtime.listenQuic` on Bun.
 *
 * @param options Where and how to listen.
 * @returns The listener, once bound (with its receive buffer raised).
 */
export async function listenBunQuic(options: QuicListenOptions): Promise<QuicListener> {
  const quic = await nodeQuic();
  checkAlpn("listen", options.alpnProtocols);
  options.signal?.throwIfAborted();
  const bytes = options.udpReceiveBufferBytes ?? DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES;
  const queue: BunIncomingBackend[] = [];
  const route: { push(incoming: BunIncomingBackend): void } = { push: (incoming) => void queue.push(incoming) }; // until the backend exists
  let privateKey;
  try {
    privateKey = createPrivateKey(options.key);
  } catch (error) {
    throw new TypeError(`Cannot listen over quic: the private key does not parse: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const sni = { "*": { keys: [privateKey], certs: [Buffer.from(options.cert)] } };
  const listen = async (hostname: string) => {
    try {
      return await quic.listen((session) => {
        route.push(new BunIncomingBackend(session));
      }, {
        sni,
        alpn: [...options.alpnProtocols],
        endpoint: {
          address: socketAddress(hostname, options.port),
          ...(hostname === ANY_HOST ? { ipv6Only: false } : {}),
          maxConnectionsPerHost: MAX_CONNECTIONS,
          maxConnectionsTotal: MAX_CONNECTIONS,
          ...(bytes > 0 ? { udpReceiveBufferSize: bytes } : {}),
        },
        ...transport(options),
      });
    } catch (error) {
      if ((error as QuicErrorLike).code === "ERR_INVALID_ARG_VALUE") {
        throw new TypeError(`Cannot listen over quic: ${(error as Error).message}`, { cause: error });
      }
      const localAddr = netAddr(hostname, options.port, "udp");
      const code = codeOf(error);
      const detail = code === "EUNKNOWN" && error instanceof Error ? error.message : NET_ERROR_TEXT[code];
      throw new NetError(code, `Cannot listen on "${formatAddr(localAddr)}" over quic: ${detail}`, {
        op: "listen",
        protocol: "quic",
        localAddr,
        cause: error,
      });
    }
  };
  let endpoint: QuicEndpointLike;
  if (options.hostname) {
    endpoint = await listen(options.hostname);
  } else {
    try {
      endpoint = await listen(ANY_HOST);
    } catch {
      endpoint = await listen(ANY_HOST_V4);
    }
  }
  const backend = new BunListenerBackend(endpoint, queue);
  route.push = (incoming) => backend.push(incoming);
  const receiveBuffer = await raiseUdpReceiveBuffer(backend.addr, bytes);
  return new QuicListenerImpl(backend, receiveBuffer);
}

const clientEndpoints = new SharedEndpoints<QuicEndpointLike>((endpoint) => void endpoint.destroy().catch(() => {}));

function clientEndpoint(quic: NodeQuic, family: EndpointFamily, bytes: number): QuicEndpointLike {
  return new quic.QuicEndpoint({
    address: family === "ipv6" ? "[::]:0" : "0.0.0.0:0",
    ...(bytes > 0 ? { udpReceiveBufferSize: bytes } : {}),
  });
}

async function resolve(hostname: string): Promise<{ address: string; family: EndpointFamily }> {
  const literal = isIP(hostname);
  if (literal) return { address: hostname, family: literal === 6 ? "ipv6" : "ipv4" };
  const found = await lookup(hostname);
  return { address: found.address, family: found.family === 6 ? "ipv6" : "ipv4" };
}

/**
 * `Runtime.connectQuic` on Bun: dials from a shared client endpoint per address family (its
 * receive buffer raised once) and resolves after the handshake.
 *
 * @param options The server, trust, ALPN, transport settings and deadline.
 * @returns The connection.
 */
export async function connectBunQuic(options: QuicConnectOptions): Promise<QuicConnection> {
  const quic = await nodeQuic();
  checkAlpn("dial", options.alpnProtocols);
  const { signal, timeoutMs = DEFAULT_QUIC_HANDSHAKE_TIMEOUT_MS } = options;
  signal?.throwIfAborted();
  const remoteAddr = netAddr(options.hostname, options.port, "udp");
  let target: { address: string; family: EndpointFamily };
  try {
    target = await resolve(options.hostname);
  } catch (error) {
    throw new NetError("ENOTFOUND", `Cannot dial "${formatAddr(remoteAddr)}" over quic: ${NET_ERROR_TEXT.ENOTFOUND}`, {
      op: "dial",
      protocol: "quic",
      remoteAddr,
      cause: error,
    });
  }
  const bytes = options.udpReceiveBufferBytes ?? DEFAULT_QUIC_UDP_RECEIVE_BUFFER_BYTES;
  let lease: EndpointLease<QuicEndpointLike>;
  try {
    lease = clientEndpoints.acquire(`${target.family}/${bytes}`, () => clientEndpoint(quic, target.family, bytes));
  } catch (error) {
    throw new NetError(
      codeOf(error),
      `Cannot dial "${formatAddr(remoteAddr)}" over quic: ${(error as Error).message}`,
      {
        op: "dial",
        protocol: "quic",
        remoteAddr,
        cause: error,
      },
    );
  }
  let session: QuicSessionLike | undefined;
  let cancelled = false;
  try {
    const run = async () => {
      const opened = await quic.connect(socketAddress(target.address, options.port), {
        alpn: options.alpnProtocols[0], // node:quic clients offer one protocol
        servername: options.serverName ?? options.hostname,
        ...(options.caCerts?.length ? { ca: options.caCerts.map((pem) => Buffer.from(pem)) } : {}),
        verifyPeer: options.insecure ? "manual" : "auto",
        endpoint: lease.endpoint,
        ...transport({
          ...options,
          maxConcurrentBidiStreams: Math.max(
            options.maxConcurrentBidiStreams ?? DEFAULT_QUIC_MAX_CONCURRENT_BIDI_STREAMS,
            BUN_MIN_DIALER_BIDI_STREAMS,
          ),
        }),
      });
      session = opened;
      opened.closed.catch(() => {});
      opened.opened.catch(() => {});
      const early = BunConnectionBackend.streamBuffer(opened);
      if (cancelled) destroyQuietly(opened);
      const [info, receiveBuffer] = await Promise.all([
        opened.opened,
        lease.receiveBuffer(() => raiseUdpReceiveBuffer(toNetAddr(lease.endpoint.address), bytes)),
      ]);
      return { backend: new BunConnectionBackend(opened, info, early), receiveBuffer };
    };
    const { backend, receiveBuffer } = await withHandshakeDeadline(run(), () => {
      cancelled = true;
      if (session) destroyQuietly(session);
    }, { signal, timeoutMs });
    return new QuicConnectionImpl(backend, receiveBuffer, () => lease.release());
  } catch (error) {
    cancelled = true;
    if (session) {
      destroyQuietly(session);
      session.closed.then(() => lease.release(), () => lease.release());
    } else {
      lease.release();
    }
    if (isCancellation(error, signal)) throw error;
    throw quicHandshakeError(error, { side: "dial", remoteAddr, signal, timeoutMs });
  }
}
